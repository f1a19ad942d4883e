// Package credential holds the ways a request proves who sends it other
// than a bearer token or a web session: a client certificate, a trusted
// proxy's DN header. The API and the web portal try them in order.
package credential

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/forwarded"
)

// Authenticator finds the principal of a request from a credential other
// than a bearer token or a web session (a session cookie on the API, a
// client certificate, a trusted proxy's DN header). It returns nil, nil
// when the request carries no such credential. The API and the web portal
// try their Authenticators in order.
type Authenticator func(r *http.Request) (*auth.Principal, error)

// CertificateOwners finds the person who registered a certificate subject
// DN (the user store implements it); an unknown DN is apperr.Unauthorized.
type CertificateOwners interface {
	PrincipalByCertificate(ctx context.Context, dn string) (*auth.Principal, error)
}

// principalByDN looks a subject up as the owners compare it (as an RDN
// sequence, CanonicalDN); an unregistered one is no credential.
func principalByDN(r *http.Request, users CertificateOwners, dn string) (*auth.Principal, error) {
	p, err := users.PrincipalByCertificate(r.Context(), dn)
	if apperr.Is(err, apperr.Unauthorized) {
		return nil, nil
	}
	return p, err
}

// CertificateAuthenticator signs in the holder of a client certificate that
// the TLS handshake verified (chain to HELPMESH_TLS_CLIENT_CA, validity
// dates, CRLs): the user who registered its subject DN. An unregistered
// certificate is no credential (nil, nil): the person may sign in otherwise.
func CertificateAuthenticator(users CertificateOwners) Authenticator {
	return func(r *http.Request) (*auth.Principal, error) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
			return nil, nil
		}
		// The subject as signed (its DER), not as printed: a '/' or ','
		// inside a value cannot pass for another RDN.
		dn, err := auth.CanonicalSubject(r.TLS.VerifiedChains[0][0].RawSubject)
		if err != nil {
			return nil, nil
		}
		p, err := principalByDN(r, users, dn)
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
	proxies, err := forwarded.Parse(trusted)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if header == "" {
		header = "X-SSL-Client-S-DN"
	}
	return func(r *http.Request) (*auth.Principal, error) {
		dn := strings.TrimSpace(r.Header.Get(header))
		if dn == "" {
			return nil, nil
		}
		// The direct peer: r.RemoteAddr is the forwarded client's.
		if !proxies.Trusts(forwarded.Peer(r)) {
			log.Warn("ignored a client DN header from an untrusted address", "header", header, "remote", forwarded.Peer(r))
			return nil, nil
		}
		if len(dn) > 1024 || strings.ContainsAny(dn, "\r\n\x00") {
			return nil, nil
		}
		p, err := principalByDN(r, users, dn)
		if p != nil {
			p.Via = "certificate"
		}
		return p, err
	}, nil
}
