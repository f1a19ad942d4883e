package lifecycle_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/lifecycle"
	"github.com/helpmesh/helpmesh/internal/testenv"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
	"github.com/helpmesh/helpmesh/internal/worktime"
)

// clock is a fake clock both nodes share.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(s string) {
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	c.now = v
	c.mu.Unlock()
}

// node is one helpmesh process: its own database handle, ticket store and
// timers.
type node struct {
	tickets *ticket.Store
	timers  *lifecycle.Timers
}

// TestTimersOnceAcrossNodes: with the GGUS defaults on working days, two
// nodes scanning at once on one database close a solved ticket once and
// send each reminder once, at the working time the calendar says (a
// reminder that fell due while nobody scanned is sent late, once).
func TestTimersOnceAcrossNodes(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			var dsn string
			if engine == "sqlite" {
				dsn = filepath.Join(t.TempDir(), "helpmesh.db")
			} else {
				dsn = testenv.PostgresDSN(t)
			}
			testTimersOnce(t, dsn)
		})
	}
}

func testTimersOnce(t *testing.T, dsn string) {
	ctx := context.Background()
	clk := &clock{}
	clk.Set("2026-03-06T16:00:00Z") // a Friday, an hour before closing
	var mu sync.Mutex
	events := map[string]int{}
	emit := func(ctx context.Context, q db.Querier, ev ticket.Event) error {
		mu.Lock()
		events[ev.Type()]++
		mu.Unlock()
		return nil
	}
	policy := lifecycle.Policy{CloseAfter: worktime.MustDuration("10wd"), Unsolved: worktime.MustDuration("15wd"),
		Reminders: []worktime.Duration{worktime.MustDuration("5wd"), worktime.MustDuration("10wd")}}
	var nodes []node
	for range 2 {
		d := dbtest.Open(t, dsn)
		s := ticket.NewStore(d, ticket.Options{Now: clk.Now, Emit: emit})
		tm, err := lifecycle.New(lifecycle.Options{Tickets: s, Policy: policy, Calendar: worktime.Default(), Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, node{tickets: s, timers: tm})
	}
	d := dbtest.Open(t, dsn)
	users, units := user.NewStore(d), unit.NewStore(d)
	u, err := users.Create(ctx, user.NewUser{Email: "adm@example.org", Name: "adm", Role: auth.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	adm, err := users.Principal(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := units.CreateUnit(ctx, unit.Unit{Slug: "ops", Name: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	s := nodes[0].tickets
	open := func(to ticket.Status) int64 {
		t.Helper()
		tk, err := s.Create(ctx, adm, ticket.NewTicket{Subject: "s", Body: "b", UnitID: ops.ID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, adm, tk.ID, ticket.Update{Status: &to}); err != nil {
			t.Fatal(err)
		}
		return tk.ID
	}
	solved, waiting, verified := open(ticket.Solved), open(ticket.WaitingForReply), open(ticket.Solved)
	if _, err := s.Update(ctx, adm, verified, ticket.Update{Status: new(ticket.Verified)}); err != nil {
		t.Fatal(err)
	}

	// Both nodes scan four times at once.
	scan := func() lifecycle.Done {
		t.Helper()
		var total lifecycle.Done
		var wg sync.WaitGroup
		for _, n := range nodes {
			for range 4 {
				wg.Go(func() {
					got, err := n.timers.Scan(ctx)
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					total.Closed += got.Closed
					total.Reminded += got.Reminded
					total.Unsolved += got.Unsolved
					mu.Unlock()
				})
			}
		}
		wg.Wait()
		return total
	}
	status := func(id int64) ticket.Status {
		t.Helper()
		tk, err := nodes[1].tickets.Get(ctx, adm, id)
		if err != nil {
			t.Fatal(err)
		}
		return tk.Status
	}

	// A minute before ten working days: nothing is due but the first
	// reminder (at five), which nobody sent in time: it goes now.
	clk.Set("2026-03-20T15:59:00Z")
	if got := scan(); got != (lifecycle.Done{Reminded: 1}) {
		t.Errorf("before ten working days: %+v", got)
	}
	// Ten working days (two weeks) after: closed, the second reminder.
	clk.Set("2026-03-20T16:00:00Z")
	if got := scan(); got != (lifecycle.Done{Closed: 1, Reminded: 1}) {
		t.Errorf("at ten working days: %+v", got)
	}
	if status(solved) != ticket.Closed || status(waiting) != ticket.WaitingForReply || status(verified) != ticket.Verified {
		t.Errorf("statuses %s %s %s", status(solved), status(waiting), status(verified))
	}
	// Fifteen working days: unsolved; ten more: closed.
	clk.Set("2026-03-27T16:00:00Z")
	if got := scan(); got != (lifecycle.Done{Unsolved: 1}) {
		t.Errorf("at fifteen working days: %+v", got)
	}
	clk.Set("2026-04-10T15:59:59Z")
	if got := scan(); got != (lifecycle.Done{}) {
		t.Errorf("before closing the unsolved ticket: %+v", got)
	}
	clk.Set("2026-04-10T16:00:00Z")
	if got := scan(); got != (lifecycle.Done{Closed: 1}) {
		t.Errorf("closing the unsolved ticket: %+v", got)
	}
	if got := scan(); got != (lifecycle.Done{}) {
		t.Errorf("a scan after all is done: %+v", got)
	}

	// Nobody but the timer acts as the timer does.
	other := open(ticket.WaitingForReply)
	seen := ticket.Timed{ID: other, UnitID: ops.ID, Status: ticket.WaitingForReply, Since: clk.Now()}
	if ok, err := s.Remind(ctx, adm, seen, 1); ok || err == nil || !strings.Contains(err.Error(), "may not send reminders") {
		t.Errorf("an administrator sends a reminder: %v %v", ok, err)
	}
	if ok, err := s.Expire(ctx, adm, ticket.Timed{ID: solved, Status: ticket.Closed}, ticket.Closed); ok || err != nil {
		t.Errorf("expire a ticket that is not as seen: %v %v", ok, err)
	}
	if _, err := s.Update(ctx, adm, other, ticket.Update{Status: new(ticket.Solved)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, adm, other, ticket.Update{Status: new(ticket.Closed)}); err == nil || !strings.Contains(err.Error(), "only the lifecycle timer closes") {
		t.Errorf("an administrator closes: %v", err)
	}

	var did []string
	for _, id := range []int64{solved, waiting, verified, other} {
		hs, err := s.History(ctx, adm, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			if h.Actor == "timer" {
				did = append(did, h.Action+":"+h.New+"@"+h.At.UTC().Format("01-02T15:04"))
			}
		}
	}
	want := "changed:closed@03-20T16:00 reminded:1@03-20T15:59 reminded:2@03-20T16:00 changed:unsolved@03-27T16:00 changed:closed@04-10T16:00"
	if got := strings.Join(did, " "); got != want {
		t.Errorf("the timer's history:\n got %s\nwant %s", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if events["ticket.reminder"] != 2 || events["ticket.closed"] != 2 {
		t.Errorf("events %v", events)
	}
}

func TestNewChecksOptions(t *testing.T) {
	if _, err := lifecycle.New(lifecycle.Options{}); err == nil {
		t.Error("no tickets, no calendar: accepted")
	}
}
