// Package sla holds the quality-of-support commitments of support units:
// response times by QoS level and priority, counted in working hours.
package sla

import (
	"time"

	"github.com/helpmesh/helpmesh/internal/ticket"
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

// ResponseTime is the working time within which a unit of QoS level commits
// to take up (move to in_progress) a ticket of priority p (GGUS QoS levels:
// base 5 working days for all; medium 5, 5, 1, 1 days; advanced 5 days,
// 1 day, 1 day, 4 hours, from less urgent to top priority).
func ResponseTime(level string, p ticket.Priority) time.Duration {
	switch level {
	case "medium":
		switch p {
		case ticket.VeryUrgent, ticket.TopPriority:
			return Day
		}
	case "advanced":
		switch p {
		case ticket.Urgent, ticket.VeryUrgent:
			return Day
		case ticket.TopPriority:
			return 4 * time.Hour
		}
	}
	return 5 * Day
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

// Overdue lists, for a unit of QoS level, the creation time before which a
// ticket of each priority has waited longer than its response time by now.
func Overdue(level string, cal Calendar, now time.Time) []ticket.Cutoff {
	out := make([]ticket.Cutoff, 0, len(ticket.Priorities))
	for _, p := range ticket.Priorities {
		out = append(out, ticket.Cutoff{Priority: p, CreatedBefore: cal.Since(now, ResponseTime(level, p)).UTC()})
	}
	return out
}
