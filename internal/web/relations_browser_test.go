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

// relationTickets opens, for ada, a master-to-be, a slave-to-be and a
// child-to-be in the compute unit, and returns their ids.
func relationTickets(t *testing.T, e *env) (master, slave, child int64) {
	t.Helper()
	ids := make([]int64, 3)
	for i, subj := range []string{"Storage cluster down in the whole region since the upgrade", "Cannot upload results", "Site two: disk full"} {
		tk, err := e.tickets.Create(context.Background(), e.principal(e.req), ticket.NewTicket{Subject: subj, Body: "details", UnitID: e.unit.ID})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = tk.ID
	}
	return ids[0], ids[1], ids[2]
}

// TestRelationsForm: the staff's relations panel relates and unlinks; bad
// input and the GGUS refusals come back in the panel as 4xx pages; the
// requester sees the list but no form and cannot post it.
func TestRelationsForm(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		master, slave, _ := relationTickets(t, e)
		staff := e.client()
		staff.login("sam@support.example.org")
		path := fmt.Sprintf("/tickets/%d", master)
		if r := staff.post(path+"/relations", url.Values{"kind": {"master_of"}, "other": {fmt.Sprintf("#%d", slave)}}); r.status != 303 {
			t.Fatalf("relate: %d %s", r.status, excerpt(r.body))
		}
		for _, c := range []struct {
			name  string
			form  url.Values
			want  int
			shows string
		}{
			{"no number", url.Values{"kind": {"related"}, "other": {"abc"}}, 422, "the other ticket"},
			{"itself", url.Values{"kind": {"related"}, "other": {fmt.Sprint(master)}}, 422, "itself"},
			{"unknown kind", url.Values{"kind": {"cousin_of"}, "other": {fmt.Sprint(slave)}}, 422, "is not one of"},
			{"again", url.Values{"kind": {"related"}, "other": {fmt.Sprint(slave)}}, 409, "related already"},
			{"no such ticket", url.Values{"kind": {"related"}, "other": {"99999"}}, 422, "ticket 99999"},
		} {
			r := staff.post(path+"/relations", c.form)
			if r.status != c.want || !strings.Contains(r.body, c.shows) {
				t.Errorf("%s: %d, want %d with %q: %s", c.name, r.status, c.want, c.shows, excerpt(r.body))
			}
		}
		page := staff.get(fmt.Sprintf("/tickets/%d", slave))
		if !strings.Contains(page.body, "Slave of") || !strings.Contains(page.body, fmt.Sprintf("/tickets/%d", master)) || !strings.Contains(page.body, "on hold as the slave of master") {
			t.Errorf("slave's page lacks the relation or its reason: %s", excerpt(page.body))
		}
		req := e.client()
		req.login("ada@example.org")
		rp := req.get(path)
		if !strings.Contains(rp.body, "Master of") || strings.Contains(rp.body, `action="`+path+`/relations"`) {
			t.Errorf("requester's view of the relations panel: %s", excerpt(rp.body))
		}
		if r := req.post(path+"/relations", url.Values{"kind": {"related"}, "other": {fmt.Sprint(slave)}}); r.status != 403 {
			t.Errorf("requester relates: %d", r.status)
		}
		rs, err := e.tickets.Relations(context.Background(), e.principal(e.staff), master)
		if err != nil || len(rs) != 1 {
			t.Fatalf("relations: %+v %v", rs, err)
		}
		if r := staff.post(path+"/relations/remove", url.Values{"rid": {"x"}}); r.status != 422 {
			t.Errorf("bad rid: %d", r.status)
		}
		if r := staff.post(path+"/relations/remove", url.Values{"rid": {fmt.Sprint(rs[0].ID)}}); r.status != 303 {
			t.Errorf("unlink: %d %s", r.status, excerpt(r.body))
		}
		if tk, err := e.tickets.Get(context.Background(), e.principal(e.staff), slave); err != nil || tk.Status != ticket.InProgress {
			t.Errorf("released slave: %+v %v", tk, err)
		}
	})
}

// TestBrowserRelationsPanel: a supporter relates tickets from the staff
// ticket page in Chromium, at 1280 and 390 px; the panel lists kind,
// status and a link, and fits the screen.
func TestBrowserRelationsPanel(t *testing.T) {
	open := testenv.Browser(t)
	e := newEnv(t, filepath.Join(t.TempDir(), "h.db"))
	base := e.srv.URL
	master, slave, child := relationTickets(t, e)
	ctx, cancel := open()
	defer cancel()
	if err := chromedp.Run(ctx, signIn(base, "sam@support.example.org")); err != nil {
		t.Fatal(err)
	}
	// Each relation, once added, is a link in the panel's list.
	relate := func(kind string, other int64) chromedp.Tasks {
		return chromedp.Tasks{
			chromedp.SetValue(`#rel-kind`, kind, chromedp.ByID),
			chromedp.SendKeys(`#rel-other`, fmt.Sprint(other), chromedp.ByID),
			chromedp.Submit(`#rel-other`, chromedp.ByID),
			chromedp.WaitVisible(fmt.Sprintf(`.relations-list a[href="/tickets/%d"]`, other), chromedp.ByQuery),
			waitFlash("related"),
		}
	}
	var panel string
	err := chromedp.Run(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/tickets/%d", base, master)),
		chromedp.WaitVisible(`#rel-kind`, chromedp.ByID),
		relate("master_of", slave),
		relate("parent_of", child),
		chromedp.Text(`.relations-list`, &panel, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("#%d Cannot upload results", slave), fmt.Sprintf("#%d Site two", child), "Master of", "Parent of", "On hold", "Assigned"} {
		if !strings.Contains(panel, want) {
			t.Errorf("relations panel lacks %q: %q", want, panel)
		}
	}
	// A refusal shows in the panel.
	var msg string
	err = chromedp.Run(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/tickets/%d", base, slave)),
		chromedp.WaitVisible(`#rel-kind`, chromedp.ByID),
		chromedp.SetValue(`#rel-kind`, "master_of", chromedp.ByID),
		chromedp.SendKeys(`#rel-other`, fmt.Sprint(child), chromedp.ByID),
		chromedp.Submit(`#rel-other`, chromedp.ByID),
		chromedp.WaitVisible(`.relations .field-error`, chromedp.ByQuery),
		chromedp.Text(`.relations .field-error`, &msg, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "a slave cannot be a master") {
		t.Errorf("refusal shown: %q", msg)
	}
	for _, sw := range screenWidths {
		emulate := chromedp.EmulateViewport(sw.Width, sw.Height)
		if sw.Mobile {
			emulate = chromedp.EmulateViewport(sw.Width, sw.Height, chromedp.EmulateMobile)
		}
		var scroll int64
		err := chromedp.Run(ctx, emulate,
			chromedp.Navigate(fmt.Sprintf("%s/tickets/%d", base, master)),
			chromedp.WaitVisible(`.relations`, chromedp.ByQuery),
			shot(t, "relations-"+sw.Name),
			chromedp.Evaluate(`document.documentElement.scrollWidth`, &scroll),
		)
		if err != nil {
			t.Fatal(err)
		}
		if scroll > sw.Width {
			var wide string
			_ = chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(widestElements, sw.Width), &wide))
			t.Errorf("ticket page with relations at %s is %d px wide: %s", sw.Name, scroll, wide)
		}
	}
}
