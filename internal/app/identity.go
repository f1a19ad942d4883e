package app

import (
	"strings"

	"github.com/helpmesh/helpmesh/internal/credential"
	"github.com/helpmesh/helpmesh/internal/identity"
	"github.com/helpmesh/helpmesh/internal/web"
)

// identityParts is what federated identity adds to the HTTP surfaces.
type identityParts struct {
	sessions *web.Sessions
	signOn   *web.SignOn
	// certAuth are the credentials other than a session: client
	// certificate, trusted proxy.
	certAuth []credential.Authenticator
}

// buildIdentity makes the identity store, the OIDC relying party and the
// certificate and proxy authenticators; the portal serves the pages.
func (a *App) buildIdentity() (*identityParts, error) {
	a.Identity = identity.NewStore(a.DB, a.Users, a.Units, nil)
	parts := &identityParts{sessions: web.NewSessions(a.DB, strings.HasPrefix(a.Config.PublicURL(), "https://"), nil)}
	if a.Config.TLSClientCA != "" {
		parts.certAuth = append(parts.certAuth, credential.CertificateAuthenticator(a.Users))
	}
	if len(a.Config.TrustedProxies) > 0 {
		pa, err := credential.ProxyDNAuthenticator(a.Users, a.Config.TrustedProxies, a.Config.DNHeader, a.Log)
		if err != nil {
			return nil, err
		}
		parts.certAuth = append(parts.certAuth, pa)
	}
	so, err := web.NewSignOn(a.Config.OIDC, nil)
	if err != nil {
		return nil, err
	}
	parts.signOn = so
	return parts, nil
}
