package web

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
)

// TestOverdueQueue: the Overdue view holds the tickets not taken up
// (still new or assigned) within the unit's QoS response time, counted in
// working hours; a fresh ticket and one in progress are not overdue.
func TestOverdueQueue(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		req := e.client()
		req.login("ada@example.org")
		ids := map[string]string{}
		for _, name := range []string{"Old and waiting", "Fresh one", "Old but in progress"} {
			r := req.post("/tickets/new", url.Values{"subject": {name}, "body": {"details"}, "service": {"cloud-compute"}})
			ids[name] = strings.TrimPrefix(r.location, "/tickets/")
		}
		// Base QoS: 5 working days. Three weeks ago is late whatever today is.
		old := time.Now().UTC().Add(-21 * 24 * time.Hour)
		ctx := context.Background()
		for _, name := range []string{"Old and waiting", "Old but in progress"} {
			if err := e.db.Tx(ctx, func(q db.Querier) error {
				_, err := q.ExecContext(ctx, `UPDATE tickets SET created_at = $1 WHERE id = $2`, old, ids[name])
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.db.Tx(ctx, func(q db.Querier) error {
			_, err := q.ExecContext(ctx, `UPDATE tickets SET status = 'in_progress' WHERE id = $1`, ids["Old but in progress"])
			return err
		}); err != nil {
			t.Fatal(err)
		}
		s := e.client()
		s.login("sam@support.example.org")
		q := s.get("/queue/compute?view=overdue")
		if q.status != 200 {
			t.Fatalf("overdue view: %d %s", q.status, excerpt(q.body))
		}
		if !strings.Contains(q.body, "Old and waiting") || strings.Contains(q.body, "Fresh one") || strings.Contains(q.body, "Old but in progress") {
			t.Errorf("overdue view lists the wrong tickets:\n%s", excerpt(q.body))
		}
		if !strings.Contains(q.body, fmt.Sprintf(`Overdue <span class="count">%d</span>`, 1)) {
			t.Errorf("overdue tab count is not 1:\n%s", excerpt(q.body))
		}
	})
}

// TestQueueQoSColours: each queue row shows its unit's response clock
// coloured: on time (green), past the warning (amber), past the due time
// (red); a clock the unit answered shows nothing.
func TestQueueQoSColours(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		req := e.client()
		req.login("ada@example.org")
		now := time.Now().UTC()
		ctx := context.Background()
		for _, c := range []struct {
			name      string
			warn, due time.Duration
			met       bool
		}{
			{"Clock running", time.Hour, 2 * time.Hour, false},
			{"Clock warning", -time.Hour, time.Hour, false},
			{"Clock violated", -2 * time.Hour, -time.Hour, false},
			{"Clock met", -2 * time.Hour, -time.Hour, true},
		} {
			r := req.post("/tickets/new", url.Values{"subject": {c.name}, "body": {"details"}, "service": {"cloud-compute"}})
			id := strings.TrimPrefix(r.location, "/tickets/")
			var met any
			if c.met {
				met = now.Add(-3 * time.Hour)
			}
			if err := e.db.Tx(ctx, func(q db.Querier) error {
				_, err := q.ExecContext(ctx, `UPDATE tickets SET qos_started_at = $1, qos_warn_at = $2, qos_due_at = $3, qos_met_at = $4 WHERE id = $5`,
					now.Add(-3*time.Hour), now.Add(c.warn), now.Add(c.due), met, id)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		s := e.client()
		s.login("sam@support.example.org")
		q := s.get("/queue/compute?view=all")
		if q.status != 200 {
			t.Fatalf("queue: %d %s", q.status, excerpt(q.body))
		}
		for _, want := range []string{`class="chip qos-running"`, `class="chip qos-warning"`, `class="chip qos-violated"`} {
			if strings.Count(q.body, want) != 1 {
				t.Errorf("%d times %s in the queue:\n%s", strings.Count(q.body, want), want, excerpt(q.body))
			}
		}
	})
}
