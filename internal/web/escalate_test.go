package web

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/helpmesh/helpmesh/internal/testenv"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// TestEscalateForm: the requester sees the Escalate form with the level,
// escalates with a reason, gets 422 with the form's message for a bad
// one; someone who only watches sees no form and gets 403.
func TestEscalateForm(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx := context.Background()
		tk, err := e.tickets.Create(ctx, e.principal(e.req), ticket.NewTicket{Subject: "Slow disks", Body: "IO waits", UnitID: e.unit.ID, Source: ticket.FromWeb})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.tickets.AddWatcher(ctx, e.principal(e.req), tk.ID, "bob@example.org", ticket.FromWeb); err != nil {
			t.Fatal(err)
		}
		path := fmt.Sprintf("/tickets/%d", tk.ID)
		c := e.client()
		c.login("ada@example.org")
		page := c.get(path)
		for _, want := range []string{`action="` + path + `/escalate"`, "Level 0 of 3 now", "tells the unit;", "Escalate to level 1"} {
			if !strings.Contains(page.body, want) {
				t.Errorf("ticket page lacks %q", want)
			}
		}
		if r := c.post(path+"/escalate", url.Values{"reason": {" "}}); r.status != 422 || !strings.Contains(r.body, `<p class="field-error" role="alert">The reason is required.</p>`) {
			t.Errorf("empty reason: %d %s", r.status, excerpt(r.body))
		}
		r := c.post(path+"/escalate", url.Values{"reason": {"No answer since Monday"}})
		if r.status != 303 || r.location != path {
			t.Fatalf("escalate: %d %q %s", r.status, r.location, excerpt(r.body))
		}
		page = c.get(path)
		for _, want := range []string{"level 1 of 3", "escalated to level <b>1</b>", "Level 1 of 3 now", "unit, ticket handler team;", "Escalate to level 2"} {
			if !strings.Contains(page.body, want) {
				t.Errorf("after escalating, the page lacks %q", want)
			}
		}
		// The watcher sees the ticket, not the form, and may not escalate.
		o := e.client()
		o.login("bob@example.org")
		if page := o.get(path); page.status != 200 || strings.Contains(page.body, "/escalate") {
			t.Errorf("watcher's page: %d, has the form: %v", page.status, strings.Contains(page.body, "/escalate"))
		}
		if r := o.post(path+"/escalate", url.Values{"reason": {"me too"}}); r.status != 403 {
			t.Errorf("watcher escalates: %d", r.status)
		}
		// At level 3 the form is gone.
		for range 2 {
			if _, err := e.tickets.Escalate(ctx, e.principal(e.req), tk.ID, "still", ticket.FromWeb); err != nil {
				t.Fatal(err)
			}
		}
		if page := c.get(path); strings.Contains(page.body, `action="`+path+`/escalate"`) || !strings.Contains(page.body, "level 3 of 3") {
			t.Errorf("at level 3 the page still offers the form, or lacks the level")
		}
		if r := c.post(path+"/escalate", url.Values{"reason": {"more"}}); r.status != 409 {
			t.Errorf("a fourth escalation: %d", r.status)
		}
	})
}

// TestEscalateFormBrowser: the form works in a browser at 1280 and 390 px
// (screenshots web/escalate-*.png).
func TestEscalateFormBrowser(t *testing.T) {
	open := testenv.Browser(t)
	e := newEnv(t, filepath.Join(t.TempDir(), "h.db"))
	ctx := context.Background()
	tk, err := e.tickets.Create(ctx, e.principal(e.req), ticket.NewTicket{Subject: "Slow disks", Body: "IO waits", UnitID: e.unit.ID, Source: ticket.FromWeb})
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := open()
	defer cancel()
	if err := chromedp.Run(bctx, signIn(e.srv.URL, "ada@example.org")); err != nil {
		t.Fatal(err)
	}
	for i, width := range []int64{1280, 390} {
		var level string
		err := chromedp.Run(bctx,
			chromedp.EmulateViewport(width, 900),
			chromedp.Navigate(fmt.Sprintf("%s/tickets/%d", e.srv.URL, tk.ID)),
			chromedp.WaitVisible(`#escalate-reason`, chromedp.ByID),
			shot(t, fmt.Sprintf("escalate-form-%d", width)),
			chromedp.SendKeys(`#escalate-reason`, "Nobody answered for a week", chromedp.ByID),
			chromedp.Submit(`#escalate-reason`, chromedp.ByID),
			waitFlash("escalated"),
			chromedp.Text(`#escalate-title + p`, &level, chromedp.ByQuery),
			shot(t, fmt.Sprintf("escalate-done-%d", width)),
		)
		if err != nil {
			t.Fatalf("at %d px: %v", width, err)
		}
		if want := fmt.Sprintf("Level %d of 3", i+1); !strings.Contains(level, want) {
			t.Errorf("at %d px the form says %q, want %q", width, level, want)
		}
	}
}
