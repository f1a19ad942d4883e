package config

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"
)

// SMIMESigner loads the certificate and key of HELPMESH_SMIME_CERT and
// HELPMESH_SMIME_KEY that alarm mail is signed with: nil when neither is
// set. It is an error when only one is set, a file is missing or holds no
// PEM, the key does not match the certificate, the key is neither RSA nor
// ECDSA, the certificate is not valid at now, or its extended key usage
// leaves out email protection.
func (c *Config) SMIMESigner(now time.Time) (*tls.Certificate, error) {
	if c.SMIMECert == "" && c.SMIMEKey == "" {
		return nil, nil
	}
	if c.SMIMECert == "" || c.SMIMEKey == "" {
		return nil, errors.New("set both HELPMESH_SMIME_CERT and HELPMESH_SMIME_KEY or neither")
	}
	kp, err := tls.LoadX509KeyPair(c.SMIMECert, c.SMIMEKey)
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", c.SMIMECert, c.SMIMEKey, err)
	}
	cert := kp.Leaf
	if cert == nil {
		if cert, err = x509.ParseCertificate(kp.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", c.SMIMECert, err)
		}
		kp.Leaf = cert
	}
	switch kp.PrivateKey.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
	default:
		return nil, fmt.Errorf("%s: a %T key cannot sign S/MIME here; use RSA or ECDSA", c.SMIMEKey, kp.PrivateKey)
	}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	switch {
	case now.After(cert.NotAfter):
		return nil, fmt.Errorf("%s: the certificate of %q expired on %s", c.SMIMECert, cert.Subject, ts(cert.NotAfter))
	case now.Before(cert.NotBefore):
		return nil, fmt.Errorf("%s: the certificate of %q is not valid before %s", c.SMIMECert, cert.Subject, ts(cert.NotBefore))
	}
	if len(cert.ExtKeyUsage) > 0 && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageEmailProtection) && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return nil, fmt.Errorf("%s: the certificate of %q is not for email protection (extended key usage)", c.SMIMECert, cert.Subject)
	}
	return &kp, nil
}

// validateSMIME reports through bad what SMIMESigner refuses.
func (c *Config) validateSMIME(bad func(name, format string, a ...any)) {
	if _, err := c.SMIMESigner(time.Now()); err != nil {
		bad("HELPMESH_SMIME_CERT/HELPMESH_SMIME_KEY", "%v", err)
	}
}
