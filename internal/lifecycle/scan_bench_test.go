package lifecycle_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
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

// scanTickets is 100,000: the open tickets of a large instance.
const scanTickets = 100_000

// timedReads is the ticket store with the time spent in the scan's reads
// (the database time of a scan that finds nothing due) summed up.
type timedReads struct {
	*ticket.Store
	spent atomic.Int64 // nanoseconds
}

func (r *timedReads) measure(list func(context.Context, time.Time, ticket.Timed, int) ([]ticket.Timed, error),
	ctx context.Context, t time.Time, from ticket.Timed, limit int) ([]ticket.Timed, error) {
	start := time.Now()
	defer func() { r.spent.Add(int64(time.Since(start))) }()
	return list(ctx, t, from, limit)
}

func (r *timedReads) SolvedBefore(ctx context.Context, t time.Time, from ticket.Timed, limit int) ([]ticket.Timed, error) {
	return r.measure(r.Store.SolvedBefore, ctx, t, from, limit)
}

func (r *timedReads) WaitingBefore(ctx context.Context, t time.Time, from ticket.Timed, limit int) ([]ticket.Timed, error) {
	return r.measure(r.Store.WaitingBefore, ctx, t, from, limit)
}

func (r *timedReads) AlarmsBefore(ctx context.Context, t time.Time, from ticket.Timed, limit int) ([]ticket.Timed, error) {
	return r.measure(r.Store.AlarmsBefore, ctx, t, from, limit)
}

func (r *timedReads) QoSDue(ctx context.Context, t time.Time, from ticket.Timed, limit int) ([]ticket.Timed, error) {
	return r.measure(r.Store.QoSDue, ctx, t, from, limit)
}

// seedOpen loads n tickets in bulk (CreateMany, 1,000 a transaction, as
// `helpmesh bench --seed` does) at now into 20 units with the base QoS
// level, so that every one has a running response clock; then a tenth of
// them is made solved, a tenth waiting for the requester's reply and one
// in a hundred an unanswered alarm, all since now.
func seedOpen(b *testing.B, d *db.DB, now time.Time, n int) *ticket.Store {
	ctx := context.Background()
	units := unit.NewStore(d)
	clocks := &sla.Clocks{Units: units, Default: worktime.Default(), Warning: sla.DefaultWarning}
	s := ticket.NewStore(d, ticket.Options{Now: func() time.Time { return now }, ResponseClock: clocks.Deadlines})
	req, err := user.NewStore(d).Create(ctx, user.NewUser{Email: "req@example.org", Name: "req"})
	if err != nil {
		b.Fatal(err)
	}
	var unitIDs []int64
	for i := range 20 {
		u, err := units.CreateUnit(ctx, unit.Unit{Slug: fmt.Sprintf("u%02d", i), Name: fmt.Sprintf("Unit %d", i)})
		if err != nil {
			b.Fatal(err)
		}
		unitIDs = append(unitIDs, u.ID)
	}
	start := time.Now()
	for done := 0; done < n; done += 1000 {
		nts := make([]ticket.NewTicket, min(1000, n-done))
		for i := range nts {
			nts[i] = ticket.NewTicket{Subject: fmt.Sprintf("Ticket %d", done+i), Body: "The jobs are stuck in the queue.",
				UnitID: unitIDs[(done+i)%len(unitIDs)], RequesterID: req.ID,
				Priority: ticket.Priorities[(done+i)%len(ticket.Priorities)], Source: ticket.FromCLI}
		}
		if _, err := s.CreateMany(ctx, auth.Importer("seed"), nts); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []string{
		`UPDATE tickets SET status = 'solved', solved_at = $1 WHERE id % 10 = 0`,
		`UPDATE tickets SET status = 'waiting_for_reply', waiting_since = $1 WHERE id % 10 = 1`,
		`UPDATE tickets SET kind = 'alarm', alarm_paged_at = $1 WHERE id % 100 = 2`,
	} {
		if _, err := d.W.ExecContext(ctx, q, now.UTC()); err != nil {
			b.Fatal(err)
		}
	}
	settle := []string{`ANALYZE`}
	if d.Engine == db.SQLite {
		// Fold the bulk load's write-ahead log into the database, as a
		// running instance's automatic checkpoints would.
		settle = append(settle, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	for _, q := range settle {
		if _, err := d.W.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	var due int
	if err := d.W.QueryRowContext(ctx, `SELECT COUNT(*) FROM tickets WHERE qos_next_at IS NOT NULL`).Scan(&due); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: seeded %d tickets (%d with a running response clock) in %s", d.Engine, n, due, time.Since(start).Truncate(time.Millisecond))
	return s
}

// BenchmarkTimerScan measures one lifecycle timer scan over 100,000 open
// tickets on SQLite and PostgreSQL, nothing being due: the reads of
// solved, waiting, alarm and QoS tickets, which their partial indexes
// keep to the due rows. It reports the database time of a scan as
// db-ms/scan (DESIGN target < 50 ms):
//
//	go test ./internal/lifecycle/ -run '^$' -bench TimerScan -benchtime 50x -v
func BenchmarkTimerScan(b *testing.B) {
	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC) // a Wednesday morning
	for _, engine := range []string{"sqlite", "postgres"} {
		var tm *lifecycle.Timers
		var reads *timedReads
		b.Run(engine, func(b *testing.B) {
			if tm == nil { // seeded once, not at each round of b.N
				dsn := filepath.Join(b.TempDir(), "helpmesh.db")
				if engine == "postgres" {
					dsn = testenv.PostgresDSN(b)
				}
				reads = &timedReads{Store: seedOpen(b, dbtest.Open(b, dsn), now, scanTickets)}
				policy := lifecycle.Policy{CloseAfter: worktime.MustDuration("10wd"), Unsolved: worktime.MustDuration("15wd"),
					Reminders: []worktime.Duration{worktime.MustDuration("5wd"), worktime.MustDuration("10wd")}, AlarmRepage: 30 * time.Minute}
				var err error
				tm, err = lifecycle.New(lifecycle.Options{Tickets: reads, Policy: policy, Calendar: worktime.Default(),
					Now: func() time.Time { return now.Add(time.Minute) }})
				if err != nil {
					b.Fatal(err)
				}
			}
			reads.spent.Store(0)
			scans := 0
			for b.Loop() {
				got, err := tm.Scan(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if got != (lifecycle.Done{}) {
					b.Fatalf("a scan with nothing due did %+v", got)
				}
				scans++
			}
			ms := float64(reads.spent.Load()) / float64(scans) / 1e6
			b.ReportMetric(ms, "db-ms/scan")
			b.Logf("%s: %.2f ms of database time per scan over %d tickets (%d scans)", engine, ms, scanTickets, scans)
		})
	}
}
