package apptest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
)

func ptr[T any](v T) *T { return &v }

// browser is a cookie-keeping HTTP client of the instance's web pages.
type browser struct {
	t  *testing.T
	in *apptest.Instance
	hc *http.Client
}

var formTokenRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func newBrowser(t *testing.T, in *apptest.Instance) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, in: in, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	res, err := b.hc.Get(b.in.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// signIn signs in with a password through the sign-in form.
func (b *browser) signIn(email, password string) {
	b.t.Helper()
	_, page := b.get("/login")
	m := formTokenRe.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatal("no form token on /login")
	}
	res, err := b.hc.PostForm(b.in.URL+"/login", url.Values{"csrf": {m[1]}, "email": {email}, "password": {password}})
	if err != nil {
		b.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign in %s: status %d", email, res.StatusCode)
	}
}

// TestUpdateUser changes each field of a user through PATCH
// /api/v1/users/{id}, refuses bad values and non-administrators, and
// checks that disabling ends the user's token and web session at once.
func TestUpdateUser(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		ctx := context.Background()
		const pw = "a long enough password"
		ann, err := in.Admin.CreateUser(ctx, client.NewUser{Email: "ann@example.org", Name: "Ann", Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := in.Admin.CreateToken(ctx, ann.ID, client.NewToken{Name: "t"})
		if err != nil {
			t.Fatal(err)
		}
		annc := in.Client(tok.Token)
		bob, bobc := in.NewUser(t, "bob@example.org", "user")
		path := fmt.Sprintf("/api/v1/users/%d", ann.ID)

		// Each field on its own.
		u, err := in.Admin.UpdateUser(ctx, ann.ID, client.UserUpdate{Name: ptr("  Ann Example ")})
		if err != nil || u.Name != "Ann Example" || u.Role != "user" {
			t.Fatalf("name: %+v, %v", u, err)
		}
		if u, err = in.Admin.UpdateUser(ctx, ann.ID, client.UserUpdate{Team: ptr("vo.example.org")}); err != nil || u.Team != "vo.example.org" || u.Name != "Ann Example" {
			t.Fatalf("team: %+v, %v", u, err)
		}
		if u, err = in.Admin.UpdateUser(ctx, ann.ID, client.UserUpdate{CertificateDNs: &[]string{"/DC=org/DC=example/CN=Ann", "CN=Ann, DC=example, DC=org"}}); err != nil ||
			!slices.Equal(u.CertificateDNs, []string{"CN=Ann,DC=example,DC=org"}) {
			t.Fatalf("certificate subjects: %+v, %v", u, err)
		}
		if u, err = in.Admin.UpdateUser(ctx, ann.ID, client.UserUpdate{Role: ptr("admin")}); err != nil || u.Role != "admin" {
			t.Fatalf("role: %+v, %v", u, err)
		}
		// The new role holds at once for Ann's token (the principal cache).
		if _, err := annc.Units(ctx); err != nil {
			t.Fatal(err)
		}
		if got := call(t, annc, "GET", "/api/v1/users", nil, nil); got != 200 {
			t.Errorf("Ann, now an administrator, lists users: status %d", got)
		}
		if u, err = in.Admin.UpdateUser(ctx, ann.ID, client.UserUpdate{Role: ptr("user"), Team: ptr("")}); err != nil || u.Role != "user" || u.Team != "" {
			t.Fatalf("role and team back: %+v, %v", u, err)
		}
		if got := call(t, annc, "GET", "/api/v1/users", nil, nil); got != 403 {
			t.Errorf("Ann, a user again, lists users: status %d, want 403", got)
		}

		// Bad input and authorisation.
		for _, c := range []struct {
			what, path, body string
			want             int
		}{
			{"name with a line break", path, `{"name":"Ann\r\nBcc: x@example.org"}`, 400},
			{"empty name", path, `{"name":"  "}`, 400},
			{"unknown role", path, `{"role":"root"}`, 400},
			{"team not slug-like", path, `{"team":"VO Atlas"}`, 400},
			{"team with NUL", path, `{"team":"a\u0000"}`, 400},
			{"malformed DN", path, `{"certificate_dns":["CN=x\nO=y"]}`, 400},
			{"disabled not a boolean", path, `{"disabled":"yes"}`, 400},
			{"unknown field", path, `{"email":"x@example.org"}`, 400},
			{"not JSON", path, `{`, 400},
			{"bad id", "/api/v1/users/x", `{"name":"x"}`, 400},
			{"unknown user", "/api/v1/users/999999", `{"name":"x"}`, 404},
		} {
			t.Run(c.what, func(t *testing.T) {
				checkError(t, in.Do(t, "PATCH", c.path, in.AdminToken, "application/json", strings.NewReader(c.body)), c.want)
			})
		}
		if _, err := in.Admin.UpdateUser(ctx, bob.ID, client.UserUpdate{CertificateDNs: &[]string{"CN=Ann,DC=example,DC=org"}}); client.StatusOf(err) != 409 {
			t.Errorf("Bob takes Ann's certificate subject: %v, want 409", err)
		}
		if got := call(t, bobc, "PATCH", path, client.UserUpdate{Name: ptr("Mallory")}, nil); got != 403 {
			t.Errorf("a user changes another: status %d, want 403", got)
		}
		bobPath := fmt.Sprintf("/api/v1/users/%d", bob.ID)
		if got := call(t, bobc, "PATCH", bobPath, client.UserUpdate{Role: ptr("admin")}, nil); got != 403 {
			t.Errorf("a user makes themselves an administrator: status %d, want 403", got)
		}
		if got := call(t, bobc, "PATCH", "/api/v1/users/999999", client.UserUpdate{Name: ptr("x")}, nil); got != 403 {
			t.Errorf("a user changes an unknown user: status %d, want 403", got)
		}
		me, err := in.Admin.Me(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := in.Admin.UpdateUser(ctx, me.ID, client.UserUpdate{Disabled: ptr(true)}); client.StatusOf(err) != 400 {
			t.Errorf("an administrator disables themselves: %v, want 400", err)
		}
		if u, err := in.Admin.UpdateUser(ctx, ann.ID, client.UserUpdate{}); err != nil || u.Name != "Ann Example" {
			t.Errorf("an empty change: %+v, %v", u, err)
		}

		// Disabling ends Ann's token and web session at once.
		br := newBrowser(t, in)
		br.signIn("ann@example.org", pw)
		if st, _ := br.get("/api/v1/me"); st != 200 {
			t.Fatalf("Ann's session on /api/v1/me: status %d", st)
		}
		if _, err := annc.Me(ctx); err != nil { // cached now
			t.Fatal(err)
		}
		if u, err = in.Admin.UpdateUser(ctx, ann.ID, client.UserUpdate{Disabled: ptr(true)}); err != nil || !u.Disabled {
			t.Fatalf("disable: %+v, %v", u, err)
		}
		var sessions int
		if err := in.App.DB.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM web_sessions WHERE user_id = $1`, ann.ID).Scan(&sessions); err != nil || sessions != 0 {
			t.Errorf("web sessions of the disabled user: %d, %v", sessions, err)
		}
		if _, err := annc.Me(ctx); client.StatusOf(err) != 401 {
			t.Errorf("a disabled user's token: %v, want 401", err)
		}
		if st, _ := br.get("/api/v1/me"); st != 401 {
			t.Errorf("a disabled user's session on /api/v1/me: status %d, want 401", st)
		}
		if st, _ := br.get("/tickets"); st != http.StatusSeeOther {
			t.Errorf("a disabled user's session on /tickets: status %d, want a redirect to sign in", st)
		}
		again := newBrowser(t, in)
		_, page := again.get("/login")
		m := formTokenRe.FindStringSubmatch(page)
		res, err := again.hc.PostForm(in.URL+"/login", url.Values{"csrf": {m[1]}, "email": {"ann@example.org"}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusSeeOther {
			t.Errorf("a disabled user signed in by password")
		}

		// Enabling again lets Ann sign in; her old token stays revoked.
		if u, err = in.Admin.UpdateUser(ctx, ann.ID, client.UserUpdate{Disabled: ptr(false)}); err != nil || u.Disabled {
			t.Fatalf("enable: %+v, %v", u, err)
		}
		if _, err := annc.Me(ctx); client.StatusOf(err) != 401 {
			t.Errorf("a token revoked by disabling works again after enabling: %v", err)
		}
		newBrowser(t, in).signIn("ann@example.org", pw)
	})
}
