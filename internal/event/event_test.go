package event

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

type told struct {
	Writer, N int
}

// recorder is a follower that records what it is told in the table told,
// where a second telling of an event breaks a unique key.
type recorder struct {
	name  string
	fails atomic.Int64 // calls left that fail
	mu    sync.Mutex
	seen  []told
}

func (r *recorder) handle(ctx context.Context, evs []Event) (Commit, error) {
	if r.fails.Add(-1) >= 0 {
		return nil, errors.New("the follower's peer is down")
	}
	return func(ctx context.Context, q db.Querier) error {
		for _, e := range evs {
			if _, err := q.ExecContext(ctx, `INSERT INTO told (follower, event_id) VALUES ($1, $2)`, r.name, e.ID); err != nil {
				return err
			}
		}
		var ts []told
		for _, e := range evs {
			var t told
			if err := json.Unmarshal(e.Data, &t); err != nil {
				return err
			}
			ts = append(ts, t)
		}
		// Kept only once the transaction commits: the position moved.
		r.mu.Lock()
		r.seen = append(r.seen, ts...)
		r.mu.Unlock()
		return nil
	}, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func createTold(t *testing.T, d *db.DB) {
	t.Helper()
	if _, err := d.W.ExecContext(context.Background(), `CREATE TABLE told (follower TEXT NOT NULL, event_id BIGINT NOT NULL, UNIQUE (follower, event_id))`); err != nil {
		t.Fatal(err)
	}
}

// TestFollowers: two followers of the same events on two "nodes" at once,
// one failing for a while: both tell every event exactly once, in the
// order each writer wrote them, and the failing one holds back nobody.
func TestFollowers(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		createTold(t, d)
		if _, err := d.W.ExecContext(ctx, `DELETE FROM event_followers`); err != nil { // only this test's
			t.Fatal(err)
		}
		const writers, each = 4, 60
		fast, slow := &recorder{name: "fast"}, &recorder{name: "slow"}
		slow.fails.Store(2)
		var logs []*Log
		for range 2 { // two nodes
			l := New(d, Options{Poll: 20 * time.Millisecond})
			l.Follow("fast", fast.handle, FollowOptions{Batch: 16, FromStart: true})
			l.Follow("slow", slow.handle, FollowOptions{Batch: 16, FromStart: true})
			logs = append(logs, l)
		}
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, l := range logs {
			wg.Go(func() { _ = l.Run(runCtx) })
		}
		var ww sync.WaitGroup
		for w := range writers {
			ww.Go(func() {
				for n := range each {
					err := d.Tx(ctx, func(q db.Querier) error {
						return logs[w%2].Append(ctx, q, TicketUpdated, int64(w+1), told{Writer: w, N: n})
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		ww.Wait()
		total := writers * each
		// The fast follower is done while the slow one still backs off.
		for fast.count() < total && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		if slow.count() == total {
			t.Error("the slow follower was done as soon as the fast one: it never backed off")
		}
		// The slow follower may not have tried yet when the fast one is
		// done (woken by the same notice): wait for its first failure. The
		// fast one's handler has seen every event, but its last batch's
		// transaction may not have committed yet: wait for its position.
		var stats []FollowerStat
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var err error
			if stats, err = logs[0].Stats(ctx); err != nil {
				t.Fatal(err)
			}
			slowFailed := slices.ContainsFunc(stats, func(s FollowerStat) bool { return s.Name == "slow" && s.Failures > 0 })
			fastDone := slices.ContainsFunc(stats, func(s FollowerStat) bool { return s.Name == "fast" && s.Told == int64(total) })
			if slowFailed && fastDone || time.Now().After(deadline) {
				break
			}
		}
		for _, s := range stats {
			if s.Name == "slow" && (s.Failures == 0 || s.LastError == "" || s.Lag == 0) {
				t.Errorf("the failing follower's stats: %+v", s)
			}
			if s.Name == "fast" && (s.Failures != 0 || s.Lag != 0 || s.Told != int64(total)) {
				t.Errorf("the fast follower's stats: %+v", s)
			}
		}
		for slow.count() < total && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // nothing more comes
		stop()
		wg.Wait()
		for _, r := range []*recorder{fast, slow} {
			if got := r.count(); got != total {
				t.Errorf("%s told %d events, want %d", r.name, got, total)
			}
			var n int
			if err := d.R.QueryRowContext(ctx, `SELECT COUNT(DISTINCT event_id) FROM told WHERE follower = $1`, r.name).Scan(&n); err != nil || n != total {
				t.Errorf("%s: %d distinct events recorded (%v), want %d", r.name, n, err, total)
			}
			next := make([]int, writers)
			for _, s := range r.seen {
				if s.N != next[s.Writer] {
					t.Fatalf("%s: writer %d's event %d came when %d was due", r.name, s.Writer, s.N, next[s.Writer])
				}
				next[s.Writer]++
			}
		}
		stats, err := logs[1].Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stats {
			if s.Lag != 0 || s.Failures != 0 || s.Told != int64(total) {
				t.Errorf("stats at the end: %+v", s)
			}
		}
	})
}

// TestPrune: events are pruned once every follower run lately has passed
// them and they are older than the retention; a new follower starts after
// the newest event.
func TestPrune(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Now().UTC()
		// Only this test's followers.
		if _, err := d.W.ExecContext(ctx, `DELETE FROM event_followers`); err != nil {
			t.Fatal(err)
		}
		l := New(d, Options{Retention: time.Hour, Now: func() time.Time { return now }})
		var a, b []int64
		l.Follow("a", func(ctx context.Context, evs []Event) (Commit, error) {
			for _, e := range evs {
				a = append(a, e.ID)
			}
			return nil, nil
		}, FollowOptions{FromStart: true})
		appendN := func(n int) {
			for i := range n {
				if err := d.Tx(ctx, func(q db.Querier) error { return l.Append(ctx, q, TicketCreated, int64(i+1), i) }); err != nil {
					t.Fatal(err)
				}
			}
		}
		appendN(5)
		if n, err := l.Step(ctx, "a"); err != nil || n != 5 {
			t.Fatalf("Step = %d, %v", n, err)
		}
		// A follower registered now starts after the newest event.
		l.Follow("b", func(ctx context.Context, evs []Event) (Commit, error) {
			for _, e := range evs {
				b = append(b, e.ID)
			}
			return nil, nil
		}, FollowOptions{})
		if n, err := l.Step(ctx, "b"); err != nil || n != 0 {
			t.Fatalf("a new follower told %d old events (%v)", n, err)
		}
		appendN(3)
		if n, err := l.Step(ctx, "b"); err != nil || n != 3 {
			t.Fatalf("Step b = %d, %v", n, err)
		}
		// Too young to prune.
		if n, err := l.Prune(ctx); err != nil || n != 0 {
			t.Fatalf("Prune = %d, %v; want 0", n, err)
		}
		now = now.Add(2 * time.Hour)
		// a has not told the last 3: only the first 5 go.
		if n, err := l.Prune(ctx); err != nil || n != 5 {
			t.Fatalf("Prune = %d, %v; want 5", n, err)
		}
		if n, err := l.Step(ctx, "a"); err != nil || n != 3 {
			t.Fatalf("Step a = %d, %v", n, err)
		}
		// A follower no process ran for a week holds back nothing.
		if _, err := d.W.ExecContext(ctx, `INSERT INTO event_followers (name, position, seen_at) VALUES ('gone', 0, $1)`, now.Add(-8*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n, err := l.Prune(ctx); err != nil || n != 3 {
			t.Fatalf("Prune = %d, %v; want 3", n, err)
		}
		if len(a) != 8 || len(b) != 3 {
			t.Errorf("a told %v, b told %v", a, b)
		}
		// Ids are not used again after the newest rows were pruned.
		appendN(1)
		if n, err := l.Step(ctx, "a"); err != nil || n != 1 || a[8] <= a[7] {
			t.Errorf("after pruning everything: Step = %d, %v; ids %v", n, err, a)
		}
	})
}

// TestCommittedAfterCommitOnly: a follower's Committed runs after each
// batch whose transaction committed, and not after one whose Commit
// failed (it rolled back: what the Commit staged must not be handed on).
func TestCommittedAfterCommitOnly(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.W.ExecContext(ctx, `DELETE FROM event_followers`); err != nil {
			t.Fatal(err)
		}
		l := New(d, Options{})
		var staged, handed []int64
		fail := true
		l.Follow("handing", func(ctx context.Context, evs []Event) (Commit, error) {
			staged = nil
			return func(ctx context.Context, q db.Querier) error {
				for _, e := range evs {
					staged = append(staged, e.ID)
				}
				if fail {
					return errors.New("the commit fails")
				}
				return nil
			}, nil
		}, FollowOptions{FromStart: true, Committed: func() { handed = append(handed, staged...) }})
		if err := l.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := d.Tx(ctx, func(q db.Querier) error { return l.Append(ctx, q, TicketCreated, 1, 1) }); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Step(ctx, "handing"); err == nil {
			t.Fatal("the failing commit did not fail the step")
		}
		if len(handed) != 0 {
			t.Fatalf("Committed ran after a failed commit: %v", handed)
		}
		fail = false
		if n, err := l.Step(ctx, "handing"); err != nil || n != 1 {
			t.Fatalf("Step = %d, %v", n, err)
		}
		if len(handed) != 1 {
			t.Fatalf("handed %v after the commit, want the one event once", handed)
		}
	})
}
