// Package jobs is helpmesh's durable job queue, kept in the jobs table.
// A job is enqueued in the transaction of the change that causes it, so a
// crash loses none; a pool of workers claims due jobs (FOR UPDATE SKIP
// LOCKED on PostgreSQL, the single writer on SQLite), runs the handler
// registered for their kind, retries failures with exponential backoff and
// marks a job failed after its last attempt. A job whose worker died is
// claimed again once its lock expires.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
)

// Job is one claimed job as its handler sees it.
type Job struct {
	ID          int64
	Kind        string
	Payload     []byte // JSON
	Attempt     int    // 1 on the first run
	MaxAttempts int
}

// Decode unmarshals the payload into v.
func (j *Job) Decode(v any) error {
	if err := json.Unmarshal(j.Payload, v); err != nil {
		return Permanent(fmt.Errorf("jobs: %s %d: payload: %w", j.Kind, j.ID, err))
	}
	return nil
}

// Handler runs one job. A nil error finishes it; an error is retried later
// unless it is Permanent or the job has no attempts left.
type Handler func(ctx context.Context, j *Job) error

// TxHandler runs a job whose whole effect is database writes, in two steps.
// It first reads what it needs with ctx, outside any transaction, and
// returns the writes to make (nil when there are none); the queue then runs
// write in the very transaction that marks the job done, so the job is done
// exactly when its effect is committed. An error from either step is
// retried like a Handler's. write must use only q and may run more than
// once across retries of the job, never twice committed.
type TxHandler func(ctx context.Context, j *Job) (write func(ctx context.Context, q db.Querier) error, err error)

// handler is what runs one kind: exactly one of h and tx is set.
type handler struct {
	h  Handler
	tx TxHandler
}

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying: the job fails at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent tells whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// Enqueue adds a job of kind with payload (marshalled to JSON) that becomes
// due at runAt (now when zero). q may be a transaction: the job exists only
// if it commits.
func Enqueue(ctx context.Context, q db.Querier, kind string, payload any, runAt time.Time) (int64, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return 0, fmt.Errorf("jobs: enqueue %s: %w", kind, err)
	}
	now := time.Now().UTC()
	if runAt.IsZero() {
		runAt = now
	}
	var id int64
	err = q.QueryRowContext(ctx, `INSERT INTO jobs (kind, payload, run_at, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		kind, string(b), runAt.UTC(), now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("jobs: enqueue %s: %w", kind, err)
	}
	return id, nil
}

// Options tune a Queue. Zero values take the defaults.
type Options struct {
	Workers     int           // concurrent handlers, default 4
	Batch       int           // jobs claimed at once, default Workers
	Poll        time.Duration // wait between polls when idle, default 500ms
	Lock        time.Duration // how long a claim lasts; handlers get this as deadline; default 5m
	BackoffBase time.Duration // first retry delay, default 2s; doubles each attempt
	BackoffMax  time.Duration // longest retry delay, default 1h
	Log         *slog.Logger
	Now         func() time.Time
}

// Queue runs the jobs of a database.
type Queue struct {
	db       *db.DB
	opts     Options
	mu       sync.RWMutex
	handlers map[string]handler
	wake     chan struct{}
}

// New returns a Queue on d.
func New(d *db.DB, opts Options) *Queue {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Batch <= 0 {
		opts.Batch = opts.Workers
	}
	if opts.Poll <= 0 {
		opts.Poll = 500 * time.Millisecond
	}
	if opts.Lock <= 0 {
		opts.Lock = 5 * time.Minute
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 2 * time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = time.Hour
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Queue{db: d, opts: opts, handlers: map[string]handler{}, wake: make(chan struct{}, 1)}
}

// Handle registers the handler of kind. Only kinds with a handler are
// claimed, so nodes that lack a handler leave such jobs to others.
func (q *Queue) Handle(kind string, h Handler) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.handlers[kind] = handler{h: h}
}

// HandleTx registers a TxHandler for kind: its writes and the job's done mark
// commit together.
func (q *Queue) HandleTx(kind string, h TxHandler) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.handlers[kind] = handler{tx: h}
}

// write runs one bookkeeping statement: on SQLite through the group commit
// (it then shares the transaction of the changes waiting with it), on
// PostgreSQL as a statement of its own.
func (q *Queue) write(ctx context.Context, fn func(w db.Querier) error) error {
	if q.db.Engine == db.SQLite {
		return q.db.Tx(ctx, fn)
	}
	return fn(q.db.W)
}

// Wake makes idle workers poll now (after a commit that enqueued jobs).
func (q *Queue) Wake() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *Queue) now() time.Time { return q.opts.Now().UTC() }

func (q *Queue) kinds() []string {
	q.mu.RLock()
	defer q.mu.RUnlock()
	ks := make([]string, 0, len(q.handlers))
	for k := range q.handlers {
		ks = append(ks, k)
	}
	// A stable query text, which the database keeps prepared.
	slices.Sort(ks)
	return ks
}

// dueAt1 is the condition on jobs that are due at $1 and not claimed.
const dueAt1 = `state = 'pending' AND run_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)`

// claim locks up to n due jobs and counts an attempt on each.
func (q *Queue) claim(ctx context.Context, n int) ([]*Job, error) {
	kinds := q.kinds()
	if len(kinds) == 0 {
		return nil, nil
	}
	now := q.now()
	args := []any{now, now.Add(q.opts.Lock)}
	ph := make([]string, len(kinds))
	for i, k := range kinds {
		args = append(args, k)
		ph[i] = "$" + strconv.Itoa(len(args))
	}
	lock := ""
	if q.db.Engine == db.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	// n is a literal: SQLite re-prepares a statement on every run when its
	// LIMIT is a bound parameter.
	query := `UPDATE jobs SET attempts = attempts + 1, locked_until = $2
		WHERE id IN (SELECT id FROM jobs
			WHERE ` + dueAt1 + `
			AND kind IN (` + strings.Join(ph, ", ") + `)
			ORDER BY run_at, id LIMIT ` + strconv.Itoa(n) + lock + `)
		RETURNING id, kind, payload, attempts, max_attempts`
	if q.db.Engine == db.SQLite {
		// Look first, on a reader: an idle queue then costs no write
		// transaction (which would take the writer and end every read
		// cache, see db.DB.Generation) on each poll.
		var due int
		err := q.db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE `+dueAt1+` LIMIT 1) d`, now).Scan(&due)
		if err != nil {
			return nil, fmt.Errorf("jobs: claim: %w", err)
		}
		if due == 0 {
			return nil, nil
		}
	}
	var js []*Job
	err := q.write(ctx, func(w db.Querier) error {
		js = js[:0]
		rows, err := w.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j := &Job{}
			var payload string
			if err := rows.Scan(&j.ID, &j.Kind, &payload, &j.Attempt, &j.MaxAttempts); err != nil {
				return err
			}
			j.Payload = []byte(payload)
			js = append(js, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: claim: %w", err)
	}
	return js, nil
}

// errStale is the outcome of a job whose claim was taken over by another
// worker after its lock expired: its writes are rolled back.
var errStale = errors.New("jobs: the claim expired and the job was claimed again")

// backoff is the delay before retry number attempt (1-based), with jitter.
func (q *Queue) backoff(attempt int) time.Duration {
	d := q.opts.BackoffBase
	for i := 1; i < attempt && d < q.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, q.opts.BackoffMax)
	return d/2 + rand.N(d/2+1)
}

// outcome is what running a claimed job came to.
type outcome struct {
	j     *Job
	write func(ctx context.Context, w db.Querier) error // a TxHandler's writes, or nil
	err   error
}

// exec runs the handler of one claimed job. It never panics. ok is false
// when the queue is shutting down and the job failed: it is then left
// locked and retried when the lock expires, without counting this as a
// failure.
func (q *Queue) exec(ctx context.Context, j *Job) (o outcome, ok bool) {
	q.mu.RLock()
	h := q.handlers[j.Kind]
	q.mu.RUnlock()
	hctx, cancel := context.WithTimeout(ctx, q.opts.Lock)
	defer cancel()
	o.j = j
	if h.tx != nil {
		o.write, o.err = safeRunTx(hctx, h.tx, j)
	} else {
		o.err = safeRun(hctx, h.h, j)
	}
	if ctx.Err() != nil && o.err != nil {
		return o, false
	}
	return o, true
}

// record writes the outcomes of finished jobs in one transaction (see
// recordTx). When that transaction fails, each outcome is recorded on its
// own, so that one bad write fails only its own job: its failure is then
// recorded instead. Outcomes are recorded even when ctx ended just now.
func (q *Queue) record(ctx context.Context, os []outcome) {
	if len(os) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := q.recordTx(rctx, os); err == nil {
		return
	} else if len(os) > 1 {
		q.opts.Log.Debug("recording jobs one by one", "jobs", len(os), "err", err)
	}
	for _, o := range os {
		err := q.recordTx(rctx, []outcome{o})
		if err == nil {
			continue
		}
		if o.err != nil || rctx.Err() != nil {
			q.opts.Log.Error("job outcome not recorded; it runs again after its lock expires", "id", o.j.ID, "err", err)
			continue
		}
		o.err = err // the job's write failed: a failure of the job
		if err := q.write(rctx, func(w db.Querier) error { return q.markFailed(rctx, w, o) }); err != nil {
			q.opts.Log.Error("job outcome not recorded; it runs again after its lock expires", "id", o.j.ID, "err", err)
			continue
		}
		q.logOutcome(o)
	}
}

// recordTx writes outcomes in one transaction: the writes of the
// TxHandlers that succeeded, every done mark (one statement), and the
// retries and failures. A job whose claim expired meanwhile (it was
// claimed again) is left out, writes and all. The outcomes are logged once
// the transaction commits.
func (q *Queue) recordTx(ctx context.Context, os []outcome) error {
	var stale []*Job
	err := q.db.Tx(ctx, func(w db.Querier) error {
		stale = stale[:0]
		var done []*Job
		for _, o := range os {
			if o.err == nil {
				done = append(done, o.j)
			}
		}
		live, err := q.markDone(ctx, w, done)
		if err != nil {
			return err
		}
		for _, o := range os {
			switch {
			case o.err != nil:
				if err := q.markFailed(ctx, w, o); err != nil {
					return err
				}
			case !live[o.j.ID]:
				stale = append(stale, o.j)
			case o.write != nil:
				if err := safeWrite(ctx, o.write, w, o.j); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, j := range stale {
		q.opts.Log.Warn("job outcome dropped", "id", j.ID, "kind", j.Kind, "err", errStale)
	}
	for _, o := range os {
		if !slices.Contains(stale, o.j) {
			q.logOutcome(o)
		}
	}
	return nil
}

// doneChunk bounds the jobs of one done-mark statement; the statement for
// fewer is padded to a power of two, so that few distinct texts are
// prepared.
const doneChunk = 64

// markDone marks done the jobs js that are still claimed by this attempt
// and returns the ids it marked.
func (q *Queue) markDone(ctx context.Context, w db.Querier, js []*Job) (map[int64]bool, error) {
	live := make(map[int64]bool, len(js))
	for len(js) > 0 {
		chunk := js[:min(len(js), doneChunk)]
		js = js[len(chunk):]
		n := 1
		for n < len(chunk) {
			n *= 2
		}
		// On SQLite, +state keeps the planner off jobs_ready: through that
		// index it would test every pending job against the list, and
		// pending jobs pile up in a burst. By rowid it looks up the list.
		cast, state := [2]string{"", ""}, "+state"
		if q.db.Engine == db.Postgres {
			cast = [2]string{"::bigint", "::integer"} // a VALUES list's parameters are text otherwise
			state = "state"
		}
		args := make([]any, 0, 1+2*n)
		args = append(args, q.now())
		var b strings.Builder
		for i := range n {
			j := chunk[min(i, len(chunk)-1)] // padding repeats the last job
			if i > 0 {
				b.WriteString(", ")
			}
			args = append(args, j.ID, j.Attempt)
			fmt.Fprintf(&b, "($%d%s, $%d%s)", len(args)-1, cast[0], len(args), cast[1])
		}
		ids, err := db.Column[int64](w.QueryContext(ctx, `UPDATE jobs SET state = 'done', locked_until = NULL, finished_at = $1
			WHERE `+state+` = 'pending' AND (id, attempts) IN (VALUES `+b.String()+`) RETURNING id`, args...))
		if err != nil {
			return nil, fmt.Errorf("jobs: mark done: %w", err)
		}
		for _, id := range ids {
			live[id] = true
		}
	}
	return live, nil
}

// markFailed records a failed run: the job fails for good, or is retried
// after a backoff.
func (q *Queue) markFailed(ctx context.Context, w db.Querier, o outcome) error {
	j, now := o.j, q.now()
	var err error
	if IsPermanent(o.err) || j.Attempt >= j.MaxAttempts {
		_, err = w.ExecContext(ctx, `UPDATE jobs SET state = 'failed', locked_until = NULL, finished_at = $1, last_error = $2 WHERE id = $3`,
			now, truncate(o.err.Error()), j.ID)
	} else {
		_, err = w.ExecContext(ctx, `UPDATE jobs SET run_at = $1, locked_until = NULL, last_error = $2 WHERE id = $3`,
			now.Add(q.backoff(j.Attempt)), truncate(o.err.Error()), j.ID)
	}
	if err != nil {
		return fmt.Errorf("jobs: record the failure of %d: %w", j.ID, err)
	}
	return nil
}

func (q *Queue) logOutcome(o outcome) {
	j := o.j
	switch {
	case o.err == nil:
	case IsPermanent(o.err) || j.Attempt >= j.MaxAttempts:
		q.opts.Log.Error("job failed", "id", j.ID, "kind", j.Kind, "attempt", j.Attempt, "err", o.err)
	default:
		q.opts.Log.Warn("job will be retried", "id", j.ID, "kind", j.Kind, "attempt", j.Attempt, "err", o.err)
	}
}

func safeRun(ctx context.Context, h Handler, j *Job) (err error) {
	if h == nil {
		return fmt.Errorf("jobs: no handler for %q", j.Kind)
	}
	defer func() {
		if r := recover(); r != nil {
			err = Permanent(fmt.Errorf("jobs: %s %d panicked: %v", j.Kind, j.ID, r))
		}
	}()
	return h(ctx, j)
}

func safeRunTx(ctx context.Context, h TxHandler, j *Job) (write func(ctx context.Context, q db.Querier) error, err error) {
	defer func() {
		if r := recover(); r != nil {
			write, err = nil, Permanent(fmt.Errorf("jobs: %s %d panicked: %v", j.Kind, j.ID, r))
		}
	}()
	return h(ctx, j)
}

func safeWrite(ctx context.Context, write func(ctx context.Context, q db.Querier) error, w db.Querier, j *Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = Permanent(fmt.Errorf("jobs: %s %d panicked: %v", j.Kind, j.ID, r))
		}
	}()
	return write(ctx, w)
}

func truncate(s string) string {
	if len(s) > 2000 {
		s = s[:2000]
	}
	return strings.ToValidUTF8(s, "?")
}

// RunDue claims and runs due jobs until none is left, one batch at a time,
// and returns how many ran. Tests use it to work the queue synchronously.
func (q *Queue) RunDue(ctx context.Context) (int, error) {
	total := 0
	for {
		js, err := q.claim(ctx, q.opts.Batch)
		if err != nil || len(js) == 0 {
			return total, err
		}
		os := make([]outcome, len(js))
		keep := make([]bool, len(js))
		var wg sync.WaitGroup
		for i, j := range js {
			wg.Go(func() { os[i], keep[i] = q.exec(ctx, j) })
		}
		wg.Wait()
		var done []outcome
		for i, o := range os {
			if keep[i] {
				done = append(done, o)
			}
		}
		q.record(ctx, done)
		total += len(js)
	}
}

// Run works the queue until ctx ends: one claimer feeds Workers handlers,
// and one recorder writes their outcomes, those that finished together in
// one transaction (see record).
func (q *Queue) Run(ctx context.Context) error {
	work := make(chan *Job)
	outs := make(chan outcome, q.opts.Workers)
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		batch := make([]outcome, 0, doneChunk)
		for o := range outs {
			batch = append(batch[:0], o)
		more:
			for len(batch) < doneChunk {
				select {
				case o, ok := <-outs:
					if !ok {
						break more
					}
					batch = append(batch, o)
				default:
					break more
				}
			}
			q.record(ctx, batch)
		}
	}()
	var wg sync.WaitGroup
	for range q.opts.Workers {
		wg.Go(func() {
			for j := range work {
				if o, ok := q.exec(ctx, j); ok {
					outs <- o
				}
			}
		})
	}
	defer func() {
		close(work)
		wg.Wait()
		close(outs)
		<-recorded
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		case <-q.wake:
		}
		js, err := q.claim(ctx, q.opts.Batch)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			q.opts.Log.Error("claiming jobs", "err", err)
		}
		for _, j := range js {
			select {
			case work <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		wait := q.opts.Poll
		if len(js) == q.opts.Batch {
			wait = 0 // more may be due
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// Info is a job as listed for administrators.
type Info struct {
	ID          int64
	Kind        string
	State       string
	Attempts    int
	MaxAttempts int
	RunAt       time.Time
	LastError   string
}

// List returns the jobs of a state ("pending", "done", "failed"), newest
// first.
func (q *Queue) List(ctx context.Context, state string, limit int) ([]Info, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := q.db.R.QueryContext(ctx, `SELECT id, kind, state, attempts, max_attempts, run_at, last_error FROM jobs
		WHERE state = $1 ORDER BY id DESC LIMIT $2`, state, limit)
	if err != nil {
		return nil, fmt.Errorf("jobs: list: %w", err)
	}
	defer rows.Close()
	var is []Info
	for rows.Next() {
		var i Info
		if err := rows.Scan(&i.ID, &i.Kind, &i.State, &i.Attempts, &i.MaxAttempts, &i.RunAt, &i.LastError); err != nil {
			return nil, fmt.Errorf("jobs: list: %w", err)
		}
		is = append(is, i)
	}
	return is, rows.Err()
}

// Prune deletes jobs done before cutoff and returns how many.
func (q *Queue) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := q.db.W.ExecContext(ctx, `DELETE FROM jobs WHERE state = 'done' AND finished_at < $1`, cutoff.UTC())
	if err != nil {
		return 0, fmt.Errorf("jobs: prune: %w", err)
	}
	return res.RowsAffected()
}

// Pending counts the jobs waiting to run or to be retried.
func (q *Queue) Pending(ctx context.Context) (int64, error) { return q.count(ctx, "pending") }

// Failed counts the jobs that gave up after their last attempt.
func (q *Queue) Failed(ctx context.Context) (int64, error) { return q.count(ctx, "failed") }

// count counts the jobs of state ("pending" or "failed", never input): written
// into the query, so that SQLite counts the pending ones on the partial
// index jobs_ready (a bound parameter would not match its WHERE).
func (q *Queue) count(ctx context.Context, state string) (int64, error) {
	var n int64
	if err := q.db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE state = '`+state+`'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("jobs: count %s: %w", state, err)
	}
	return n, nil
}
