package app

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/api"
	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/identity"
	"github.com/helpmesh/helpmesh/internal/identity/idweb"
	"github.com/helpmesh/helpmesh/internal/web"
)

// identityParts is what federated identity adds to the HTTP surfaces.
type identityParts struct {
	sessions *web.Sessions
	handler  *idweb.Handler
	// credentials other than a session: client certificate, trusted proxy.
	certAuth []idweb.Authenticator
}

// buildIdentity makes the OIDC relying party, the certificate and proxy
// authenticators and the identity pages, sharing the portal's sessions.
func (a *App) buildIdentity() (*identityParts, error) {
	a.Identity = identity.NewStore(a.DB, a.Users, a.Units, nil)
	parts := &identityParts{sessions: web.NewSessions(a.DB, strings.HasPrefix(a.Config.PublicURL(), "https://"), nil)}
	if a.Config.TLSClientCA != "" {
		parts.certAuth = append(parts.certAuth, idweb.CertificateAuthenticator(a.Users))
	}
	if len(a.Config.TrustedProxies) > 0 {
		pa, err := idweb.ProxyDNAuthenticator(a.Users, a.Config.TrustedProxies, a.Config.DNHeader, a.Log)
		if err != nil {
			return nil, err
		}
		parts.certAuth = append(parts.certAuth, pa)
	}
	h, err := idweb.New(idweb.Deps{
		Log: a.Log, Identity: a.Identity, Users: a.Users, Units: a.Units, Tickets: a.Tickets,
		Sessions: parts.sessions, Authenticators: parts.certAuth,
		Providers: a.Config.OIDC, BaseURL: a.Config.PublicURL(),
		SSOOnly: a.Config.SSOOnly, BreakGlass: a.Config.BreakGlass,
	})
	if err != nil {
		return nil, err
	}
	parts.handler = h
	return parts, nil
}

// apiAuthenticators: the session cookie, then certificates.
func (p *identityParts) apiAuthenticators() []api.Authenticator {
	out := []api.Authenticator{api.Authenticator(p.handler.SessionAuthenticator())}
	for _, a := range p.certAuth {
		out = append(out, api.Authenticator(a))
	}
	return out
}

func (p *identityParts) webAuthenticators() []web.Authenticator {
	var out []web.Authenticator
	for _, a := range p.certAuth {
		out = append(out, web.Authenticator(a))
	}
	return out
}

// mount adds the identity routes to mux and wraps the portal with the
// SSO-only guard when configured.
func (a *App) mountIdentity(mux *http.ServeMux, p *identityParts, portal http.Handler) http.Handler {
	for _, pat := range p.handler.Patterns() {
		mux.Handle(pat, p.handler)
	}
	if a.Config.SSOOnly {
		return idweb.SSOOnly(portal, a.Config.BreakGlass, a.Log)
	}
	return portal
}

// signInProviders are the OIDC providers offered on the sign-in page.
func (a *App) signInProviders() []web.SignInProvider {
	out := make([]web.SignInProvider, 0, len(a.Config.OIDC))
	for _, p := range a.Config.OIDC {
		label := p.Label
		if label == "" {
			label = p.Name
		}
		out = append(out, web.SignInProvider{Name: p.Name, Label: label})
	}
	return out
}

// extraRoutes adds the API routes of the mail gateway and of identity.
func (a *App) extraRoutes(r *api.Router) {
	a.mailRoutes(r)
	r.Handle("GET /api/v1/audit", a.auditLog(r))
}

type auditDTO struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	UserID  int64     `json:"user_id,omitempty"`
	ActorID int64     `json:"actor_id,omitempty"`
	Source  string    `json:"source"`
	Action  string    `json:"action"`
	Target  string    `json:"target,omitempty"`
	Old     string    `json:"old,omitempty"`
	New     string    `json:"new,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// auditLog serves GET /api/v1/audit?user=ID&limit=N: the identity audit log
// (sign-ins, account links, role and membership changes by mapping rules,
// access decisions), newest first, for administrators.
func (a *App) auditLog(r *api.Router) func(http.ResponseWriter, *http.Request, *auth.Principal) {
	return func(w http.ResponseWriter, req *http.Request, p *auth.Principal) {
		if !p.IsAdmin() {
			r.WriteError(w, req, apperr.New(apperr.Forbidden, "only administrators see the audit log"))
			return
		}
		q := req.URL.Query()
		var userID int64
		if s := q.Get("user"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				r.WriteError(w, req, apperr.Field("user", "must be a user id"))
				return
			}
			userID = n
		}
		limit := 100
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1000 {
				r.WriteError(w, req, apperr.Field("limit", "must be a number from 1 to 1000"))
				return
			}
			limit = n
		}
		es, err := a.Identity.AuditLog(req.Context(), userID, limit)
		if err != nil {
			r.WriteError(w, req, err)
			return
		}
		items := make([]auditDTO, len(es))
		for i, e := range es {
			items[i] = auditDTO{ID: e.ID, At: e.At, UserID: e.UserID, ActorID: e.ActorID, Source: e.Source,
				Action: e.Action, Target: e.Target, Old: e.Old, New: e.New, Detail: e.Detail}
		}
		r.WriteJSON(w, http.StatusOK, map[string]any{"items": items})
	}
}
