package event

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
)

// Handler tells a batch of events, in order. What it records in the
// database it returns as a Commit, which runs in the transaction that moves
// the follower past the batch: the batch is then told exactly once. A
// Handler or Commit that fails is called again later with the same events.
// A Handler that does something outside the database (a webhook POST)
// should queue it in its Commit, or make it idempotent by the event's id.
type Handler func(ctx context.Context, evs []Event) (Commit, error)

// Commit records what a batch caused, in the transaction q that moves the
// follower's position. It may be nil.
type Commit func(ctx context.Context, q db.Querier) error

// FollowOptions configures one follower.
type FollowOptions struct {
	// Batch bounds the events given to the Handler at once (default 128).
	Batch int
	// FromStart makes a follower that has no position yet start at the
	// oldest event kept; by default it starts after the newest.
	FromStart bool
	// Local keeps the position in this process only: the follower starts
	// after the newest event at each start, holds back no pruning, and
	// sees each event once per process (live pages of this node).
	Local bool
	// Committed, when set, is called after each batch whose transaction
	// committed in this process (not after one that failed, nor one another
	// process told first): a follower hands what its Commit queued to its
	// worker then, instead of the worker reading it back.
	Committed func()
}

type follower struct {
	name string
	h    Handler
	opts FollowOptions
	kick chan struct{}

	mu       sync.Mutex
	pos      int64
	loaded   bool
	told     int64
	failures int64 // in a row
	lastErr  string
	retryAt  time.Time
}

// Follow registers a follower; call it before Run. name is its key in the
// database: a follower keeps its position across restarts under it.
func (l *Log) Follow(name string, h Handler, opts FollowOptions) {
	if opts.Batch <= 0 {
		opts.Batch = 128
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.followers = append(l.followers, &follower{name: name, h: h, opts: opts, kick: make(chan struct{}, 1)})
}

// pruneEvery is how often Run prunes events and marks its followers seen.
const pruneEvery = time.Minute

// staleAfter is how long a follower no process runs holds back pruning.
const staleAfter = 7 * 24 * time.Hour

// Run tells the events to every follower until ctx ends, and prunes what
// all have passed.
func (l *Log) Run(ctx context.Context) error {
	if err := l.Start(ctx); err != nil {
		return err
	}
	l.mu.Lock()
	fs := append([]*follower(nil), l.followers...)
	l.mu.Unlock()
	var wg sync.WaitGroup
	if !l.sql.sequential {
		l.sequencer.Store(true)
		defer l.sequencer.Store(false)
		wg.Go(func() { l.sequenceLoop(ctx) })
	}
	for _, f := range fs {
		wg.Go(func() { l.follow(ctx, f) })
	}
	wg.Go(func() {
		t := time.NewTicker(pruneEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := l.Prune(ctx); err != nil && ctx.Err() == nil {
				l.opts.Log.Warn("pruning events", "err", err)
			}
		}
	})
	wg.Wait()
	return ctx.Err()
}

// sequenceLoop numbers the events as they commit (PostgreSQL), soon after
// an Append of this process and at every poll for other processes', and
// wakes the followers when it has numbered some.
func (l *Log) sequenceLoop(ctx context.Context) {
	poll := time.NewTicker(l.opts.Poll)
	defer poll.Stop()
	for {
		for {
			n, err := l.sequence(ctx)
			if err != nil && ctx.Err() == nil {
				l.opts.Log.Warn("numbering events", "err", err)
			}
			if err != nil || n < sequenceBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-l.seqKick:
		case <-poll.C:
		}
		// Let a few changes gather: numbering is one transaction for
		// all of them.
		select {
		case <-ctx.Done():
			return
		case <-time.After(sequenceGather):
		}
	}
}

// sequenceGather is how long the sequencer lets events gather after a
// wake before it numbers them.
const sequenceGather = 40 * time.Millisecond

// Start registers the followers: a durable one gets its row if it has
// none, a local one starts after the newest event. Call it before the
// process takes requests, so that a local follower (a counter, live pages)
// sees every change made from then on; Run calls it if nobody did.
func (l *Log) Start(ctx context.Context) error {
	l.mu.Lock()
	fs := append([]*follower(nil), l.followers...)
	l.mu.Unlock()
	for _, f := range fs {
		f.mu.Lock()
		started := f.loaded
		f.mu.Unlock()
		if started {
			continue
		}
		if err := l.register(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// register gives a new durable follower its row, positioned at the head
// (or the start), and marks an existing one seen.
func (l *Log) register(ctx context.Context, f *follower) error {
	var start int64
	if !f.opts.FromStart {
		h, err := l.Head(ctx)
		if err != nil {
			return err
		}
		start = h
	}
	if f.opts.Local {
		f.mu.Lock()
		f.pos, f.loaded = start, true
		f.mu.Unlock()
		return nil
	}
	err := l.db.Tx(ctx, func(q db.Querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO event_followers (name, position, seen_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at`, f.name, start, l.now())
		return err
	})
	if err != nil {
		return fmt.Errorf("event: register follower %s: %w", f.name, err)
	}
	return nil
}

// follow runs one follower until ctx ends: a batch after another while
// they are full, then at each wake or poll; after a failure, once its
// backoff has passed.
func (l *Log) follow(ctx context.Context, f *follower) {
	poll := time.NewTicker(l.opts.Poll)
	defer poll.Stop()
	for {
		n, err := l.step(ctx, f, !l.sequencer.Load())
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errMoved) {
			continue // another process told that batch: go on from its position
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(l.failed(ctx, f, err)):
			}
			continue
		}
		if n == f.opts.Batch {
			continue // more are waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-f.kick:
		case <-poll.C:
		}
	}
}

// backoff is the wait after n failures in a row: 1 s doubling to 5 min,
// with a fifth of jitter.
func backoff(n int64) time.Duration {
	d := time.Second << min(n-1, 9)
	d = min(d, 5*time.Minute)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// failed records f's failure and returns how long it waits.
func (l *Log) failed(ctx context.Context, f *follower, cause error) time.Duration {
	f.mu.Lock()
	f.failures++
	d := backoff(f.failures)
	f.lastErr = cause.Error()
	f.retryAt = l.now().Add(d)
	local, retryAt := f.opts.Local, f.retryAt
	f.mu.Unlock()
	l.opts.Log.Warn("event follower failed", "follower", f.name, "err", cause, "retry_in", d)
	if !local {
		err := l.db.Tx(ctx, func(q db.Querier) error {
			_, err := q.ExecContext(ctx, `UPDATE event_followers SET failures = failures + 1, last_error = $1, retry_at = $2 WHERE name = $3`,
				truncate(cause.Error(), 1000), retryAt, f.name)
			return err
		})
		if err != nil && ctx.Err() == nil {
			l.opts.Log.Warn("recording a follower's failure", "follower", f.name, "err", err)
		}
	}
	return d
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// errMoved: another process told the batch first.
var errMoved = errors.New("event: the follower's position moved")

// Step tells the follower name one batch of the events after its position
// and returns how many it told. Run calls it; tests call it directly.
func (l *Log) Step(ctx context.Context, name string) (int, error) {
	f := l.follower(name)
	if f == nil {
		return 0, fmt.Errorf("event: no follower %q", name)
	}
	// Another process (or Run's own loop) may tell the batch first: then
	// go on from where it left the position, so that Step returns only
	// when the follower has caught up or told a batch itself.
	for range 5 {
		n, err := l.step(ctx, f, true)
		if !errors.Is(err, errMoved) {
			return n, err
		}
	}
	return 0, nil
}

// step tells f one batch; number first numbers what has committed (Run's
// followers leave that to its sequencer, which wakes them).
func (l *Log) step(ctx context.Context, f *follower, number bool) (int, error) {
	if err := l.load(ctx, f); err != nil {
		return 0, err
	}
	f.mu.Lock()
	pos := f.pos
	f.mu.Unlock()
	read := l.read
	if number {
		read = l.Read
	}
	evs, err := read(ctx, pos, f.opts.Batch)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	commit, err := f.h(ctx, evs)
	if err != nil {
		return 0, fmt.Errorf("event: follower %s: %w", f.name, err)
	}
	last := evs[len(evs)-1].Position
	if f.opts.Local {
		if commit != nil {
			err = l.lightTx(ctx, func(q db.Querier) error { return commit(ctx, q) })
		}
	} else {
		err = l.lightTx(ctx, func(q db.Querier) error {
			res, err := q.ExecContext(ctx, `UPDATE event_followers SET position = $1, told = told + $2,
				failures = 0, last_error = '', retry_at = NULL, seen_at = $3
				WHERE name = $4 AND position = $5`,
				last, len(evs), l.now(), f.name, pos)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return errors.Join(errMoved, err)
			}
			if commit == nil {
				return nil
			}
			return commit(ctx, q)
		})
	}
	f.mu.Lock()
	if errors.Is(err, errMoved) {
		f.loaded = false // read the position another process left
		f.mu.Unlock()
		return 0, errMoved
	}
	if err != nil {
		f.mu.Unlock()
		return 0, fmt.Errorf("event: follower %s: %w", f.name, err)
	}
	f.pos = last
	f.told += int64(len(evs))
	f.failures, f.lastErr, f.retryAt = 0, "", time.Time{}
	f.mu.Unlock()
	if f.opts.Committed != nil {
		f.opts.Committed()
	}
	return len(evs), nil
}

func (l *Log) follower(name string) *follower {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.followers {
		if f.name == name {
			return f
		}
	}
	return nil
}

// load reads f's position from the database when it is not known.
func (l *Log) load(ctx context.Context, f *follower) error {
	f.mu.Lock()
	loaded := f.loaded
	f.mu.Unlock()
	if loaded {
		return nil
	}
	if f.opts.Local {
		h, err := l.Head(ctx)
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.pos, f.loaded = h, true
		f.mu.Unlock()
		return nil
	}
	var c int64
	err := l.db.Reader().QueryRowContext(ctx, `SELECT position FROM event_followers WHERE name = $1`, f.name).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		if err := l.register(ctx, f); err != nil {
			return err
		}
		err = l.db.Reader().QueryRowContext(ctx, `SELECT position FROM event_followers WHERE name = $1`, f.name).Scan(&c)
	}
	if err != nil {
		return fmt.Errorf("event: follower %s: position: %w", f.name, err)
	}
	f.mu.Lock()
	f.pos, f.loaded = c, true
	f.mu.Unlock()
	return nil
}
