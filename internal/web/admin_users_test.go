package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/auth"
)

// TestAdminEditsUsers edits a user's name, role and team on /admin/users,
// refuses bad values and non-administrators, and disables and enables a
// user: their session ends at once and they cannot sign in, by password
// or by a link mailed before.
func TestAdminEditsUsers(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx := context.Background()
		admin := e.client()
		admin.login("root@example.org")
		path := fmt.Sprintf("/admin/users/%d", e.req.ID)

		r := admin.get("/admin/users")
		if r.status != 200 || !strings.Contains(r.body, `action="`+path+`"`) || !strings.Contains(r.body, `action="`+path+`/disabled"`) {
			t.Fatalf("users page: %d %s", r.status, excerpt(r.body))
		}
		if r := admin.post(path, url.Values{"name": {"Ada King"}, "role": {"admin"}, "team": {"atlas"}}); r.status != http.StatusSeeOther {
			t.Fatalf("edit: %d %s", r.status, excerpt(r.body))
		}
		u, _ := e.users.Get(ctx, e.req.ID)
		if u.Name != "Ada King" || u.Role != auth.RoleAdmin || u.Team != "atlas" {
			t.Errorf("after the edit: %+v", u)
		}
		for _, bad := range []url.Values{
			{"name": {"Ada\nKing"}, "role": {"user"}, "team": {""}},
			{"name": {"Ada"}, "role": {"root"}, "team": {""}},
			{"name": {"Ada"}, "role": {"user"}, "team": {"Not A Slug"}},
		} {
			if r := admin.post(path, bad); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "User ") {
				t.Errorf("%v: status %d %s", bad, r.status, excerpt(r.body))
			}
		}
		if u, _ := e.users.Get(ctx, e.req.ID); u.Name != "Ada King" || u.Team != "atlas" {
			t.Errorf("a refused edit changed the user: %+v", u)
		}
		if r := admin.post("/admin/users/999999", url.Values{"name": {"x"}, "role": {"user"}}); r.status != 404 {
			t.Errorf("an unknown user: status %d", r.status)
		}
		if r := admin.post(path+"/disabled", url.Values{"disabled": {"maybe"}}); r.status != http.StatusUnprocessableEntity {
			t.Errorf("disabled=maybe: status %d", r.status)
		}
		if r := admin.post(fmt.Sprintf("/admin/users/%d/disabled", e.admin.ID), url.Values{"disabled": {"1"}}); r.status != http.StatusUnprocessableEntity {
			t.Errorf("an administrator disables themselves: status %d", r.status)
		}
		if r := admin.post(path, url.Values{"name": {"Ada Lovelace"}, "role": {"user"}, "team": {""}}); r.status != http.StatusSeeOther {
			t.Fatalf("edit back: %d", r.status)
		}

		// Not for other people.
		bob := e.client()
		bob.login("bob@example.org")
		if r := bob.post(path, url.Values{"name": {"Mallory"}, "role": {"admin"}}); r.status != http.StatusForbidden {
			t.Errorf("a user edits another: status %d", r.status)
		}
		if r := bob.post(fmt.Sprintf("/admin/users/%d/disabled", e.other.ID), url.Values{"disabled": {"1"}}); r.status != http.StatusForbidden {
			t.Errorf("a user disables someone: status %d", r.status)
		}

		// Disabling ends Ada's session at once; no sign-in after.
		ada := e.client()
		ada.login("ada@example.org")
		if r := ada.get("/tickets"); r.status != 200 {
			t.Fatalf("Ada's tickets: %d", r.status)
		}
		link, err := e.h.links.create(ctx, e.req.ID, linkSignIn)
		if err != nil {
			t.Fatal(err)
		}
		if r := admin.post(path+"/disabled", url.Values{"disabled": {"1"}}); r.status != http.StatusSeeOther {
			t.Fatalf("disable: %d %s", r.status, excerpt(r.body))
		}
		var sessions int
		if err := e.db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM web_sessions WHERE user_id = $1`, e.req.ID).Scan(&sessions); err != nil || sessions != 0 {
			t.Errorf("sessions of the disabled user: %d, %v", sessions, err)
		}
		if r := ada.get("/tickets"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/login") {
			t.Errorf("the disabled user's session: %d %q", r.status, r.location)
		}
		if r := admin.get("/admin/users"); !strings.Contains(r.body, "disabled</span>") || !strings.Contains(r.body, ">Enable</button>") {
			t.Errorf("the users page does not show Ada disabled")
		}
		again := e.client()
		if r := again.post("/login", url.Values{"email": {"ada@example.org"}, "password": {testPassword}}); r.status != http.StatusUnauthorized {
			t.Errorf("a disabled user signs in by password: %d", r.status)
		}
		if r := again.post("/login/link/"+link, nil); r.status == http.StatusSeeOther {
			t.Errorf("a disabled user signed in with a link mailed before")
		}

		if r := admin.post(path+"/disabled", url.Values{"disabled": {"0"}}); r.status != http.StatusSeeOther {
			t.Fatalf("enable: %d", r.status)
		}
		e.client().login("ada@example.org")
	})
}
