package lifecycle_test

import (
	"context"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/lifecycle"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/worktime"
)

// TestQoSClocks: the response clock starts when a unit gets a ticket,
// starts again on the calendar of the unit it is moved to, moves with the
// priority, stops at the unit's first response; two nodes scanning at once
// warn at 75 % and tell of the violation at 100 % once each per clock, and
// a clock whose warning and due time both passed unscanned is told as
// violated only.
func TestQoSClocks(t *testing.T) {
	engines(t, testQoSClocks)
}

func testQoSClocks(t *testing.T, f *fixture) {
	ctx := context.Background()
	berlin, err := f.units.CreateUnit(ctx, unit.Unit{Slug: "berlin", Name: "berlin", QoSLevel: unit.QoSAdvanced,
		Calendar: &worktime.Spec{Timezone: "Europe/Berlin", Days: "Mon-Fri", Hours: "09:00-17:00"}})
	if err != nil {
		t.Fatal(err)
	}
	create := func(unitID int64, p ticket.Priority) *ticket.Ticket {
		t.Helper()
		tk, err := f.s.Create(ctx, f.adm, ticket.NewTicket{Subject: "s", Body: "b", UnitID: unitID, Priority: p})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	get := func(id int64) *ticket.Ticket {
		t.Helper()
		tk, err := f.nodes[1].tickets.Get(ctx, f.adm, id)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	wantClock := func(name string, tk *ticket.Ticket, warn, due, state string) {
		t.Helper()
		c := tk.QoS
		if !c.WarnAt.Equal(utc(warn)) || !c.DueAt.Equal(utc(due)) || c.State(f.clk.Now()) != state {
			t.Errorf("%s: warn %s due %s %s, want %s %s %s", name, c.WarnAt.UTC().Format(time.RFC3339), c.DueAt.UTC().Format(time.RFC3339),
				c.State(f.clk.Now()), warn, due, state)
		}
	}

	// Friday 6 March 16:00 UTC, an hour before closing: base QoS on the
	// default calendar, 5 working days, warned after 30 working hours.
	moved := create(f.ops.ID, ticket.TopPriority)
	wantClock("created in ops", moved, "2026-03-12T14:00:00Z", "2026-03-13T16:00:00Z", ticket.QoSRunning)

	// Monday 9 March 10:00 UTC (11:00 in Berlin): moved to berlin, advanced
	// QoS, top priority: 4 working hours on Berlin's calendar.
	f.clk.Set("2026-03-09T10:00:00Z")
	berlinID := berlin.ID
	if _, err := f.s.Update(ctx, f.adm, moved.ID, ticket.Update{UnitID: &berlinID}); err != nil {
		t.Fatal(err)
	}
	wantClock("moved to berlin", get(moved.ID), "2026-03-09T13:00:00Z", "2026-03-09T14:00:00Z", ticket.QoSRunning)

	// Opened in berlin at the same time and answered an hour later: met.
	answered := create(berlin.ID, ticket.TopPriority)
	// Opened urgent (1 working day), raised to top priority: the deadlines
	// move, counted from when the clock started; the original priority stays.
	raised := create(berlin.ID, ticket.Urgent)
	f.clk.Set("2026-03-09T11:00:00Z")
	if _, err := f.s.AddMessage(ctx, f.adm, answered.ID, ticket.NewMessage{Body: "looking into it", Internal: true}); err != nil {
		t.Fatal(err)
	}
	top := ticket.TopPriority
	if _, err := f.s.Update(ctx, f.adm, raised.ID, ticket.Update{Priority: &top}); err != nil {
		t.Fatal(err)
	}
	if tk := get(raised.ID); tk.OriginalPriority != ticket.Urgent || tk.Priority != ticket.TopPriority {
		t.Errorf("raised: priority %s, original %s", tk.Priority, tk.OriginalPriority)
	} else {
		wantClock("raised", tk, "2026-03-09T13:00:00Z", "2026-03-09T14:00:00Z", ticket.QoSRunning)
	}
	// Opened at 12:00 UTC: warned at 16:00 Berlin time, due at closing.
	f.clk.Set("2026-03-09T12:00:00Z")
	late := create(berlin.ID, ticket.TopPriority)
	wantClock("late", late, "2026-03-09T15:00:00Z", "2026-03-09T16:00:00Z", ticket.QoSRunning)

	f.clk.Set("2026-03-09T12:59:59Z")
	if got := f.scan(t); got != (lifecycle.Done{}) {
		t.Errorf("before the warning: %+v", got)
	}
	f.clk.Set("2026-03-09T13:00:00Z")
	if got := f.scan(t); got != (lifecycle.Done{QoSWarnings: 2}) {
		t.Errorf("at the warning: %+v", got)
	}
	if got := f.scan(t); got != (lifecycle.Done{}) {
		t.Errorf("again at the warning: %+v", got)
	}
	f.clk.Set("2026-03-09T14:00:00Z")
	if got := f.scan(t); got != (lifecycle.Done{QoSViolations: 2}) {
		t.Errorf("at the due time: %+v", got)
	}
	wantClock("moved, violated", get(moved.ID), "2026-03-09T13:00:00Z", "2026-03-09T14:00:00Z", ticket.QoSViolated)
	wantClock("answered", get(answered.ID), "2026-03-09T13:00:00Z", "2026-03-09T14:00:00Z", ticket.QoSMet)
	// Nobody scanned until Tuesday morning: late's clock is told violated,
	// without a warning that would come too late.
	f.clk.Set("2026-03-10T08:00:00Z")
	if got := f.scan(t); got != (lifecycle.Done{QoSViolations: 1}) {
		t.Errorf("the next morning: %+v", got)
	}
	if got := f.scan(t); got != (lifecycle.Done{}) {
		t.Errorf("after all was told: %+v", got)
	}
	// A response after the violation does not make it met.
	if _, err := f.s.AddMessage(ctx, f.adm, moved.ID, ticket.NewMessage{Body: "sorry for the wait"}); err != nil {
		t.Fatal(err)
	}
	if st := get(moved.ID).QoS.State(f.clk.Now()); st != ticket.QoSViolated {
		t.Errorf("answered after the due time: %s", st)
	}
	want := "qos_warning:2026-03-09T14:00:00Z@03-09T13:00 qos_violated:2026-03-09T14:00:00Z@03-09T14:00"
	if got := f.timerDid(t, moved.ID, answered.ID); got != want {
		t.Errorf("the timer's history:\n got %s\nwant %s", got, want)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.events["ticket.qos_warning"] != 2 || f.events["ticket.qos_violated"] != 3 {
		t.Errorf("events %v", f.events)
	}
}

// TestUnitCalendarCloses: with units' calendars, a solved ticket closes
// ten working days after it was solved on its unit's calendar (Berlin:
// from Monday's opening, solved after Friday's closing), not on the
// default one (UTC, where half an hour of Friday was left).
func TestUnitCalendarCloses(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		berlin, err := f.units.CreateUnit(ctx, unit.Unit{Slug: "berlin", Name: "berlin",
			Calendar: &worktime.Spec{Timezone: "Europe/Berlin", Days: "Mon-Fri", Hours: "09:00-17:00"}})
		if err != nil {
			t.Fatal(err)
		}
		timers, err := lifecycle.New(lifecycle.Options{Tickets: f.s, Calendar: worktime.Default(), Now: f.clk.Now,
			Policy: lifecycle.Policy{CloseAfter: worktime.MustDuration("10wd"), Unsolved: worktime.MustDuration("15wd")},
			UnitCalendar: func(ctx context.Context, id int64) (*worktime.Calendar, error) {
				u, err := f.units.UnitByID(ctx, id)
				if err != nil {
					return nil, err
				}
				return u.WorkCalendar(nil)
			}})
		if err != nil {
			t.Fatal(err)
		}
		f.clk.Set("2026-03-06T16:30:00Z") // Friday, 17:30 in Berlin
		tk, err := f.s.Create(ctx, f.adm, ticket.NewTicket{Subject: "s", Body: "b", UnitID: berlin.ID})
		if err != nil {
			t.Fatal(err)
		}
		f.set(t, tk.ID, ticket.Solved)
		scan := func(at string) lifecycle.Done {
			f.clk.Set(at)
			done, err := timers.Scan(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return done
		}
		if got := scan("2026-03-20T15:59:00Z"); got.Closed != 0 {
			t.Errorf("closed before Berlin's closing on the tenth working day: %+v", got)
		}
		if got := scan("2026-03-20T16:00:00Z"); got.Closed != 1 {
			t.Errorf("not closed at Berlin's closing on the tenth working day: %+v", got)
		}
	})
}
