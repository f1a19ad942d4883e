package sla

import (
	"github.com/helpmesh/helpmesh/internal/unit"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/ticket"
)

func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04 Mon", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSince(t *testing.T) {
	for _, c := range []struct {
		now  string
		d    time.Duration
		want string
	}{
		{"2026-11-25 12:00 Wed", 4 * time.Hour, "2026-11-25 08:00 Wed"},
		{"2026-11-25 12:00 Wed", 6 * time.Hour, "2026-11-24 14:00 Tue"}, // 5h today, 1h yesterday
		{"2026-11-25 20:00 Wed", time.Hour, "2026-11-25 14:00 Wed"},     // after hours: from the end of the day
		{"2026-11-25 05:00 Wed", time.Hour, "2026-11-24 14:00 Tue"},     // before hours: the day before
		{"2026-11-30 09:00 Mon", 4 * time.Hour, "2026-11-27 13:00 Fri"}, // over the weekend
		{"2026-11-29 10:00 Sun", Day, "2026-11-27 07:00 Fri"},           // from a Sunday
		{"2026-11-30 10:00 Mon", 5 * Day, "2026-11-23 10:00 Mon"},       // five working days
		{"2026-11-25 07:00 Wed", 8 * time.Hour, "2026-11-24 07:00 Tue"}, // at the start of the day
		{"2026-11-25 15:00 Wed", 8 * time.Hour, "2026-11-25 07:00 Wed"}, // at the end of the day
	} {
		got := Office.Since(at(c.now), c.d)
		if !got.Equal(at(c.want)) {
			t.Errorf("Since(%s, %v) = %s, want %s", c.now, c.d, got.Format("2006-01-02 15:04 Mon"), c.want)
		}
	}
}

func TestResponseTime(t *testing.T) {
	for _, c := range []struct {
		level string
		p     ticket.Priority
		want  time.Duration
	}{
		{"base", ticket.TopPriority, 5 * Day},
		{"medium", ticket.Urgent, 5 * Day},
		{"medium", ticket.VeryUrgent, Day},
		{"advanced", ticket.LessUrgent, 5 * Day},
		{"advanced", ticket.Urgent, Day},
		{"advanced", ticket.TopPriority, 4 * time.Hour},
		{"unknown", ticket.TopPriority, 5 * Day},
		{"custom", ticket.TopPriority, 90 * time.Second},
	} {
		if got := ResponseTime(table(t, c.level), c.p); got != c.want {
			t.Errorf("ResponseTime(%s, %s) = %v, want %v", c.level, c.p, got, c.want)
		}
	}
	if cs := Overdue(table(t, "advanced"), Office, at("2026-11-25 12:00 Wed")); len(cs) != 4 || !cs[3].CreatedBefore.Equal(at("2026-11-25 08:00 Wed")) {
		t.Errorf("Overdue: %+v", cs)
	}
}

func table(t *testing.T, level string) unit.QoS {
	t.Helper()
	if level == "custom" {
		return unit.QoS{LessUrgent: "5wd", Urgent: "1wd", VeryUrgent: "4wh", TopPriority: "90s"}
	}
	q, _ := unit.QoSTable(level) // none for an unknown level: every priority 5 days

	return q
}
