// Package idweb is the HTTP side of federated identity: the OpenID Connect
// relying party (/auth/oidc/{name} and its callback), sign-out, the X.509
// client-certificate and trusted-proxy authenticators, the client
// certificate TLS settings (with CRLs), the SSO-only guard of the password
// sign-in, and the pages where people ask for supporter privileges, unit
// admins decide, and people manage their API tokens.
//
// Every sign-in ends in a web session started through SessionStore (the
// web portal's session layer).
package idweb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/identity"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// SessionStore is the web portal's session layer as sign-in needs it.
type SessionStore interface {
	// Start signs userID in on this browser; via names how (oidc:<name>).
	Start(w http.ResponseWriter, r *http.Request, userID int64, via string) error
	// Current returns the signed-in user of the request (0 when none), how
	// they signed in, and the session's form token.
	Current(r *http.Request) (userID int64, via, csrf string, err error)
	// End signs the browser out.
	End(w http.ResponseWriter, r *http.Request) error
}

// Authenticator finds the principal of a request from a credential other
// than a session; nil, nil when it carries none.
type Authenticator func(r *http.Request) (*auth.Principal, error)

// Deps is what the identity handlers need.
type Deps struct {
	Log      *slog.Logger
	Identity *identity.Store
	Users    *user.Store
	Units    *unit.Store
	Tickets  *ticket.Store
	Sessions SessionStore
	// Authenticators (client certificate, trusted proxy) are tried when the
	// request has no session.
	Authenticators []Authenticator
	Providers      []config.OIDCProvider
	// BaseURL is the public URL; redirect URIs are BaseURL/auth/oidc/{name}/callback.
	BaseURL string
	// HTTPClient talks to the providers (nil: a client with a 15 s timeout).
	HTTPClient *http.Client
	Now        func() time.Time
	// SSOOnly refuses password and mail-link sign-in except for BreakGlass.
	SSOOnly    bool
	BreakGlass []string
}

// Handler serves /auth/... and the identity pages.
type Handler struct {
	d         Deps
	providers map[string]*provider
	order     []string
	mux       *http.ServeMux
	cop       *http.CrossOriginProtection
}

// New builds the handler; it checks the providers' rules but does not
// contact the providers (discovery happens at the first sign-in, and is
// retried until it works).
func New(d Deps) (*Handler, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	d.BaseURL = strings.TrimRight(d.BaseURL, "/")
	h := &Handler{d: d, providers: map[string]*provider{}, mux: http.NewServeMux(), cop: http.NewCrossOriginProtection()}
	for _, pc := range d.Providers {
		rules, err := identity.CompileRules(pc.Rules)
		if err != nil {
			return nil, err
		}
		h.providers[pc.Name] = &provider{cfg: pc, rules: rules}
		h.order = append(h.order, pc.Name)
	}
	if err := h.cop.AddTrustedOrigin(originOf(d.BaseURL)); err != nil && d.BaseURL != "" {
		return nil, err
	}
	h.routes()
	return h, nil
}

func originOf(base string) string {
	scheme, rest, ok := strings.Cut(base, "://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

// Patterns lists the routes to mount on the application's mux (they take
// precedence over the portal's catch-all).
func (h *Handler) Patterns() []string {
	return []string{
		"GET /auth/oidc", "GET /auth/oidc/{name}", "GET /auth/oidc/{name}/callback", "POST /auth/logout",
		"GET /access", "POST /access", "GET /access/requests/{id}", "POST /access/requests/{id}/decide",
		"GET /account/tokens", "POST /account/tokens", "POST /account/tokens/{id}/revoke",
	}
}

func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("GET /auth/oidc", h.providerList)
	m.HandleFunc("GET /auth/oidc/{name}", h.start)
	m.HandleFunc("GET /auth/oidc/{name}/callback", h.callback)
	m.HandleFunc("POST /auth/logout", h.logout)
	m.HandleFunc("GET /access", h.signedIn(h.accessPage))
	m.HandleFunc("POST /access", h.signedIn(h.requestAccess))
	m.HandleFunc("GET /access/requests/{id}", h.signedIn(h.requestPage))
	m.HandleFunc("POST /access/requests/{id}/decide", h.signedIn(h.decide))
	m.HandleFunc("GET /account/tokens", h.signedIn(h.tokensPage))
	m.HandleFunc("POST /account/tokens", h.signedIn(h.createToken))
	m.HandleFunc("POST /account/tokens/{id}/revoke", h.signedIn(h.revokeToken))
}

// ServeHTTP serves the identity routes with the portal's security headers;
// unsafe methods must come from this site.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setHeaders(w, r)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := h.cop.Check(r); err != nil {
			h.errorPage(w, r, http.StatusForbidden, "This request came from another site and was refused.")
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// contentSecurityPolicy is the portal's: no inline script or style.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; manifest-src 'self'"

func setHeaders(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	if r.TLS != nil {
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// Principal resolves the person behind a request: the web session, else a
// client certificate or trusted-proxy DN. nil when none.
func (h *Handler) Principal(r *http.Request) (*auth.Principal, error) {
	if h.d.Sessions != nil {
		uid, via, _, err := h.d.Sessions.Current(r)
		if err != nil {
			return nil, err
		}
		if uid != 0 {
			p, err := h.d.Users.Principal(r.Context(), uid)
			if apperr.Is(err, apperr.Unauthorized) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			p.Via = "session"
			_ = via
			return p, nil
		}
	}
	for _, a := range h.d.Authenticators {
		p, err := a(r)
		if err != nil || p != nil {
			return p, err
		}
	}
	return nil, nil
}

// SessionAuthenticator lets the REST API accept the portal's session
// cookie. An unsafe request must pass the cross-origin check, so that
// another site cannot make a signed-in browser write through the API.
func (h *Handler) SessionAuthenticator() Authenticator {
	return func(r *http.Request) (*auth.Principal, error) {
		uid, _, _, err := h.d.Sessions.Current(r)
		if err != nil || uid == 0 {
			return nil, err
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := h.cop.Check(r); err != nil {
				return nil, apperr.New(apperr.Forbidden, "a cross-site request may not use the session cookie")
			}
		}
		p, err := h.d.Users.Principal(r.Context(), uid)
		if err != nil {
			return nil, err
		}
		p.Via = "session"
		return p, nil
	}
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// fail shows the page that fits err; internal errors are logged, not shown.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *apperr.Error
	if errors.As(err, &e) {
		status := http.StatusBadRequest
		switch e.Kind {
		case apperr.NotFound:
			status = http.StatusNotFound
		case apperr.Forbidden:
			status = http.StatusForbidden
		case apperr.Unauthorized:
			status = http.StatusUnauthorized
		case apperr.Conflict:
			status = http.StatusConflict
		case apperr.Invalid:
			status = http.StatusUnprocessableEntity
		case apperr.Internal:
			status = 0
		}
		if status != 0 {
			h.errorPage(w, r, status, e.Error())
			return
		}
	}
	if !errors.Is(err, context.Canceled) {
		h.d.Log.Error("identity request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	h.errorPage(w, r, http.StatusInternalServerError, "Something went wrong on our side. It has been logged; please try again in a moment.")
}
