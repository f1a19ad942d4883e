package web

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/identity"
)

// TestNotificationsPage: a person unticks kinds of notice on
// /account/notifications and the store then mutes exactly those; signed
// out, the page asks to sign in.
func TestNotificationsPage(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) { notificationsPage(t, dsn) })
}

func notificationsPage(t *testing.T, dsn string) {
	e := newEnv(t, dsn)
	if r := e.client().get("/account/notifications"); r.status == 200 {
		t.Fatalf("signed out: %d", r.status)
	}
	c := e.client()
	c.login("ada@example.org")
	r := c.get("/account/notifications")
	if r.status != 200 || !strings.Contains(r.body, `id="notice-reply"`) || !strings.Contains(r.body, "checked") {
		t.Fatalf("page: %d %s", r.status, excerpt(r.body))
	}
	r = c.post("/account/notifications", url.Values{"on": {"reply", "auto_reply", "nonsense"}})
	if r.status != 303 {
		t.Fatalf("save: %d %s", r.status, excerpt(r.body))
	}
	u, err := e.users.GetByEmail(context.Background(), "ada@example.org")
	if err != nil {
		t.Fatal(err)
	}
	muted, err := e.users.MutedKinds(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(muted, ","), "assigned,escalated,escalated_by_user,new_ticket,note,reminder,status"; got != want {
		t.Errorf("muted after the form: %s, want %s", got, want)
	}
	if page := c.get("/account/notifications"); !strings.Contains(page.body, "were saved") || strings.Contains(page.body, `id="notice-status" checked`) {
		t.Errorf("page after saving: %s", excerpt(page.body))
	}
}

// TestAccountMenuLinks: the account menu of the portal (a requester's
// home) and of the workspace (a supporter's queue) links to the
// notification preferences, and, with federated identity, to the supporter
// privileges and API tokens pages; each of them answers.
func TestAccountMenuLinks(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "h.db"), func(d *Deps) {
		d.Identity = identity.NewStore(d.DB, d.Users, d.Units, time.Now)
	})
	pages := []struct{ who, page string }{{"ada@example.org", "/"}, {"sam@support.example.org", "/queue/compute"}}
	for _, p := range pages {
		c := e.client()
		c.login(p.who)
		r := c.get(p.page)
		if r.status != 200 {
			t.Fatalf("%s %s: %d", p.who, p.page, r.status)
		}
		_, menu, ok := strings.Cut(r.body, `class="menu-pop"`)
		if !ok {
			t.Fatalf("%s %s: no account menu", p.who, p.page)
		}
		menu, _, _ = strings.Cut(menu, "</details>")
		for _, link := range []string{"/account/notifications", "/access", "/account/tokens"} {
			if !strings.Contains(menu, `href="`+link+`"`) {
				t.Errorf("%s %s: the account menu has no link to %s", p.who, p.page, link)
			}
			if r := c.get(link); r.status != 200 {
				t.Errorf("%s: %s answers %d", p.who, link, r.status)
			}
		}
	}
}
