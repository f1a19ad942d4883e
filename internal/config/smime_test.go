package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate of key, valid from notBefore
// to notAfter with the extended key usages eku, and key itself, as PEM
// files in dir; it returns their paths.
func writeCert(t *testing.T, dir, name string, key crypto.Signer, notBefore, notAfter time.Time, eku ...x509.ExtKeyUsage) (certPath, keyPath string) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "helpdesk@example.org"},
		NotBefore: notBefore, NotAfter: notAfter, ExtKeyUsage: eku, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// TestSMIMESigner: a good certificate and key load; one of the two alone,
// a missing file, a file without PEM, a key of another certificate, an
// expired or not yet valid certificate, an Ed25519 key and a certificate
// only for TLS servers are start-up errors naming the variables.
func TestSMIMESigner(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	newKey := func() crypto.Signer {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	goodCert, goodKey := writeCert(t, dir, "good", newKey(), now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageEmailProtection)
	_, otherKey := writeCert(t, dir, "other", newKey(), now.Add(-time.Hour), now.Add(time.Hour))
	expiredCert, expiredKey := writeCert(t, dir, "expired", newKey(), now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	futureCert, futureKey := writeCert(t, dir, "future", newKey(), now.Add(24*time.Hour), now.Add(48*time.Hour))
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edCert, edKey := writeCert(t, dir, "ed25519", edPriv, now.Add(-time.Hour), now.Add(time.Hour))
	tlsCert, tlsKey := writeCert(t, dir, "tls", newKey(), now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageServerAuth)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	c, err := loadEnv(t, map[string]string{"HELPMESH_SMIME_CERT": goodCert, "HELPMESH_SMIME_KEY": goodKey})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := c.SMIMESigner(now)
	if err != nil || kp == nil || kp.Leaf.Subject.CommonName != "helpdesk@example.org" {
		t.Fatalf("good pair: %v %v", kp, err)
	}
	if kp, err := (&Config{}).SMIMESigner(now); kp != nil || err != nil {
		t.Errorf("unset: %v %v, want nothing", kp, err)
	}

	for name, tc := range map[string]struct{ cert, key, want string }{
		"cert only":     {goodCert, "", "set both"},
		"key only":      {"", goodKey, "set both"},
		"missing":       {filepath.Join(dir, "nope.crt"), goodKey, "no such file"},
		"not PEM cert":  {notPEM, goodKey, "PEM"},
		"not PEM key":   {goodCert, notPEM, "PEM"},
		"other key":     {goodCert, otherKey, "does not match"},
		"expired":       {expiredCert, expiredKey, "expired on"},
		"not yet valid": {futureCert, futureKey, "not valid before"},
		"ed25519":       {edCert, edKey, "use RSA or ECDSA"},
		"tls only":      {tlsCert, tlsKey, "not for email protection"},
	} {
		_, err := loadEnv(t, map[string]string{"HELPMESH_SMIME_CERT": tc.cert, "HELPMESH_SMIME_KEY": tc.key})
		if err == nil || !strings.Contains(err.Error(), "HELPMESH_SMIME_CERT/HELPMESH_SMIME_KEY: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}
