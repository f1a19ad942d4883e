package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/identity"
)

// pendingTTL is how long a person may take at the provider.
const pendingTTL = 10 * time.Minute

// browserCookie binds a pending sign-in to the browser that started it, so
// that a callback URL cannot be replayed in another browser (login CSRF).
const browserCookie = "hm_oidc_browser"

// SignOn is the OpenID Connect relying party: the configured providers,
// each with its claim mapping rules, and the client that talks to them.
type SignOn struct {
	providers map[string]*provider
	order     []string
	client    *http.Client
}

// NewSignOn checks the providers' rules; it does not contact the providers
// (discovery happens at the first sign-in, and is retried until it works).
// client talks to the providers (nil: a client with a 15 s timeout).
func NewSignOn(providers []config.OIDCProvider, client *http.Client) (*SignOn, error) {
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	s := &SignOn{providers: map[string]*provider{}, client: client}
	for _, pc := range providers {
		rules, err := identity.CompileRules(pc.Rules)
		if err != nil {
			return nil, fmt.Errorf("web: sign-on provider %s: %w", pc.Name, err)
		}
		s.providers[pc.Name] = &provider{cfg: pc, rules: rules}
		s.order = append(s.order, pc.Name)
	}
	return s, nil
}

// buttons lists the providers as the sign-in pages offer them, in the
// configured order.
func (s *SignOn) buttons() []SignInProvider {
	if s == nil {
		return nil
	}
	out := make([]SignInProvider, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, SignInProvider{Name: n, Label: s.providers[n].label()})
	}
	return out
}

// provider returns the named provider, or nil.
func (s *SignOn) provider(name string) *provider {
	if s == nil {
		return nil
	}
	return s.providers[name]
}

type provider struct {
	cfg   config.OIDCProvider
	rules []identity.Rule

	mu         sync.Mutex
	op         *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	endSession string
}

// discover fetches the provider's metadata once; a failure is retried at
// the next sign-in.
func (h *Handler) discover(ctx context.Context, p *provider) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.op != nil {
		return p.op, p.verifier, nil
	}
	dctx, cancel := context.WithTimeout(oidc.ClientContext(context.WithoutCancel(ctx), h.d.SignOn.client), 15*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(dctx, p.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("web: discovery of %s at %s: %w", p.cfg.Name, p.cfg.Issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = op.Claims(&meta)
	p.op, p.endSession = op, meta.EndSession
	p.verifier = op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, Now: h.d.Now})
	return p.op, p.verifier, nil
}

func (h *Handler) oauthConfig(p *provider, op *oidc.Provider) *oauth2.Config {
	scopes := p.cfg.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email"}
	}
	return &oauth2.Config{
		ClientID:     p.cfg.ClientID,
		ClientSecret: p.cfg.ClientSecret,
		Endpoint:     op.Endpoint(),
		RedirectURL:  h.baseURL + "/auth/oidc/" + p.cfg.Name + "/callback",
		Scopes:       scopes,
	}
}

// oidcStart sends the browser to the provider with a fresh state, nonce and
// PKCE challenge, all kept server-side.
func (h *Handler) oidcStart(w http.ResponseWriter, r *http.Request) {
	p := h.d.SignOn.provider(r.PathValue("name"))
	if p == nil {
		h.errorPage(w, r, http.StatusNotFound, "There is no such sign-in provider.")
		return
	}
	op, _, err := h.discover(r.Context(), p)
	if err != nil {
		h.d.Log.Warn("OIDC discovery failed", "provider", p.cfg.Name, "err", err)
		h.errorPage(w, r, http.StatusBadGateway, "The identity provider "+p.label()+" cannot be reached right now. Try again in a moment.")
		return
	}
	browser := ""
	if c, err := r.Cookie(browserCookie); err == nil && len(c.Value) >= 32 && len(c.Value) < 100 {
		browser = c.Value
	} else {
		browser = auth.RandomString(32)
		http.SetCookie(w, &http.Cookie{Name: browserCookie, Value: browser, Path: "/auth/oidc/", HttpOnly: true,
			Secure: strings.HasPrefix(h.baseURL, "https://"), SameSite: http.SameSiteLaxMode, MaxAge: int(pendingTTL / time.Second)})
	}
	state, nonce, verifier := auth.RandomString(32), auth.RandomString(32), oauth2.GenerateVerifier()
	err = h.d.Identity.SavePending(r.Context(), identity.Pending{
		StateHash: hashOf(state), Provider: p.cfg.Name, Nonce: nonce, Verifier: verifier,
		Browser: hashOf(browser), Next: auth.SafeNext(r.URL.Query().Get("next")),
	}, pendingTTL)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	target := h.oauthConfig(p, op).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	http.Redirect(w, r, target, http.StatusFound)
}

// oidcCallback finishes the sign-in: it takes the pending state (once), checks
// the browser, exchanges the code with the PKCE verifier, verifies the ID
// token (signature, issuer, audience, expiry, nonce), reads userinfo, links
// the account, applies the mapping rules and starts a web session.
func (h *Handler) oidcCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("name")
	p := h.d.SignOn.provider(name)
	if p == nil {
		h.errorPage(w, r, http.StatusNotFound, "There is no such sign-in provider.")
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" || len(state) > 200 {
		h.errorPage(w, r, http.StatusBadRequest, "The identity provider sent no valid state. Start the sign-in again.")
		return
	}
	pending, err := h.d.Identity.TakePending(ctx, hashOf(state))
	if err != nil {
		h.refuse(w, r, name, "state", err)
		return
	}
	if pending.Provider != name {
		h.refuse(w, r, name, "state", apperr.New(apperr.Unauthorized, "this sign-in was started with another provider"))
		return
	}
	c, err := r.Cookie(browserCookie)
	if err != nil || hashOf(c.Value) != pending.Browser {
		h.refuse(w, r, name, "browser", apperr.New(apperr.Unauthorized, "this sign-in was started in another browser"))
		return
	}
	if e := q.Get("error"); e != "" {
		msg := e
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		h.errorPage(w, r, http.StatusUnauthorized, "The identity provider did not sign you in ("+msg+").")
		return
	}
	code := q.Get("code")
	if code == "" {
		h.errorPage(w, r, http.StatusBadRequest, "The identity provider sent no authorization code.")
		return
	}
	ext, claims, err := h.verify(ctx, p, code, pending)
	if err != nil {
		h.refuse(w, r, name, "token", err)
		return
	}
	userID, _, err := h.d.Identity.Link(ctx, *ext)
	if err != nil {
		h.refuse(w, r, name, "link", err)
		return
	}
	changes, err := h.d.Identity.Apply(ctx, userID, "oidc:"+name, identity.Evaluate(p.rules, claims))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, ch := range changes {
		h.d.Log.Info("identity rule applied", "user", userID, "provider", name, "action", ch.Action, "target", ch.Target, "old", ch.Old, "new", ch.New)
	}
	if err := h.signIn(w, r, userID, "oidc:"+name); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, auth.SafeNext(pending.Next), http.StatusSeeOther)
}

// verify exchanges the code and checks everything the provider sent.
func (h *Handler) verify(ctx context.Context, p *provider, code string, pending *identity.Pending) (*identity.External, map[string]any, error) {
	op, verifier, err := h.discover(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	ctx = oidc.ClientContext(ctx, h.d.SignOn.client)
	tok, err := h.oauthConfig(p, op).Exchange(ctx, code, oauth2.VerifierOption(pending.Verifier))
	if err != nil {
		return nil, nil, unauthorized("the code exchange failed", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, nil, apperr.New(apperr.Unauthorized, "the identity provider sent no ID token")
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return nil, nil, unauthorized("the ID token is not valid", err)
	}
	if idt.Nonce == "" || idt.Nonce != pending.Nonce {
		return nil, nil, apperr.New(apperr.Unauthorized, "the ID token does not answer this sign-in (nonce mismatch)")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, nil, unauthorized("the access token does not match the ID token", err)
		}
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return nil, nil, unauthorized("the ID token's claims cannot be read", err)
	}
	if op.UserInfoEndpoint() != "" {
		ui, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return nil, nil, unauthorized("userinfo failed", err)
		}
		if ui.Subject != idt.Subject {
			return nil, nil, apperr.New(apperr.Unauthorized, "userinfo is about another subject than the ID token")
		}
		extra := map[string]any{}
		if err := ui.Claims(&extra); err != nil {
			return nil, nil, unauthorized("userinfo cannot be read", err)
		}
		for k, v := range extra {
			switch k {
			case "iss", "sub", "aud", "exp", "iat", "nonce", "azp", "at_hash":
				continue
			}
			claims[k] = v
		}
	}
	ext := &identity.External{Provider: p.cfg.Name, Issuer: idt.Issuer, Subject: idt.Subject}
	ext.Email, _ = claims["email"].(string)
	switch v := claims["email_verified"].(type) {
	case bool:
		ext.EmailVerified = v
	case string:
		ext.EmailVerified = v == "true"
	}
	ext.Name, _ = claims["name"].(string)
	if ext.Name == "" {
		g, _ := claims["given_name"].(string)
		f, _ := claims["family_name"].(string)
		ext.Name = strings.TrimSpace(g + " " + f)
	}
	return ext, claims, nil
}

func unauthorized(what string, err error) error {
	return errors.Join(apperr.New(apperr.Unauthorized, "%s", what), err)
}

// refuse shows why a sign-in failed and writes it to the audit log.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, name, stage string, err error) {
	kind := apperr.KindOf(err)
	if kind == apperr.Internal || kind == "" {
		h.fail(w, r, err)
		return
	}
	h.d.Log.Warn("OIDC sign-in refused", "provider", name, "stage", stage, "err", err)
	_ = h.d.Identity.Audit(r.Context(), 0, 0, "oidc:"+name, "signin_refused", stage, truncate(err.Error(), 500))
	msg := "The sign-in failed: " + firstLine(err) + ". Start it again."
	status := http.StatusUnauthorized
	if kind == apperr.NotFound {
		status = http.StatusBadRequest
	}
	h.errorPage(w, r, status, msg)
}

func firstLine(err error) string {
	var e *apperr.Error
	if errors.As(err, &e) {
		return e.Message
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (p *provider) label() string {
	if p.cfg.Label != "" {
		return p.cfg.Label
	}
	return p.cfg.Name
}

// providerLogout is where to send the browser after signing out a session
// that began at an OIDC provider (RP-initiated logout), or "" when the
// provider offers none.
func (h *Handler) providerLogout(via string) string {
	name, ok := strings.CutPrefix(via, "oidc:")
	if !ok {
		return ""
	}
	p := h.d.SignOn.provider(name)
	if p == nil {
		return ""
	}
	p.mu.Lock()
	end := p.endSession
	p.mu.Unlock()
	if end == "" {
		return ""
	}
	v := url.Values{"client_id": {p.cfg.ClientID}, "post_logout_redirect_uri": {h.baseURL + "/login"}}
	sep := "?"
	if strings.Contains(end, "?") {
		sep = "&"
	}
	return end + sep + v.Encode()
}

// oidcProviders lists the providers (GET /auth/oidc).
func (h *Handler) oidcProviders(w http.ResponseWriter, r *http.Request) {
	next := auth.SafeNext(r.URL.Query().Get("next"))
	if next == "/" {
		next = ""
	}
	h.render(w, r, http.StatusOK, "oidc_providers", loginView{Page: h.page(r, "Sign in with your organisation", "login"), Next: next, Providers: h.d.SignOn.buttons()})
}

// hashOf is the stored form of a state or browser value.
func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
