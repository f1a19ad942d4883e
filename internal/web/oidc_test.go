package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/unit"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

const egiEntitlement = "urn:mace:egi.eu:group:vo.example.org:role=member#aai.egi.eu"

// oidcSetup starts helpmesh with the provider "egi" (a real OP on loopback)
// and rules: the EGI entitlement makes a member of example-support, the
// groups claim "helpdesk-admins" an admin of it, and "operators" a global
// admin.
func oidcSetup(t *testing.T, edit func(*config.Config)) (*testApp, *testOP) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	op := startOP(t, "helpmesh", "client-secret", base+"/auth/oidc/egi/callback")
	a := startApp(t, ln, func(c *config.Config) {
		c.OIDC = []config.OIDCProvider{{
			Name: "egi", Label: "EGI Check-in", Issuer: op.Issuer, ClientID: "helpmesh", ClientSecret: "client-secret",
			Scopes: []string{"openid", "profile", "email"},
			Rules: []config.ClaimRule{
				{Claim: "eduperson_entitlement", Value: egiEntitlement, Unit: "example-support", UnitRole: "member"},
				{Claim: "groups", Value: "helpdesk-admins", Unit: "example-support", UnitRole: "admin"},
				{Claim: "groups", Pattern: "operators|ops-.*", Role: "admin"},
			},
		}}
		if edit != nil {
			edit(c)
		}
	})
	if _, err := a.Units.CreateUnit(context.Background(), unit.Unit{Slug: "example-support", Name: "Example support"}); err != nil {
		t.Fatal(err)
	}
	return a, op
}

type me struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Role  string `json:"role"`
	Units []struct {
		Slug string `json:"slug"`
		Role string `json:"role"`
	} `json:"units"`
}

func getMe(t *testing.T, c *http.Client, base string) (int, *me) {
	t.Helper()
	resp, err := c.Get(base + "/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	var m me
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("me: %v: %s", err, b)
	}
	return resp.StatusCode, &m
}

func unitRole(m *me, slug string) string {
	for _, u := range m.Units {
		if u.Slug == slug {
			return u.Role
		}
	}
	return ""
}

// TestOIDCSignInPlainHTTP drives the whole authorization-code flow with
// PKCE over plain HTTP against the real OP, then replays the callback.
func TestOIDCSignInPlainHTTP(t *testing.T) {
	a, op := oidcSetup(t, nil)
	ctx := context.Background()
	op.claims.Set(aliceID, map[string]any{"eduperson_entitlement": []string{egiEntitlement, "urn:other"}, "groups": []string{"operators"}})

	c, seen := newClient(t)
	status, body, callback := opSignIn(t, c, seen, a.URL, "egi", "alice")
	if status != http.StatusOK || callback == "" {
		t.Fatalf("sign-in ended with %d (callback %q): %.500s", status, callback, body)
	}
	cb := mustURL(t, callback)
	if cb.Query().Get("state") == "" || cb.Query().Get("code") == "" {
		t.Fatalf("callback without state or code: %s", callback)
	}
	code, m := getMe(t, c, a.URL)
	if code != http.StatusOK || m.Email != "alice@example.org" {
		t.Fatalf("me after sign-in: %d %+v", code, m)
	}
	if m.Role != "admin" || unitRole(m, "example-support") != "member" {
		t.Fatalf("rules not applied: %+v", m)
	}

	// Replaying the callback (same state, same code) must fail, in the
	// same browser and in another.
	for _, who := range []string{"same browser", "other browser"} {
		rc := c
		if who == "other browser" {
			rc, _ = newClient(t)
		}
		resp, err := rc.Get(callback)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || !strings.Contains(string(b), "used already") {
			t.Fatalf("%s: replayed callback answered %d: %.300s", who, resp.StatusCode, b)
		}
		if who == "other browser" {
			if code, _ := getMe(t, rc, a.URL); code != http.StatusUnauthorized {
				t.Fatalf("replay gave the other browser a session: %d", code)
			}
		}
	}

	// The audit log holds the account creation, the link and the grants.
	log, err := a.Identity.AuditLog(ctx, m.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, e := range log {
		actions[e.Action+" "+e.Target] = true
	}
	for _, want := range []string{"account_created user", "identity_linked oidc", "rule_grant unit:example-support", "rule_grant role"} {
		if !actions[want] {
			t.Errorf("audit log lacks %q: %v", want, actions)
		}
	}

	// Next sign-in: the entitlement is gone, helpdesk-admins arrived. The
	// rules grant admin of the unit and revoke the global role.
	op.claims.Set(aliceID, map[string]any{"groups": []string{"helpdesk-admins"}})
	c2, seen2 := newClient(t)
	if status, body, _ := opSignIn(t, c2, seen2, a.URL, "egi", "alice"); status != http.StatusOK {
		t.Fatalf("second sign-in: %d %.300s", status, body)
	}
	_, m2 := getMe(t, c2, a.URL)
	if m2.ID != m.ID || m2.Role != "user" || unitRole(m2, "example-support") != "admin" {
		t.Fatalf("second sign-in: %+v", m2)
	}
	// And then no claims at all: everything the rules gave is taken back.
	op.claims.Set(aliceID, nil)
	c3, seen3 := newClient(t)
	opSignIn(t, c3, seen3, a.URL, "egi", "alice")
	_, m3 := getMe(t, c3, a.URL)
	if m3 == nil || m3.Role != "user" || unitRole(m3, "example-support") != "" {
		t.Fatalf("third sign-in: %+v", m3)
	}
	log, _ = a.Identity.AuditLog(ctx, m.ID, 50)
	revokes := 0
	for _, e := range log {
		if e.Action == "rule_revoke" {
			revokes++
		}
	}
	if revokes != 2 {
		t.Errorf("want 2 revocations (global role, then unit), got %d: %+v", revokes, log)
	}
}

// A membership given by hand is never revoked by the rules.
func TestOIDCRulesKeepManualMembership(t *testing.T) {
	a, op := oidcSetup(t, nil)
	ctx := context.Background()
	c, seen := newClient(t)
	op.claims.Set(aliceID, map[string]any{"eduperson_entitlement": egiEntitlement})
	opSignIn(t, c, seen, a.URL, "egi", "alice")
	_, m := getMe(t, c, a.URL)
	if m == nil || unitRole(m, "example-support") != "member" {
		t.Fatalf("not granted: %+v", m)
	}
	// An admin adds alice to another unit by hand.
	other, err := a.Units.CreateUnit(ctx, unit.Unit{Slug: "other", Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Units.SetMember(ctx, other.ID, m.ID, auth.UnitMember); err != nil {
		t.Fatal(err)
	}
	op.claims.Set(aliceID, nil)
	c2, seen2 := newClient(t)
	opSignIn(t, c2, seen2, a.URL, "egi", "alice")
	_, m2 := getMe(t, c2, a.URL)
	if unitRole(m2, "example-support") != "" || unitRole(m2, "other") != "member" {
		t.Fatalf("want example-support revoked and other kept: %+v", m2)
	}
}

// An identity whose email the provider has not verified is neither linked
// to an existing account with that email nor given a new one.
func TestOIDCUnverifiedEmailRefused(t *testing.T) {
	a, _ := oidcSetup(t, nil)
	c, seen := newClient(t)
	status, body, _ := opSignIn(t, c, seen, a.URL, "egi", "bob")
	if status != http.StatusUnauthorized || !strings.Contains(body, "did not confirm an email") {
		t.Fatalf("unverified email: %d %.300s", status, body)
	}
	if code, _ := getMe(t, c, a.URL); code != http.StatusUnauthorized {
		t.Fatalf("got a session: %d", code)
	}
}

// A callback delivered to another browser than the one that started the
// sign-in (login CSRF) is refused, and the state is spent.
func TestOIDCCallbackInOtherBrowser(t *testing.T) {
	a, _ := oidcSetup(t, nil)
	victim, _ := newClient(t)
	attacker, seen := newClient(t)
	// The attacker signs in at the OP but does not let the callback
	// through: stop at the redirect to helpmesh.
	attacker.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		*seen = append(*seen, req.URL.String())
		if strings.Contains(req.URL.Path, "/auth/oidc/egi/callback") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	_, _, callback := opSignIn(t, attacker, seen, a.URL, "egi", "alice")
	if callback == "" {
		t.Fatal("no callback URL")
	}
	resp, err := victim.Get(callback)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("callback in another browser: %d", resp.StatusCode)
	}
	if code, _ := getMe(t, victim, a.URL); code != http.StatusUnauthorized {
		t.Fatalf("victim got a session: %d", code)
	}
}

// With several providers, each has its own routes; an unknown one is 404.
func TestOIDCProvidersList(t *testing.T) {
	a, _ := oidcSetup(t, nil)
	c, _ := newClient(t)
	resp, err := c.Get(a.URL + "/auth/oidc")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `href="/auth/oidc/egi"`) || !strings.Contains(string(b), "EGI Check-in") {
		t.Fatalf("provider list: %s", b)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("CSP: %q", csp)
	}
	resp, _ = c.Get(a.URL + "/auth/oidc/nope")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown provider: %d", resp.StatusCode)
	}
}

var newTokenRe = regexp.MustCompile(`id="new-token">([^<]+)<`)

// TestTokensPage: a person signed in by OIDC creates a read-only token with
// an expiry on /account/tokens; it reads the API and cannot write. A
// cross-site POST with the session cookie is refused.
func TestTokensPage(t *testing.T) {
	a, _ := oidcSetup(t, nil)
	c, seen := newClient(t)
	if st, body, _ := opSignIn(t, c, seen, a.URL, "egi", "alice"); st != http.StatusOK {
		t.Fatalf("sign-in: %d %.200s", st, body)
	}
	csrf := formToken(t, c, a.URL+"/account/tokens")
	// Without the form token: refused.
	resp, _ := c.PostForm(a.URL+"/account/tokens", url.Values{"name": {"ci"}, "scope": {"read"}, "days": {"7"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST without form token: %d", resp.StatusCode)
	}
	// From another site: refused.
	req, _ := http.NewRequest(http.MethodPost, a.URL+"/account/tokens", strings.NewReader(url.Values{"name": {"ci"}, "scope": {"read"}, "days": {"7"}, "csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, _ = c.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", resp.StatusCode)
	}
	resp, err := c.PostForm(a.URL+"/account/tokens", url.Values{"name": {"ci"}, "scope": {"read"}, "days": {"7"}, "csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tm := newTokenRe.FindSubmatch(b)
	if tm == nil {
		t.Fatalf("no token shown: %d %.500s", resp.StatusCode, b)
	}
	api := func(method, path, body string) int {
		req, _ := http.NewRequest(method, a.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+string(tm[1]))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := api("GET", "/api/v1/me", ""); st != http.StatusOK {
		t.Fatalf("read token GET: %d", st)
	}
	if st := api("POST", "/api/v1/tickets", `{"subject":"x","body":"y"}`); st != http.StatusForbidden {
		t.Fatalf("read token POST: %d", st)
	}
	_, who := getMe(t, c, a.URL)
	ts, _ := a.Users.Tokens(context.Background(), who.ID)
	if len(ts) != 1 || ts[0].ExpiresAt == nil || ts[0].Scope != "read" {
		t.Fatalf("stored token: %+v", ts)
	}
}

// TestOIDCSignOut: both sign-out routes (the portal's /logout and
// /auth/logout) end the session of a person who signed in at a provider
// and send the browser on to the provider's end-session page; a password
// session ends on the sign-in page.
func TestOIDCSignOut(t *testing.T) {
	a, op := oidcSetup(t, nil)
	for _, path := range []string{"/logout", "/auth/logout"} {
		c, seen := newClient(t)
		if st, body, _ := opSignIn(t, c, seen, a.URL, "egi", "alice"); st != http.StatusOK {
			t.Fatalf("sign-in: %d %.200s", st, body)
		}
		csrf := formToken(t, c, a.URL+"/account/tokens")
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.PostForm(a.URL+path, url.Values{"csrf": {csrf}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, strings.TrimSuffix(op.Issuer, "/")) ||
			!strings.Contains(loc, "post_logout_redirect_uri="+url.QueryEscape(a.URL+"/login")) {
			t.Fatalf("POST %s: %d to %q, want the provider's end-session page", path, resp.StatusCode, loc)
		}
		if code, _ := getMe(t, c, a.URL); code != http.StatusUnauthorized {
			t.Fatalf("POST %s left a session: %d", path, code)
		}
	}
}

// TestSSOOnlyRefusesMailLinks: under HELPMESH_SSO_ONLY nobody may ask for
// or use a mail sign-in link.
func TestSSOOnlyRefusesMailLinks(t *testing.T) {
	a := startApp(t, nil, func(c *config.Config) { c.SSOOnly = true })
	c, _ := newClient(t)
	csrf := formToken(t, c, a.URL+"/login/link")
	for _, path := range []string{"/login/link", "/login/link/some-token"} {
		resp, err := c.PostForm(a.URL+path, url.Values{"email": {"admin@localhost"}, "csrf": {csrf}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "single sign-on only") {
			t.Fatalf("POST %s under SSO only: %d %.300s", path, resp.StatusCode, b)
		}
	}
}
