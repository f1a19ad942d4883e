package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// newEmptyEnv is a web handler on a fresh database without any user, as
// helpmesh serve on an empty data directory.
func newEmptyEnv(t *testing.T, dsn string) *env {
	t.Helper()
	d := dbtest.Open(t, dsn)
	e := &env{t: t, db: d, users: user.NewStore(d), units: unit.NewStore(d), tickets: ticket.NewStore(d, ticket.Options{}), mail: &fakeMailer{}}
	e.h = New(Deps{DB: d, Users: e.users, Units: e.units, Tickets: e.tickets, InstanceName: "Test Helpdesk"})
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) setupToken() string {
	e.t.Helper()
	token, err := e.users.NewSetupToken(context.Background())
	if err != nil || token == "" {
		e.t.Fatalf("setup token: %q, %v", token, err)
	}
	return token
}

func TestSetup(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEmptyEnv(t, dsn)
		token := e.setupToken()
		path := "/setup/" + token
		c := e.client()

		r := c.get(path)
		if r.status != 200 || !strings.Contains(r.body, `name="email"`) || !strings.Contains(r.body, `name="name"`) ||
			!strings.Contains(r.body, `name="password"`) || !strings.Contains(r.body, `name="csrf"`) {
			t.Fatalf("setup page: %d %s", r.status, excerpt(r.body))
		}
		if r := e.client().get("/setup/" + strings.Repeat("x", 43)); r.status != 404 {
			t.Errorf("an unknown token: status %d", r.status)
		}
		if r := e.client().post(path, url.Values{"email": {"root@example.org"}, "name": {"Root"}, "password": {testPassword}, "csrf": {"forged-token-of-thirty-chars-x"}}); r.status != 403 {
			t.Errorf("a forged form token: status %d", r.status)
		}

		// Bad input: the page again with the error, the token still valid.
		for _, bad := range []url.Values{
			{"email": {"not an address"}, "name": {"Root"}, "password": {testPassword}},
			{"email": {"root@example.org"}, "name": {"Root\r\nBcc: x"}, "password": {testPassword}},
			{"email": {"root@example.org"}, "name": {"Root"}, "password": {"short"}},
			{"email": {"root@example.org"}, "name": {"Root"}},
		} {
			if r := c.post(path, bad); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "alert-error") {
				t.Errorf("%v: status %d: %s", bad, r.status, excerpt(r.body))
			}
		}
		if n, _ := e.users.Count(context.Background()); n != 0 {
			t.Fatalf("bad input created %d users", n)
		}

		r = c.post(path, url.Values{"email": {"Root@Example.org"}, "name": {"Rita Root"}, "password": {testPassword}})
		if r.status != http.StatusSeeOther || r.location != "/admin/units" {
			t.Fatalf("setup: %d %q %s", r.status, r.location, excerpt(r.body))
		}
		u, err := e.users.GetByEmail(context.Background(), "root@example.org")
		if err != nil || u.Role != auth.RoleAdmin || u.Name != "Rita Root" || !u.HasPassword {
			t.Fatalf("the first administrator: %+v, %v", u, err)
		}
		// Signed in as the administrator.
		if r := c.get("/admin/users"); r.status != 200 || !strings.Contains(r.body, "root@example.org") {
			t.Errorf("the administrator's users page: %d", r.status)
		}
		// The address works once; any other token too is refused now.
		if r := e.client().get(path); r.status != 404 {
			t.Errorf("the setup page after use: status %d", r.status)
		}
		other := e.client()
		other.get("/login")
		if r := other.post(path, url.Values{"email": {"eve@example.org"}, "name": {"Eve"}, "password": {testPassword}}); r.status != 404 {
			t.Errorf("a second use: status %d", r.status)
		}
		if token, err := e.users.NewSetupToken(context.Background()); err != nil || token != "" {
			t.Errorf("a setup token once a user exists: %q, %v", token, err)
		}
		if n, _ := e.users.Count(context.Background()); n != 1 {
			t.Errorf("%d users, want 1", n)
		}
	})
}

// TestSetupRace sends several setup forms at once, with the same token and
// with two tokens (two nodes started): one administrator is created.
func TestSetupRace(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEmptyEnv(t, dsn)
		tokens := []string{e.setupToken(), e.setupToken()}
		const n = 6
		clients := make([]*client, n)
		for i := range clients {
			clients[i] = e.client()
			clients[i].get("/setup/" + tokens[i%2])
		}
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Go(func() {
				email := "admin" + string(rune('a'+i)) + "@example.org"
				statuses[i] = c.post("/setup/"+tokens[i%2], url.Values{"email": {email}, "name": {"Admin"}, "password": {testPassword}}).status
			})
		}
		wg.Wait()
		won := 0
		for _, s := range statuses {
			switch s {
			case http.StatusSeeOther:
				won++
			case http.StatusNotFound:
			default:
				t.Errorf("a setup submission: status %d", s)
			}
		}
		if won != 1 {
			t.Errorf("%d submissions succeeded (%v), want 1", won, statuses)
		}
		if c, _ := e.users.Count(context.Background()); c != 1 {
			t.Errorf("%d users, want 1", c)
		}
	})
}
