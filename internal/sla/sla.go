// Package sla holds the quality-of-support commitments of support units:
// response times by QoS level and priority, counted in working hours.
package sla

import (
	"time"

	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/worktime"
)

// Calendar is the working time in which response times are counted.
type Calendar struct {
	Start, End int // working hours [Start, End) each working day
	Loc        *time.Location
}

// Office is the GGUS calendar: 07:00 to 15:00 UTC, Monday to Friday.
var Office = Calendar{Start: 7, End: 15, Loc: time.UTC}

// Day is one working day of the Office calendar.
const Day = 8 * time.Hour

// ResponseTime is the working time of the Office calendar within which a
// unit committing to q takes up a ticket of priority p (its QoS level's
// table, unit.QoSTable, or its own durations); 5 working days for a
// priority q does not know.
func ResponseTime(q unit.QoS, p ticket.Priority) time.Duration {
	d, ok := q.For(string(p))
	switch {
	case !ok:
		return 5 * Day
	case d.Unit == worktime.WorkDays:
		return time.Duration(d.N) * Day
	case d.Unit == worktime.WorkHours:
		return time.Duration(d.N) * time.Hour
	}
	return d.Wall
}

func (c Calendar) working(t time.Time) bool {
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// Since returns the latest instant from which d of working time has passed
// by now: a ticket created at or before it has waited at least d.
func (c Calendar) Since(now time.Time, d time.Duration) time.Time {
	t := now.In(c.Loc)
	for d > 0 {
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, c.Loc)
		start, end := day.Add(time.Duration(c.Start)*time.Hour), day.Add(time.Duration(c.End)*time.Hour)
		if c.working(t) && t.After(start) {
			top := t
			if top.After(end) {
				top = end
			}
			avail := top.Sub(start)
			if avail >= d {
				return top.Add(-d)
			}
			d -= avail
		}
		t = day.Add(-time.Nanosecond) // the end of the day before
	}
	return t
}

// Overdue lists, for a unit committing to q, the creation time before
// which a ticket of each priority has waited longer than its response time
// by now.
func Overdue(q unit.QoS, cal Calendar, now time.Time) []ticket.Cutoff {
	out := make([]ticket.Cutoff, 0, len(ticket.Priorities))
	for _, p := range ticket.Priorities {
		out = append(out, ticket.Cutoff{Priority: p, CreatedBefore: cal.Since(now, ResponseTime(q, p)).UTC()})
	}
	return out
}
