package status

import (
	"time"

	"github.com/helpmesh/helpmesh/internal/incident"
)

// Days is how many days the page's bars cover.
const Days = 90

// day is one bar: the share of a UTC day a service was available.
type day struct {
	Date time.Time
	// Availability is 1 when nothing happened; announced maintenance is
	// left out of the count.
	Availability float64
	// Worst is the worst state of the day ("" for none).
	Worst string
}

// weight is how much of an outage counts as downtime (Statuspage's
// weights): a major outage fully, a partial one at 30 %, degraded
// performance not at all.
func weight(worst string) float64 {
	switch worst {
	case incident.MajorOutage:
		return 1
	case incident.PartialOutage:
		return 0.3
	}
	return 0
}

type span struct{ from, to time.Time }

// minus returns s without the parts covered by cuts.
func (s span) minus(cuts []span) []span {
	out := []span{s}
	for _, c := range cuts {
		var next []span
		for _, p := range out {
			if !c.to.After(p.from) || !c.from.Before(p.to) {
				next = append(next, p)
				continue
			}
			if c.from.After(p.from) {
				next = append(next, span{p.from, c.from})
			}
			if c.to.Before(p.to) {
				next = append(next, span{c.to, p.to})
			}
		}
		out = next
	}
	return out
}

func (s span) clip(from, to time.Time) (span, bool) {
	if s.from.Before(from) {
		s.from = from
	}
	if s.to.After(to) {
		s.to = to
	}
	return s, s.from.Before(s.to)
}

// bars computes, for each service, the availability of each of the Days
// days up to now, from the incidents' outages, leaving out each service's
// announced maintenance (outage windows).
func bars(now time.Time, services []int64, outages []incident.Outage, ms []Maintenance) map[int64][]day {
	today := now.UTC().Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(Days - 1))
	cuts := map[int64][]span{}
	for _, m := range ms {
		if !m.Outage || m.Status == "scheduled" && m.Start.After(now) {
			continue
		}
		for _, sid := range m.Services {
			cuts[sid] = append(cuts[sid], span{m.Start, m.End})
		}
	}
	type weighted struct {
		span
		w     float64
		worst string
	}
	bySvc := map[int64][]weighted{}
	for _, o := range outages {
		end := now
		if o.End != nil {
			end = *o.End
		}
		for _, p := range (span{o.Start, end}).minus(cuts[o.ServiceID]) {
			bySvc[o.ServiceID] = append(bySvc[o.ServiceID], weighted{p, weight(o.Worst), o.Worst})
		}
	}
	out := make(map[int64][]day, len(services))
	for _, sid := range services {
		days := make([]day, Days)
		for i := range days {
			d0 := first.AddDate(0, 0, i)
			d1 := d0.Add(24 * time.Hour)
			length := d1.Sub(d0)
			if d1.After(now) {
				length = now.Sub(d0)
			}
			var down time.Duration
			worst := ""
			for _, w := range bySvc[sid] {
				c, ok := w.clip(d0, d1)
				if !ok {
					continue
				}
				down += time.Duration(float64(c.to.Sub(c.from)) * w.w)
				if incident.Severity(w.worst) > incident.Severity(worst) {
					worst = w.worst
				}
			}
			a := 1.0
			if length > 0 {
				a = max(0, 1-float64(down)/float64(length))
			}
			days[i] = day{Date: d0, Availability: a, Worst: worst}
		}
		out[sid] = days
	}
	return out
}

// overall is the availability over all the days.
func overall(days []day) float64 {
	if len(days) == 0 {
		return 1
	}
	var sum float64
	for _, d := range days {
		sum += d.Availability
	}
	return sum / float64(len(days))
}
