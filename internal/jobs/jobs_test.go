package jobs_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/jobs"
)

type row struct {
	state     string
	attempts  int
	lastError string
}

func jobRow(t *testing.T, d *db.DB, id int64) row {
	t.Helper()
	var r row
	if err := d.W.QueryRow(`SELECT state, attempts, last_error FROM jobs WHERE id = $1`, id).Scan(&r.state, &r.attempts, &r.lastError); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestQueue(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Now()
		clock := func() time.Time { return now }
		q := jobs.New(d, jobs.Options{BackoffBase: time.Second, Lock: time.Minute, Now: clock})

		var got []string
		var mu sync.Mutex
		q.Handle("ok", func(ctx context.Context, j *jobs.Job) error {
			var p struct{ N string }
			if err := j.Decode(&p); err != nil {
				return err
			}
			mu.Lock()
			got = append(got, p.N)
			mu.Unlock()
			return nil
		})
		fails := 0
		q.Handle("flaky", func(ctx context.Context, j *jobs.Job) error {
			fails++
			if fails < 3 {
				return errors.New("try again")
			}
			return nil
		})
		q.Handle("bad", func(ctx context.Context, j *jobs.Job) error { return jobs.Permanent(errors.New("never works")) })
		q.Handle("boom", func(ctx context.Context, j *jobs.Job) error { panic("boom") })

		// Enqueued in a transaction that rolls back: no job.
		_ = d.Tx(ctx, func(tx db.Querier) error {
			if _, err := jobs.Enqueue(ctx, tx, "ok", map[string]string{"N": "lost"}, time.Time{}); err != nil {
				t.Fatal(err)
			}
			return errors.New("rollback")
		})
		var ok1, ok2, flaky, bad, boom, later int64
		err := d.Tx(ctx, func(tx db.Querier) error {
			var err error
			ok1, _ = jobs.Enqueue(ctx, tx, "ok", map[string]string{"N": "a"}, now)
			ok2, _ = jobs.Enqueue(ctx, tx, "ok", map[string]string{"N": "b"}, now)
			flaky, _ = jobs.Enqueue(ctx, tx, "flaky", nil, now)
			bad, _ = jobs.Enqueue(ctx, tx, "bad", nil, now)
			boom, _ = jobs.Enqueue(ctx, tx, "boom", nil, now)
			later, err = jobs.Enqueue(ctx, tx, "ok", map[string]string{"N": "later"}, now.Add(time.Hour))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		n, err := q.RunDue(ctx)
		if err != nil || n != 5 {
			t.Fatalf("RunDue = %d, %v; want 5 jobs", n, err)
		}
		if len(got) != 2 {
			t.Fatalf("ok jobs ran %v", got)
		}
		for id, want := range map[int64]row{ok1: {"done", 1, ""}, ok2: {"done", 1, ""}, bad: {"failed", 1, "never works"}, later: {"pending", 0, ""}} {
			if r := jobRow(t, d, id); r != want {
				t.Errorf("job %d = %+v, want %+v", id, r, want)
			}
		}
		if r := jobRow(t, d, boom); r.state != "failed" || r.lastError == "" {
			t.Errorf("panicking job = %+v, want failed with the panic recorded", r)
		}
		if r := jobRow(t, d, flaky); r.state != "pending" || r.attempts != 1 || r.lastError != "try again" {
			t.Errorf("flaky job after one run = %+v", r)
		}
		// Not due yet: backoff is at least half a second.
		if n, _ := q.RunDue(ctx); n != 0 {
			t.Fatalf("ran %d jobs before their retry time", n)
		}
		now = now.Add(10 * time.Second)
		q.RunDue(ctx)
		now = now.Add(10 * time.Second)
		q.RunDue(ctx)
		if r := jobRow(t, d, flaky); r.state != "done" || r.attempts != 3 {
			t.Errorf("flaky job after three runs = %+v", r)
		}

		// Attempts run out.
		id, _ := jobs.Enqueue(ctx, d.W, "always", nil, now)
		if _, err := d.W.Exec(`UPDATE jobs SET max_attempts = 2 WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		q.Handle("always", func(ctx context.Context, j *jobs.Job) error { return errors.New("down") })
		for range 3 {
			q.RunDue(ctx)
			now = now.Add(time.Hour)
		}
		if r := jobRow(t, d, id); r.state != "failed" || r.attempts != 2 {
			t.Errorf("job out of attempts = %+v", r)
		}
		if fs, _ := q.List(ctx, "failed", 10); len(fs) != 3 {
			t.Errorf("List(failed) = %v", fs)
		}
	})
}

func TestCrashedWorkerLockExpires(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Now()
		clock := func() time.Time { return now }
		id, err := jobs.Enqueue(ctx, d.W, "x", nil, now)
		if err != nil {
			t.Fatal(err)
		}
		// A worker that claims and dies: simulate by a handler that blocks
		// until its context ends, on a queue whose context is cancelled.
		dead := jobs.New(d, jobs.Options{Lock: time.Minute, Now: clock})
		started := make(chan struct{})
		dead.Handle("x", func(ctx context.Context, j *jobs.Job) error { close(started); <-ctx.Done(); return ctx.Err() })
		dctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { dead.Run(dctx); close(done) }()
		<-started
		cancel()
		<-done

		var ran atomic.Int32
		alive := jobs.New(d, jobs.Options{Lock: time.Minute, Now: clock})
		alive.Handle("x", func(ctx context.Context, j *jobs.Job) error { ran.Add(1); return nil })
		if n, _ := alive.RunDue(ctx); n != 0 {
			t.Fatal("a locked job was claimed again before its lock expired")
		}
		now = now.Add(2 * time.Minute)
		if n, _ := alive.RunDue(ctx); n != 1 || ran.Load() != 1 {
			t.Fatalf("after the lock expired: ran %d", n)
		}
		if r := jobRow(t, d, id); r.state != "done" || r.attempts != 2 {
			t.Errorf("job = %+v", r)
		}
	})
}

// Several workers and two queues (two nodes) run every job exactly once.
func TestConcurrentWorkers(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		const n = 300
		for i := range n {
			if _, err := jobs.Enqueue(ctx, d.W, "count", i, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		seen := map[int]int{}
		h := func(ctx context.Context, j *jobs.Job) error {
			var i int
			if err := j.Decode(&i); err != nil {
				return err
			}
			mu.Lock()
			seen[i]++
			mu.Unlock()
			return nil
		}
		var wg sync.WaitGroup
		for range 2 {
			q := jobs.New(d, jobs.Options{Workers: 4, Poll: 10 * time.Millisecond})
			q.Handle("count", h)
			wg.Go(func() { q.Run(ctx) })
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			var left int
			d.R.QueryRow(`SELECT COUNT(*) FROM jobs WHERE state <> 'done'`).Scan(&left)
			if left == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("%d of %d jobs ran", len(seen), n)
		}
		for i, c := range seen {
			if c != 1 {
				t.Errorf("job %d ran %d times", i, c)
			}
		}
	})
}

// The outcomes of TxHandler jobs that finish together are recorded in one
// transaction; a write that fails fails only its own job, and a job whose
// claim was taken over keeps none of its writes.
func TestTxHandlerOutcomesTogether(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		q := jobs.New(d, jobs.Options{Workers: 4, Batch: 16, Lock: time.Minute})
		const (
			failing = "3"
			stolen  = "5"
		)
		q.HandleTx("put", func(ctx context.Context, j *jobs.Job) (func(context.Context, db.Querier) error, error) {
			var p struct{ N string }
			if err := j.Decode(&p); err != nil {
				return nil, err
			}
			if p.N == stolen {
				// Another worker claims the job again while this one runs.
				if err := d.Tx(ctx, func(w db.Querier) error {
					_, err := w.ExecContext(ctx, `UPDATE jobs SET attempts = attempts + 1 WHERE id = $1`, j.ID)
					return err
				}); err != nil {
					return nil, err
				}
			}
			return func(ctx context.Context, w db.Querier) error {
				if p.N == failing {
					return errors.New("write refused")
				}
				_, err := w.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)`, "job-"+p.N, p.N)
				return err
			}, nil
		})
		ids := map[string]int64{}
		if err := d.Tx(ctx, func(w db.Querier) error {
			for _, n := range []string{"1", "2", "3", "4", "5", "6"} {
				id, err := jobs.Enqueue(ctx, w, "put", map[string]string{"N": n}, time.Time{})
				if err != nil {
					return err
				}
				ids[n] = id
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if n, err := q.RunDue(ctx); n != 6 || err != nil {
			t.Fatalf("RunDue = %d, %v; want 6", n, err)
		}
		for n, id := range ids {
			r := jobRow(t, d, id)
			var v string
			err := d.W.QueryRow(`SELECT value FROM settings WHERE key = $1`, "job-"+n).Scan(&v)
			switch n {
			case failing:
				if r.state != "pending" || r.attempts != 1 || r.lastError == "" || err == nil {
					t.Errorf("job %s = %+v, setting err %v; want pending for a retry, with its error, and no write", n, r, err)
				}
			case stolen:
				if r.state != "pending" || r.attempts != 2 || err == nil {
					t.Errorf("job %s = %+v, setting err %v; want left to its new claim, without its write", n, r, err)
				}
			default:
				if r.state != "done" || err != nil || v != n {
					t.Errorf("job %s = %+v, setting %q, %v; want done with its write", n, r, v, err)
				}
			}
		}
	})
}
