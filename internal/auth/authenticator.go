package auth

import (
	"context"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
)

// Authenticator finds the principal of a request from a credential other
// than a bearer token or a web session (a session cookie on the API, a
// client certificate, a trusted proxy's DN header). It returns nil, nil
// when the request carries no such credential. The API and the web portal
// try their Authenticators in order.
type Authenticator func(r *http.Request) (*Principal, error)

// CertificateOwners finds the person who registered a certificate subject
// DN (the user store implements it); an unknown DN is apperr.Unauthorized.
type CertificateOwners interface {
	PrincipalByCertificate(ctx context.Context, dn string) (*Principal, error)
}

// DNForms returns the ways a subject DN is commonly written: RFC 4514
// (CN=Jane Doe,O=Example,C=DE, as Go, nginx and Apache print it) and the
// OpenSSL one-line form (/C=DE/O=Example/CN=Jane Doe, as GGUS and the grid
// tools show it). A registered DN may be in either.
func DNForms(n pkix.Name) []string {
	forms := []string{n.String()}
	var b strings.Builder
	for _, rdn := range n.ToRDNSequence() {
		for _, atv := range rdn {
			t := atv.Type.String()
			switch {
			case atv.Type.Equal([]int{2, 5, 4, 3}):
				t = "CN"
			case atv.Type.Equal([]int{2, 5, 4, 6}):
				t = "C"
			case atv.Type.Equal([]int{2, 5, 4, 7}):
				t = "L"
			case atv.Type.Equal([]int{2, 5, 4, 8}):
				t = "ST"
			case atv.Type.Equal([]int{2, 5, 4, 10}):
				t = "O"
			case atv.Type.Equal([]int{2, 5, 4, 11}):
				t = "OU"
			case atv.Type.Equal([]int{0, 9, 2342, 19200300, 100, 1, 25}):
				t = "DC"
			case atv.Type.Equal([]int{1, 2, 840, 113549, 1, 9, 1}):
				t = "emailAddress"
			}
			fmt.Fprintf(&b, "/%s=%v", t, atv.Value)
		}
	}
	if s := b.String(); s != "" && s != forms[0] {
		forms = append(forms, s)
	}
	return forms
}

// principalByDN looks the DN up in every form.
func principalByDN(r *http.Request, users CertificateOwners, forms []string) (*Principal, error) {
	for _, dn := range forms {
		p, err := users.PrincipalByCertificate(r.Context(), dn)
		if apperr.Is(err, apperr.Unauthorized) {
			continue
		}
		return p, err
	}
	return nil, nil
}

// CertificateAuthenticator signs in the holder of a client certificate that
// the TLS handshake verified (chain to HELPMESH_TLS_CLIENT_CA, validity
// dates, CRLs): the user who registered its subject DN. An unregistered
// certificate is no credential (nil, nil): the person may sign in otherwise.
func CertificateAuthenticator(users CertificateOwners) Authenticator {
	return func(r *http.Request) (*Principal, error) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
			return nil, nil
		}
		p, err := principalByDN(r, users, DNForms(r.TLS.VerifiedChains[0][0].Subject))
		if p != nil {
			p.Via = "certificate"
		}
		return p, err
	}
}

// ProxyDNAuthenticator believes the DN in header only from the trusted
// proxy addresses (IPs or CIDR ranges); from anywhere else the header is
// ignored and logged. The proxy must verify the certificate and overwrite
// the header on every request.
func ProxyDNAuthenticator(users CertificateOwners, trusted []string, header string, log *slog.Logger) (Authenticator, error) {
	var prefixes []netip.Prefix
	for _, t := range trusted {
		if p, err := netip.ParsePrefix(t); err == nil {
			prefixes = append(prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(t)
		if err != nil {
			return nil, fmt.Errorf("auth: trusted proxy %q is neither an address nor a CIDR range", t)
		}
		prefixes = append(prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	if header == "" {
		header = "X-SSL-Client-S-DN"
	}
	return func(r *http.Request) (*Principal, error) {
		dn := strings.TrimSpace(r.Header.Get(header))
		if dn == "" {
			return nil, nil
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		addr, err := netip.ParseAddr(host)
		ok := false
		if err == nil {
			addr = addr.Unmap()
			for _, p := range prefixes {
				if p.Contains(addr) {
					ok = true
					break
				}
			}
		}
		if !ok {
			log.Warn("ignored a client DN header from an untrusted address", "header", header, "remote", r.RemoteAddr)
			return nil, nil
		}
		if len(dn) > 1024 || strings.ContainsAny(dn, "\r\n\x00") {
			return nil, nil
		}
		p, err := principalByDN(r, users, []string{dn})
		if p != nil {
			p.Via = "certificate"
		}
		return p, err
	}, nil
}
