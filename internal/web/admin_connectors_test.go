package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/testenv"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// fakeConnectors is one failing connector "rt" with a dead item 7, and
// links and a sync log for one ticket.
type fakeConnectors struct {
	mu       sync.Mutex
	ticketID int64
	done     []string
}

func (f *fakeConnectors) List(ctx context.Context) ([]*connector.Connector, error) {
	at := time.Now().Add(-time.Minute)
	return []*connector.Connector{{Name: "rt", Kind: "rt5", URL: "https://rt.example", PollInterval: 30 * time.Second,
		State: connector.StateFailing, LastError: "connection refused", LastSyncAt: &at, Pending: 2, Dead: 1,
		Reconciliation: connector.Reconciliation{At: &at, Checked: 4, Repaired: 2, Failed: 1, Error: "ticket 9 is gone"}}}, nil
}

func (f *fakeConnectors) DeadItems(ctx context.Context, name string) ([]connector.Item, error) {
	return []connector.Item{{ID: 7, TicketID: f.ticketID, Op: "status", Value: "solved", State: "dead", Attempts: 1, LastError: "422 workflow refuses"}}, nil
}

func (f *fakeConnectors) act(what string, id int64) error {
	if id != 7 {
		return apperr.New(apperr.NotFound, "no item %d", id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = append(f.done, fmt.Sprintf("%s %d", what, id))
	return nil
}

func (f *fakeConnectors) Retry(ctx context.Context, name string, id int64) error {
	return f.act("retry", id)
}
func (f *fakeConnectors) Skip(ctx context.Context, name string, id int64) error {
	return f.act("skip", id)
}

func (f *fakeConnectors) Reconcile(ctx context.Context, name string) (connector.Reconciliation, error) {
	if name != "rt" {
		return connector.Reconciliation{}, apperr.New(apperr.NotFound, "no connector %q", name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = append(f.done, "reconcile "+name)
	return connector.Reconciliation{Checked: 3, Repaired: 1}, nil
}

func (f *fakeConnectors) Links(ctx context.Context, id int64) ([]connector.Link, error) {
	if id != f.ticketID {
		return nil, nil
	}
	return []connector.Link{{Connector: "rt", RemoteID: "4711", RemoteURL: "https://rt.example/Ticket/Display.html?id=4711", State: "linked", LastSyncAt: time.Now()}}, nil
}

func (f *fakeConnectors) SyncLog(ctx context.Context, id int64) ([]connector.SyncEntry, error) {
	return []connector.SyncEntry{{Connector: "rt", Direction: "in", What: "status solved", Result: "kept verified: never regressed", At: time.Now()}}, nil
}

// TestAdminConnectors: /admin/connectors shows each connector's state,
// last sync, pending and dead items with retry and skip buttons, for
// administrators only; the staff ticket page shows the ticket's links and
// its sync log, the requester's only the links.
func TestAdminConnectors(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx := context.Background()
		sp, err := e.users.Principal(ctx, e.req.ID)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := e.units.Service(ctx, "hpc")
		if err != nil {
			t.Fatal(err)
		}
		tk, err := e.tickets.Create(ctx, sp, ticket.NewTicket{Subject: "jobs stuck", Body: "since noon", ServiceID: svc.ID, UnitID: svc.UnitID})
		if err != nil {
			t.Fatal(err)
		}
		fake := &fakeConnectors{ticketID: tk.ID}
		e.h.d.Connectors = fake

		admin := e.client()
		admin.login("root@example.org")
		r := admin.get("/admin/connectors")
		for _, want := range []string{">rt<", "failing", "connection refused", "Dead items of rt", `action="/admin/connectors/rt/items/7/retry"`, `action="/admin/connectors/rt/items/7/skip"`, "status solved",
			`action="/admin/connectors/rt/reconcile"`, "4 checked, 2 repaired, 1 failed", "ticket 9 is gone"} {
			if r.status != 200 || !strings.Contains(r.body, want) {
				t.Fatalf("connectors page lacks %q: %d %s", want, r.status, excerpt(r.body))
			}
		}
		if r := admin.post("/admin/connectors/rt/items/7/retry", url.Values{}); r.status != http.StatusSeeOther {
			t.Fatalf("retry: %d %s", r.status, excerpt(r.body))
		}
		if r := admin.post("/admin/connectors/rt/items/7/skip", url.Values{}); r.status != http.StatusSeeOther {
			t.Fatalf("skip: %d", r.status)
		}
		if r := admin.post("/admin/connectors/rt/items/8/retry", url.Values{}); r.status != http.StatusNotFound {
			t.Errorf("retry of no item: %d", r.status)
		}
		for _, bad := range []string{"/admin/connectors/rt/items/7/explode", "/admin/connectors/rt/items/x/retry"} {
			if r := admin.post(bad, url.Values{}); r.status != http.StatusNotFound {
				t.Errorf("%s: %d", bad, r.status)
			}
		}
		if r := admin.post("/admin/connectors/rt/reconcile", url.Values{}); r.status != http.StatusSeeOther {
			t.Fatalf("reconcile: %d %s", r.status, excerpt(r.body))
		}
		if r := admin.post("/admin/connectors/nope/reconcile", url.Values{}); r.status != http.StatusNotFound {
			t.Errorf("reconcile of no connector: %d", r.status)
		}
		if got := strings.Join(fake.done, ","); got != "retry 7,skip 7,reconcile rt" {
			t.Errorf("done: %s", got)
		}

		user := e.client()
		user.login("ada@example.org")
		if r := user.get("/admin/connectors"); r.status != http.StatusForbidden {
			t.Errorf("a requester on the connectors page: %d", r.status)
		}
		if r := user.post("/admin/connectors/rt/reconcile", url.Values{}); r.status != http.StatusForbidden {
			t.Errorf("a requester reconciling: %d", r.status)
		}
		r = user.get(fmt.Sprintf("/tickets/%d", tk.ID))
		if !strings.Contains(r.body, ">4711</a>") || strings.Contains(r.body, "never regressed") {
			t.Errorf("requester's ticket page: links shown %v, sync log hidden %v", strings.Contains(r.body, ">4711</a>"), !strings.Contains(r.body, "never regressed"))
		}
		staff := e.client()
		staff.login("sam@support.example.org")
		r = staff.get(fmt.Sprintf("/tickets/%d", tk.ID))
		if !strings.Contains(r.body, ">4711</a>") || !strings.Contains(r.body, "received status solved: kept verified: never regressed") {
			t.Errorf("staff ticket page lacks the links or the sync log: %s", excerpt(r.body))
		}
	})
}

// TestConnectorsPageOnAPhone: /admin/connectors, with a dead item, fits a
// 390 px wide screen (no sideways scrolling).
func TestConnectorsPageOnAPhone(t *testing.T) {
	open := testenv.Browser(t)
	e := newEnv(t, filepath.Join(t.TempDir(), "h.db"))
	e.h.d.Connectors = &fakeConnectors{ticketID: 1}
	ctx, cancel := open()
	defer cancel()
	var width int
	err := chromedp.Run(ctx,
		signIn(e.srv.URL, "root@example.org"),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(e.srv.URL+"/admin/connectors"), chromedp.WaitVisible(`.dtable`, chromedp.ByQuery),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &width),
		shot(t, "20-admin-connectors-phone"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if width > 390 {
		t.Errorf("the page is %d px wide on a 390 px screen", width)
	}
}
