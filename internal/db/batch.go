package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// batcher is SQLite's group commit. SQLite has one writer at a time, and a
// commit costs about as much as the statements of a small change; so Tx
// hands its function to one goroutine that runs whatever functions are
// waiting, up to maxBatch, in one transaction, each inside its own
// savepoint, and commits them together.
//
// Every function still sees all of its own writes or none: when one fails,
// its savepoint is rolled back and only its caller gets the error; Tx
// returns only after the commit that made the change durable. If the
// transaction itself breaks (the commit fails, or SQLite rolled it back),
// every caller of that batch gets an error and nothing of it is kept.
type batcher struct {
	w    *sql.DB
	reqs chan *txReq
	stop chan struct{}
	done sync.WaitGroup

	// Prepared statements of the writer, owned by the loop goroutine:
	// parsing SQL costs as much as running it. A query is prepared, between
	// batches, once it has been seen a few times.
	stmts map[string]*sql.Stmt
	seen  map[string]int

	// gen counts the batches committed, and other connections' commits as
	// the checkpointer sees them; it moves after the commit and before the
	// callers learn of it (Generation).
	gen atomic.Uint64

	// ckpt asks for a checkpoint on the writer's connection between two
	// batches (see checkpointer).
	ckpt atomic.Bool
}

// wantCheckpoint makes the loop checkpoint after its current batch.
func (b *batcher) wantCheckpoint() { b.ckpt.Store(true) }

// checkpoint copies what is left of the log into the database file, so
// that the next transaction starts the log over. Readers that hold an old
// snapshot can keep that from happening; once the log is longer than
// maxLogFrames, the writer waits for them (RESTART), up to restartWait,
// rather than let it grow.
func (b *batcher) checkpoint() {
	if !b.ckpt.Swap(false) {
		return
	}
	var busy, frames, copied int
	if err := b.w.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
		return
	}
	if frames > maxLogFrames {
		ctx := context.Background()
		conn, err := b.w.Conn(ctx)
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = conn.ExecContext(ctx, `PRAGMA busy_timeout = `+strconv.Itoa(int(restartWait/time.Millisecond)))
		_, _ = conn.ExecContext(ctx, `PRAGMA wal_checkpoint(RESTART)`)
		_, _ = conn.ExecContext(ctx, `PRAGMA busy_timeout = `+strconv.Itoa(busyTimeoutMS))
	}
}

// maxLogFrames is the length of the write-ahead log (in pages) past which
// the writer waits for readers to let it start the log over (64 MiB), for
// at most restartWait each time.
const (
	maxLogFrames = 16384
	restartWait  = 100 * time.Millisecond
)

// Statement cache bounds: dynamic SQL must not fill it.
const (
	maxStmts    = 128
	prepareSeen = 3
)

// maxBatch bounds how many changes share one transaction.
const maxBatch = 64

type txReq struct {
	ctx  context.Context
	fn   func(q Querier) error
	errc chan error
}

func newBatcher(w *sql.DB) *batcher {
	b := &batcher{w: w, reqs: make(chan *txReq), stop: make(chan struct{}), stmts: map[string]*sql.Stmt{}, seen: map[string]int{}}
	b.done.Add(1)
	go b.loop()
	return b
}

// close stops the goroutine after the batch it is running.
func (b *batcher) close() {
	close(b.stop)
	b.done.Wait()
}

var errClosed = errors.New("db: the database is closed")

// tx runs fn in a batch and waits for its outcome.
func (b *batcher) tx(ctx context.Context, fn func(q Querier) error) error {
	r := &txReq{ctx: ctx, fn: fn, errc: make(chan error, 1)}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return fmt.Errorf("db: begin: %w", ctx.Err())
	case <-b.stop:
		return errClosed
	}
	// Once handed over, fn may be running: wait for the commit even if ctx
	// ends, so that the caller never reports a failure for a change that
	// was made.
	return <-r.errc
}

func (b *batcher) loop() {
	defer b.done.Done()
	defer func() {
		for _, st := range b.stmts {
			st.Close()
		}
	}()
	batch := make([]*txReq, 0, maxBatch)
	for {
		select {
		case <-b.stop:
			return
		case r := <-b.reqs:
			batch = append(batch[:0], r)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		b.run(batch)
		b.prepare()
		b.checkpoint()
	}
}

// prepare prepares the queries seen often enough, while no transaction
// holds the writer's connection.
func (b *batcher) prepare() {
	for query, n := range b.seen {
		if n < prepareSeen || len(b.stmts) >= maxStmts {
			continue
		}
		delete(b.seen, query)
		st, err := b.w.PrepareContext(context.Background(), query)
		if err != nil {
			continue // it runs unprepared
		}
		b.stmts[query] = st
	}
	if len(b.seen) > 10*maxStmts {
		clear(b.seen)
	}
}

// stmt returns query prepared for tx, or nil when it is not (yet).
func (b *batcher) stmt(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	if st := b.stmts[query]; st != nil {
		return tx.StmtContext(ctx, st)
	}
	if len(b.stmts) < maxStmts && cacheable(query) {
		b.seen[query]++
	}
	return nil
}

// cacheable tells whether query is one statement (a script, such as a
// migration, is run as it is).
func cacheable(query string) bool {
	return !strings.Contains(strings.TrimRight(query, "; \t\r\n"), ";")
}

// run executes one batch and answers every request of it.
func (b *batcher) run(batch []*txReq) {
	errs := make([]error, len(batch))
	answer := func() {
		for i, r := range batch {
			r.errc <- errs[i]
		}
	}
	fail := func(err error) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		answer()
	}
	tx, err := b.w.BeginTx(context.Background(), nil)
	if err != nil {
		fail(fmt.Errorf("db: begin: %w", err))
		return
	}
	q := &batchQuerier{tx: tx, b: b}
	single := len(batch) == 1
	ok := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("db: begin: %w", err)
			continue
		}
		if single {
			errs[i] = call(r.fn, q)
			if errs[i] == nil {
				ok++
			}
			continue
		}
		if _, err := q.exec(`SAVEPOINT change`); err != nil {
			_ = tx.Rollback()
			fail(fmt.Errorf("db: savepoint: %w", err))
			return
		}
		if err := call(r.fn, q); err != nil {
			errs[i] = err
			// Undo this change only. If that is impossible, SQLite has
			// rolled back the whole transaction: nothing of the batch holds.
			if _, rerr := q.exec(`ROLLBACK TO change`); rerr != nil {
				_ = tx.Rollback()
				fail(fmt.Errorf("db: transaction aborted by another change: %w", rerr))
				return
			}
		}
		if _, err := q.exec(`RELEASE change`); err != nil {
			_ = tx.Rollback()
			fail(fmt.Errorf("db: release savepoint: %w", err))
			return
		}
		if errs[i] == nil {
			ok++
		}
	}
	if ok == 0 {
		_ = tx.Rollback()
		answer()
		return
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("db: commit: %w", err))
		return
	}
	b.gen.Add(1)
	answer()
}

// call runs fn, turning a panic into an error so that one bad change cannot
// take the writer down.
func call(fn func(q Querier) error, q Querier) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("db: panic in transaction: %v", v)
		}
	}()
	return fn(q)
}

// batchQuerier runs statements in the shared transaction. It ignores the
// cancellation of the caller's context: on SQLite an interrupted statement
// can roll back the whole transaction, and with it the other changes of
// the batch. Statements of a change are short; the caller's deadline is
// checked before its change starts.
// It uses the batcher's prepared statements; it is only used on the
// batcher's goroutine.
type batchQuerier struct {
	tx *sql.Tx
	b  *batcher
}

// exec runs one of the batcher's own statements (savepoints), prepared
// once seen often enough.
func (q *batchQuerier) exec(query string, args ...any) (sql.Result, error) {
	return q.ExecContext(context.Background(), query, args...)
}

func (q *batchQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = context.WithoutCancel(ctx)
	if st := q.b.stmt(ctx, q.tx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.tx.ExecContext(ctx, query, args...)
}

func (q *batchQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = context.WithoutCancel(ctx)
	if st := q.b.stmt(ctx, q.tx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.tx.QueryContext(ctx, query, args...)
}

func (q *batchQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = context.WithoutCancel(ctx)
	if st := q.b.stmt(ctx, q.tx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.tx.QueryRowContext(ctx, query, args...)
}
