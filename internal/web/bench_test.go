package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// benchTickets is how many tickets the page benchmarks run with.
const benchTickets = 100_000

// seed inserts n tickets straight into the database (one transaction):
// 60 % for the unit "compute", the rest for the ticket handler team, in
// every status and priority, each with a first message; ticket 1 gets a
// thread of 12 messages, 2 of them internal notes.
func seed(b *testing.B, e *env, n int) {
	ctx := context.Background()
	now := time.Now().UTC().Add(-time.Duration(n) * time.Minute)
	err := e.db.Tx(ctx, func(q db.Querier) error {
		for i := range n {
			unitID, svc := e.unit.ID, any(nil)
			if i%5 >= 3 {
				unitID = e.handlers.ID
			}
			st := ticket.Statuses[i%len(ticket.Statuses)]
			pr := ticket.Priorities[i%len(ticket.Priorities)]
			var assignee any
			if i%3 == 0 {
				assignee = e.staff.ID
			}
			at := now.Add(time.Duration(i) * time.Minute)
			var id int64
			if err := q.QueryRowContext(ctx, `INSERT INTO tickets (subject, status, priority, type, kind, service_id, unit_id, requester_id, team, assignee_id, source, created_at, updated_at)
				VALUES ($1, $2, $3, 'incident', 'user', $4, $5, $6, '', $7, 'web', $8, $8) RETURNING id`,
				fmt.Sprintf("Job %d fails with exit code %d on the batch system", i, i%255), string(st), string(pr), svc, unitID, e.req.ID, assignee, at).Scan(&id); err != nil {
				return err
			}
			msgs := 1
			if i == 0 {
				msgs = 12
			}
			for m := range msgs {
				author, internal := e.req.ID, false
				if m%2 == 1 {
					author, internal = e.staff.ID, m%5 == 0
				}
				if _, err := q.ExecContext(ctx, `INSERT INTO messages (ticket_id, author_id, author_email, author_name, internal, source, body, created_at)
					VALUES ($1, $2, 'someone@example.org', 'Some One', $3, 'web', $4, $5)`, id, author, internal,
					fmt.Sprintf("Message %d of ticket %d.\nThe job log says:\n  ERROR: cannot stage in file /data/run-%d.root\nWhat can I do?", m, id, i), at); err != nil {
					return err
				}
				if _, err := q.ExecContext(ctx, `INSERT INTO history (ticket_id, at, actor_id, actor, action, source) VALUES ($1, $2, $3, 'someone@example.org', $4, 'web')`,
					id, at, author, map[bool]string{true: "created", false: "replied"}[m == 0]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if e.db.Engine == db.SQLite {
		if _, err := e.db.W.ExecContext(ctx, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPage requests path as user, records each request's time and
// reports the p50/p95 latency and the page size.
func benchPage(b *testing.B, e *env, cookie *http.Cookie, path string) {
	var times []time.Duration
	var size int
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		t0 := time.Now()
		e.h.ServeHTTP(rec, req)
		times = append(times, time.Since(t0))
		if rec.Code != 200 {
			b.Fatalf("GET %s: %d", path, rec.Code)
		}
		size = rec.Body.Len()
	}
	b.StopTimer()
	slices.Sort(times)
	pct := func(p float64) float64 {
		return float64(times[int(float64(len(times)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(float64(size)/1024, "page-KB")
	b.ReportMetric(0, "ns/op")
}

func sessionCookie(b *testing.B, e *env, userID int64) *http.Cookie {
	rec := httptest.NewRecorder()
	if err := e.h.sessions.Start(rec, httptest.NewRequest("GET", "/", nil), userID, "password"); err != nil {
		b.Fatal(err)
	}
	return rec.Result().Cookies()[0]
}

// BenchmarkPages: with 100,000 tickets, a unit's queue page and a ticket
// page rendered on the server (go test -bench Pages -run '^$'
// ./internal/web/).
func BenchmarkPages(b *testing.B) {
	e := newEnv(b, filepath.Join(b.TempDir(), "bench.db"))
	t0 := time.Now()
	seed(b, e, benchTickets)
	b.Logf("seeded %d tickets in %s", benchTickets, time.Since(t0).Round(time.Millisecond))
	staff := sessionCookie(b, e, e.staff.ID)
	requester := sessionCookie(b, e, e.req.ID)
	b.Run("queue-open", func(b *testing.B) { benchPage(b, e, staff, "/queue/compute") })
	b.Run("queue-new", func(b *testing.B) { benchPage(b, e, staff, "/queue/compute?view=new") })
	b.Run("queue-mine", func(b *testing.B) { benchPage(b, e, staff, "/queue/compute?view=mine") })
	b.Run("queue-priority", func(b *testing.B) { benchPage(b, e, staff, "/queue/compute?view=open&priority=top_priority") })
	b.Run("queue-overdue", func(b *testing.B) { benchPage(b, e, staff, "/queue/compute?view=overdue") })
	b.Run("ticket-staff", func(b *testing.B) { benchPage(b, e, staff, "/tickets/1") })
	b.Run("ticket-requester", func(b *testing.B) { benchPage(b, e, requester, "/tickets/1") })
	b.Run("my-tickets", func(b *testing.B) { benchPage(b, e, requester, "/tickets") })
}
