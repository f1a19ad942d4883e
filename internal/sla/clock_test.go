package sla

import (
	"context"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/worktime"
)

// fakeUnits serves units by id.
type fakeUnits map[int64]*unit.Unit

func (f fakeUnits) CachedUnit(_ context.Context, id int64) (*unit.Unit, error) {
	u, ok := f[id]
	if !ok {
		return nil, apperr.New(apperr.NotFound, "no such unit")
	}
	return u, nil
}

func (f fakeUnits) WorkCalendar(ctx context.Context, id int64, def *worktime.Calendar) (*worktime.Calendar, error) {
	u, err := f.CachedUnit(ctx, id)
	if err != nil {
		return nil, err
	}
	return u.WorkCalendar(def)
}

func utc(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDeadlines: a unit's response time (its level's or its own) counted
// on its calendar (time zone, summer time, holidays, weekends), the
// warning at the configured fraction.
func TestDeadlines(t *testing.T) {
	berlin := &worktime.Spec{Timezone: "Europe/Berlin", Days: "Mon-Fri", Hours: "09:00-17:00", Holidays: []string{"2026-12-24", "2026-12-25"}}
	tokyo := &worktime.Spec{Timezone: "Asia/Tokyo", Days: "Mon-Fri", Hours: "09:00-17:00"}
	units := fakeUnits{
		1: {ID: 1, Slug: "office", QoSLevel: unit.QoSBase},
		2: {ID: 2, Slug: "berlin", QoSLevel: unit.QoSAdvanced, Calendar: berlin},
		3: {ID: 3, Slug: "tokyo", QoSLevel: unit.QoSMedium, Calendar: tokyo},
		4: {ID: 4, Slug: "fast", QoSLevel: unit.QoSCustom, QoS: &unit.QoS{LessUrgent: "4s", Urgent: "4s", VeryUrgent: "4s", TopPriority: "2s"}},
	}
	c := &Clocks{Units: units, Default: worktime.Default(), Warning: 0.75}
	for _, tc := range []struct {
		name      string
		unit      int64
		prio      ticket.Priority
		start     string
		warn, due string
	}{
		// Base: 5 working days of 8 hours; 75 % is 30 working hours.
		{"base over a weekend", 1, ticket.LessUrgent, "2026-03-06T16:00:00Z", "2026-03-12T14:00:00Z", "2026-03-13T16:00:00Z"},
		// Advanced top priority: 4 working hours, warned after 3, in
		// Berlin's office hours (UTC+1 in winter).
		{"Berlin, top priority on a Friday afternoon", 2, ticket.TopPriority, "2026-03-06T14:00:00Z", "2026-03-09T09:00:00Z", "2026-03-09T10:00:00Z"},
		// Berlin moves to summer time on 29 March: 09:00 local is 07:00 UTC
		// after it; two hours left on Friday (15:00-17:00 CET), one or two on Monday.
		{"Berlin, over the change to summer time", 2, ticket.TopPriority, "2026-03-27T14:00:00Z", "2026-03-30T08:00:00Z", "2026-03-30T09:00:00Z"},
		{"Berlin, over the change back", 2, ticket.Urgent, "2026-10-23T14:00:00Z", "2026-10-26T13:00:00Z", "2026-10-26T15:00:00Z"},
		// 24 and 25 December are holidays, 26-27 a weekend: the clock stands
		// still from 17:00 CET on the 23rd to 09:00 CET on the 28th.
		{"Berlin, over Christmas", 2, ticket.TopPriority, "2026-12-23T15:00:00Z", "2026-12-28T10:00:00Z", "2026-12-28T11:00:00Z"},
		// Medium very urgent: 1 working day in Tokyo (UTC+9, no summer time).
		{"Tokyo, one working day", 3, ticket.VeryUrgent, "2026-03-02T00:00:00Z", "2026-03-02T06:00:00Z", "2026-03-02T08:00:00Z"},
		{"Tokyo, started at night", 3, ticket.VeryUrgent, "2026-03-02T12:00:00Z", "2026-03-03T06:00:00Z", "2026-03-03T08:00:00Z"},
		// Custom wall-clock durations ignore the calendar.
		{"custom seconds on a Sunday", 4, ticket.TopPriority, "2026-03-08T03:00:00Z", "2026-03-08T03:00:01.5Z", "2026-03-08T03:00:02Z"},
	} {
		d, err := c.Deadlines(context.Background(), tc.unit, tc.prio, utc(t, tc.start))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !d.WarnAt.Equal(utc(t, tc.warn)) || !d.DueAt.Equal(utc(t, tc.due)) {
			t.Errorf("%s: warn %s due %s, want %s and %s", tc.name, d.WarnAt.UTC().Format(time.RFC3339Nano), d.DueAt.UTC().Format(time.RFC3339Nano), tc.warn, tc.due)
		}
	}
	if _, err := c.Deadlines(context.Background(), 9, ticket.Urgent, time.Now()); err == nil {
		t.Error("a unit that does not exist has deadlines")
	}
}
