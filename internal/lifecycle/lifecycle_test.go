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
	"github.com/helpmesh/helpmesh/internal/sla"
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

// fixture is one database that two nodes share, with an administrator
// (who opens the tickets, so is their requester) and a unit.
type fixture struct {
	clk   *clock
	nodes []node
	s     *ticket.Store // node 0's
	adm   *auth.Principal
	ops   *unit.Unit
	units *unit.Store

	mu     sync.Mutex
	events map[string]int // by type, over both nodes
}

// engines runs fn on a fresh SQLite file and a fresh PostgreSQL database.
func engines(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			var dsn string
			if engine == "sqlite" {
				dsn = filepath.Join(t.TempDir(), "helpmesh.db")
			} else {
				dsn = testenv.PostgresDSN(t)
			}
			fn(t, newFixture(t, dsn))
		})
	}
}

// newFixture starts two nodes with the GGUS defaults on the default
// calendar, the clock on a Friday an hour before closing.
func newFixture(t *testing.T, dsn string) *fixture {
	ctx := context.Background()
	f := &fixture{clk: &clock{}, events: map[string]int{}}
	f.clk.Set("2026-03-06T16:00:00Z")
	emit := func(ctx context.Context, q db.Querier, ev ticket.Event) error {
		f.mu.Lock()
		f.events[ev.Type()]++
		f.mu.Unlock()
		return nil
	}
	policy := lifecycle.Policy{CloseAfter: worktime.MustDuration("10wd"), Unsolved: worktime.MustDuration("15wd"),
		Reminders: []worktime.Duration{worktime.MustDuration("5wd"), worktime.MustDuration("10wd")}}
	for range 2 {
		d := dbtest.Open(t, dsn)
		clocks := &sla.Clocks{Units: unit.NewStore(d), Default: worktime.Default(), Warning: sla.DefaultWarning}
		s := ticket.NewStore(d, ticket.Options{Now: f.clk.Now, Emit: emit, ResponseClock: clocks.Deadlines})
		tm, err := lifecycle.New(lifecycle.Options{Tickets: s, Policy: policy, Calendar: worktime.Default(), Now: f.clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		f.nodes = append(f.nodes, node{tickets: s, timers: tm})
	}
	f.s = f.nodes[0].tickets
	d := dbtest.Open(t, dsn)
	users, units := user.NewStore(d), unit.NewStore(d)
	f.units = units
	u, err := users.Create(ctx, user.NewUser{Email: "adm@example.org", Name: "adm", Role: auth.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if f.adm, err = users.Principal(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if f.ops, err = units.CreateUnit(ctx, unit.Unit{Slug: "ops", Name: "ops"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// open creates a ticket and moves it to status to.
func (f *fixture) open(t *testing.T, to ticket.Status) int64 {
	t.Helper()
	ctx := context.Background()
	tk, err := f.s.Create(ctx, f.adm, ticket.NewTicket{Subject: "s", Body: "b", UnitID: f.ops.ID})
	if err != nil {
		t.Fatal(err)
	}
	f.set(t, tk.ID, to)
	return tk.ID
}

func (f *fixture) set(t *testing.T, id int64, to ticket.Status) {
	t.Helper()
	if _, err := f.s.Update(context.Background(), f.adm, id, ticket.Update{Status: &to}); err != nil {
		t.Fatal(err)
	}
}

// scan has both nodes scan four times at once, and sums what they did.
func (f *fixture) scan(t *testing.T) lifecycle.Done {
	t.Helper()
	var total lifecycle.Done
	var wg sync.WaitGroup
	for _, n := range f.nodes {
		for range 4 {
			wg.Go(func() {
				got, err := n.timers.Scan(context.Background())
				if err != nil {
					t.Error(err)
				}
				f.mu.Lock()
				total.Closed += got.Closed
				total.Reminded += got.Reminded
				total.Unsolved += got.Unsolved
				total.QoSWarnings += got.QoSWarnings
				total.QoSViolations += got.QoSViolations
				f.mu.Unlock()
			})
		}
	}
	wg.Wait()
	return total
}

// timerDid lists what the timer did to the tickets: action:new@when.
func (f *fixture) timerDid(t *testing.T, ids ...int64) string {
	t.Helper()
	var did []string
	for _, id := range ids {
		hs, err := f.s.History(context.Background(), f.adm, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			if h.Actor == "timer" {
				did = append(did, h.Action+":"+h.New+"@"+h.At.UTC().Format("01-02T15:04"))
			}
		}
	}
	return strings.Join(did, " ")
}

// TestTimersOnceAcrossNodes: with the GGUS defaults on working days, two
// nodes scanning at once on one database close a solved ticket once and
// send each reminder once, at the working time the calendar says (a
// reminder that fell due while nobody scanned is sent late, once).
func TestTimersOnceAcrossNodes(t *testing.T) {
	engines(t, testTimersOnce)
}

func testTimersOnce(t *testing.T, f *fixture) {
	ctx := context.Background()
	clk, s, adm, ops := f.clk, f.s, f.adm, f.ops
	solved, waiting, verified := f.open(t, ticket.Solved), f.open(t, ticket.WaitingForReply), f.open(t, ticket.Solved)
	f.set(t, verified, ticket.Verified)
	scan := func() lifecycle.Done { return f.scan(t) }
	status := func(id int64) ticket.Status {
		t.Helper()
		tk, err := f.nodes[1].tickets.Get(ctx, adm, id)
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
	other := f.open(t, ticket.WaitingForReply)
	seen := ticket.Timed{ID: other, UnitID: ops.ID, Status: ticket.WaitingForReply, Since: clk.Now()}
	if ok, err := s.Remind(ctx, adm, seen, 1); ok || err == nil || !strings.Contains(err.Error(), "may not send reminders") {
		t.Errorf("an administrator sends a reminder: %v %v", ok, err)
	}
	if ok, err := s.Repage(ctx, adm, seen); ok || err == nil || !strings.Contains(err.Error(), "may not page alarms") {
		t.Errorf("an administrator pages an alarm: %v %v", ok, err)
	}
	if ok, err := s.Repage(ctx, auth.Timer(), seen); ok || err != nil {
		t.Errorf("the timer pages a ticket that is no alarm: %v %v", ok, err)
	}
	if ok, err := s.Expire(ctx, adm, ticket.Timed{ID: solved, Status: ticket.Closed}, ticket.Closed); ok || err != nil {
		t.Errorf("expire a ticket that is not as seen: %v %v", ok, err)
	}
	f.set(t, other, ticket.Solved)
	if _, err := s.Update(ctx, adm, other, ticket.Update{Status: new(ticket.Closed)}); err == nil || !strings.Contains(err.Error(), "only the lifecycle timer closes") {
		t.Errorf("an administrator closes: %v", err)
	}

	want := "changed:closed@03-20T16:00 reminded:1@03-20T15:59 reminded:2@03-20T16:00 changed:unsolved@03-27T16:00 changed:closed@04-10T16:00"
	if got := f.timerDid(t, solved, waiting, verified, other); got != want {
		t.Errorf("the timer's history:\n got %s\nwant %s", got, want)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.events["ticket.reminder"] != 2 || f.events["ticket.closed"] != 2 {
		t.Errorf("events %v", f.events)
	}
}

// TestWaitingAgainStartsOver: a requester's reply ends the waiting; when
// the ticket waits again, the reminders count from then, from the first.
func TestWaitingAgainStartsOver(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		id := f.open(t, ticket.WaitingForReply) // Friday 6 March, 16:00
		f.clk.Set("2026-03-13T16:00:00Z")
		if got := f.scan(t); got != (lifecycle.Done{Reminded: 1}) {
			t.Errorf("five working days: %+v", got)
		}
		if _, err := f.s.AddMessage(ctx, f.adm, id, ticket.NewMessage{Body: "the answer"}); err != nil { // the requester answers
			t.Fatal(err)
		}
		f.clk.Set("2026-03-16T10:00:00Z")
		f.set(t, id, ticket.WaitingForReply) // Monday: a new question
		f.clk.Set("2026-03-20T16:00:00Z")
		if got := f.scan(t); got != (lifecycle.Done{}) {
			t.Errorf("ten working days after the first wait: %+v", got)
		}
		f.clk.Set("2026-03-23T10:00:00Z")
		if got := f.scan(t); got != (lifecycle.Done{Reminded: 1}) {
			t.Errorf("five working days after the second wait: %+v", got)
		}
		if got, want := f.timerDid(t, id), "reminded:1@03-13T16:00 reminded:1@03-23T10:00"; got != want {
			t.Errorf("the timer did %s, want %s", got, want)
		}
	})
}

func TestNewChecksOptions(t *testing.T) {
	if _, err := lifecycle.New(lifecycle.Options{}); err == nil {
		t.Error("no tickets, no calendar: accepted")
	}
	if _, err := lifecycle.New(lifecycle.Options{Tickets: &ticket.Store{}, Calendar: worktime.Default()}); err == nil {
		t.Error("no policy: accepted")
	}
}
