// Package benchseed writes large synthetic data sets straight into the
// database, in a few statements, for benchmarks and latency measurements
// (issue 17: 100 services, 10,000 incidents over two years, 100,000
// tickets). Nothing here goes through the stores: no events, no mail, no
// history; callers that cache what they read drop their caches after.
package benchseed

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// Incidents writes n incidents spread evenly over span before now, the
// newest 1 % still unresolved, each over one to three of services (ids)
// with a random impact and one update. The same arguments write the same
// data.
func Incidents(ctx context.Context, d *db.DB, services []int64, n int, span time.Duration, now time.Time) error {
	if len(services) == 0 {
		return fmt.Errorf("benchseed: incidents need services")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	comps := []string{"degraded_performance", "partial_outage", "major_outage"}
	err := d.Tx(ctx, func(q db.Querier) error {
		for i := range n {
			start := now.Add(-time.Duration(n-i) * (span / time.Duration(n)))
			st, res := "resolved", any(start.Add(time.Duration(1+rng.IntN(6))*time.Hour))
			if i >= n-n/100 {
				st, res = "identified", nil
			}
			id, err := d.InsertID(ctx, q, `INSERT INTO incidents (title, impact, status, created_at, updated_at, resolved_at) VALUES ($1, 'major', $2, $3, $3, $4)`,
				fmt.Sprintf("Incident %d", i), st, start, res)
			if err != nil {
				return err
			}
			for _, k := range rng.Perm(len(services))[:1+rng.IntN(min(3, len(services)))] {
				comp := comps[rng.IntN(len(comps))]
				if _, err := q.ExecContext(ctx, `INSERT INTO incident_components (incident_id, service_id, status, worst, started_at, recovered_at) VALUES ($1, $2, $3, $3, $4, $5)`,
					id, services[k], comp, start, res); err != nil {
					return err
				}
			}
			if _, err := q.ExecContext(ctx, `INSERT INTO incident_updates (incident_id, status, body, created_at) VALUES ($1, $2, 'We are looking into it.', $3)`, id, st, start); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("benchseed: incidents: %w", err)
	}
	return nil
}

// Service is where seeded tickets go: a service and the unit that works
// it.
type Service struct {
	ID, UnitID int64
}

// Tickets writes n tickets of requester, one a minute up to now, in
// every status and priority, round-robin over services (none: no service
// and no unit). They have no messages: the pages measured do not read
// them.
func Tickets(ctx context.Context, d *db.DB, requester int64, services []Service, n int, now time.Time) error {
	const cols = 12
	const rows = 25 // SQLite (modernc) parses a statement with many more arguments in time that grows faster than its length
	first := now.Add(-time.Duration(n) * time.Minute)
	err := d.Tx(ctx, func(q db.Querier) error {
		for done := 0; done < n; {
			k := min(rows, n-done)
			var b strings.Builder
			b.WriteString(`INSERT INTO tickets (subject, status, priority, type, kind, service_id, unit_id, requester_id, source, created_at, updated_at, public_updated_at) VALUES `)
			args := make([]any, 0, k*cols)
			for j := range k {
				i := done + j
				var svc, unit any
				if len(services) > 0 {
					s := services[i%len(services)]
					svc, unit = s.ID, s.UnitID
				}
				at := first.Add(time.Duration(i) * time.Minute)
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(")
				for c := range cols {
					if c > 0 {
						b.WriteString(", ")
					}
					fmt.Fprintf(&b, "$%d", len(args)+c+1)
				}
				b.WriteString(")")
				args = append(args, fmt.Sprintf("Job %d fails with exit code %d on the batch system", i, i%255),
					string(ticket.Statuses[i%len(ticket.Statuses)]), string(ticket.Priorities[i%len(ticket.Priorities)]), string(ticket.Incident), "user", svc, unit, requester, "web", at, at, at)
			}
			if _, err := q.ExecContext(ctx, b.String(), args...); err != nil {
				return err
			}
			done += k
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("benchseed: tickets: %w", err)
	}
	return nil
}

// Analyze refreshes the query planner's statistics after a seed.
func Analyze(ctx context.Context, d *db.DB) error {
	if _, err := d.W.ExecContext(ctx, `ANALYZE`); err != nil {
		return fmt.Errorf("benchseed: analyze: %w", err)
	}
	return nil
}
