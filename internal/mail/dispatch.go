package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/jobs"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// Ticket events reach the mail gateway through the ticket_events table, not
// one job each: Emit appends a row in the transaction of the change, and
// the dispatcher reads the rows in batches, composes their mails outside
// any transaction, and then, in one transaction, deletes the rows and
// stores the mails. An event is thus told exactly once, crash or not; the
// change pays one append, and the writer no job claim or done mark.
//
// An event whose mails cannot be composed or stored is handed, in that
// same transaction, to the job queue as a notify job, which retries it
// with backoff and keeps it as failed after its last attempt.
//
// Any number of dispatchers may share a database (PostgreSQL nodes): the
// transaction stores the mails only of the rows that its own DELETE
// removed, so the loser of a race drops what it composed.

const (
	// eventBatch bounds the events of one dispatch transaction.
	eventBatch = 128
	// kickDelay is how soon after Emit the dispatcher looks: long enough
	// for the change's transaction to commit.
	kickDelay = 10 * time.Millisecond
	// composers compose the mails of a batch at once.
	composers = 4
)

// eventPayload is a ticket_events row's payload: the event, and the key of
// its snapshot when this process keeps one.
type eventPayload struct {
	ticket.Event
	Snap uint64 `json:"snap,omitempty"`
}

// Emit is the ticket.Options.Emit hook: it appends ev to ticket_events in
// the transaction of the change and wakes the dispatcher soon after. The
// ticket and message that ev carries are kept in memory for the
// dispatcher, which then need not read them back.
func (g *Gateway) Emit(ctx context.Context, q db.Querier, ev ticket.Event) error {
	p := eventPayload{Event: ev}
	if ev.Ticket != nil {
		p.Snap = g.snaps.put(ev.Ticket, ev.Message)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("mail: event: %w", err)
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO ticket_events (payload, created_at) VALUES ($1, $2)`, string(b), g.now()); err != nil {
		return fmt.Errorf("mail: event: %w", err)
	}
	if g.armed.CompareAndSwap(false, true) {
		time.AfterFunc(kickDelay, func() {
			g.armed.Store(false)
			select {
			case g.kick <- struct{}{}:
			default:
			}
		})
	}
	return nil
}

// Dispatch tells ticket events until ctx ends: soon after an Emit of this
// process, and every poll interval for events written by others (the
// mailgate command, other nodes).
func (g *Gateway) Dispatch(ctx context.Context) error {
	poll := time.NewTicker(g.opts.EventPoll)
	defer poll.Stop()
	for {
		if _, err := g.DispatchDue(ctx); err != nil && ctx.Err() == nil {
			g.log.Error("telling ticket events", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-g.kick:
		case <-poll.C:
		}
	}
}

// DispatchDue tells the waiting ticket events, a batch at a time, and
// returns how many it took from the table. It stops when none is left or a
// batch recorded nothing (the database refuses writes: the events wait for
// the next call).
func (g *Gateway) DispatchDue(ctx context.Context) (int, error) {
	total := 0
	for {
		evs, err := g.waitingEvents(ctx)
		if err != nil || len(evs) == 0 {
			return total, err
		}
		g.composeEvents(ctx, evs)
		n, err := g.recordEvents(ctx, evs)
		total += n
		if err != nil || n == 0 || len(evs) < eventBatch {
			return total, err
		}
	}
}

// pendingEvent is one ticket event being told.
type pendingEvent struct {
	id      int64
	payload string
	ev      ticket.Event
	mails   []composed
	err     error // composing failed: the event goes to the job queue
}

func (g *Gateway) waitingEvents(ctx context.Context) ([]*pendingEvent, error) {
	rows, err := g.db.Reader().QueryContext(ctx, `SELECT id, payload FROM ticket_events ORDER BY id LIMIT `+strconv.Itoa(eventBatch))
	if err != nil {
		return nil, fmt.Errorf("mail: ticket events: %w", err)
	}
	evs, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (*pendingEvent, error) {
		e := &pendingEvent{}
		return e, r.Scan(&e.id, &e.payload)
	})
	if err != nil {
		return nil, fmt.Errorf("mail: ticket events: %w", err)
	}
	return evs, nil
}

// composeEvents composes the mails of evs, composers at a time.
func (g *Gateway) composeEvents(ctx context.Context, evs []*pendingEvent) {
	next := make(chan *pendingEvent)
	var wg sync.WaitGroup
	for range min(composers, len(evs)) {
		wg.Go(func() {
			for e := range next {
				g.composeEvent(ctx, e)
			}
		})
	}
	for _, e := range evs {
		next <- e
	}
	close(next)
	wg.Wait()
	// Which recipients are at the rate limit: one look for the batch
	// spares the writer a count for each of their mails. Without it, the
	// mails are counted where they are stored.
	var rcpts []string
	seen := map[string]bool{}
	for _, e := range evs {
		for _, c := range e.mails {
			if !seen[c.m.To] {
				seen[c.m.To] = true
				rcpts = append(rcpts, c.m.To)
			}
		}
	}
	if len(rcpts) == 0 {
		return
	}
	over, err := g.overLimit(ctx, rcpts)
	if err != nil {
		g.log.Debug("rate limit look-up", "err", err)
		return
	}
	for _, e := range evs {
		for i := range e.mails {
			e.mails[i].over = over[e.mails[i].m.To]
		}
	}
}

func (g *Gateway) composeEvent(ctx context.Context, e *pendingEvent) {
	defer func() {
		if r := recover(); r != nil {
			e.mails, e.err = nil, fmt.Errorf("mail: event %d panicked: %v", e.id, r)
		}
	}()
	var p eventPayload
	if err := json.Unmarshal([]byte(e.payload), &p); err != nil {
		e.err = jobs.Permanent(fmt.Errorf("mail: event %d: %w", e.id, err))
		return
	}
	e.ev = p.Event
	if p.Snap != 0 {
		e.ev.Ticket, e.ev.Message = g.snaps.take(p.Snap, e.ev)
	}
	e.mails, e.err = g.notify(ctx, e.ev, "")
}

// snapshots keeps the tickets and messages of this process's events until
// the dispatcher takes them. Keys start at a random number, so that an
// event another process wrote matches none. Events whose transaction rolled
// back leave theirs behind: they are dropped after snapTTL.
type snapshots struct {
	mu    sync.Mutex
	next  uint64
	m     map[uint64]eventSnap
	bytes int // of message text kept
	swept time.Time
}

type eventSnap struct {
	t  *ticket.Ticket
	m  *ticket.Message
	at time.Time
}

const (
	snapMaxBytes = 8 << 20 // message text kept at most; beyond, events are read back
	snapMax      = 4096
	snapTTL      = time.Minute
)

func newSnapshots() *snapshots {
	return &snapshots{next: rand.Uint64() >> 1, m: map[uint64]eventSnap{}}
}

// put keeps t and m and returns their key, or 0 when full.
func (s *snapshots) put(t *ticket.Ticket, m *ticket.Message) uint64 {
	size := 0
	if m != nil {
		size = len(m.Body) + len(m.BodyHTML)
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.swept) > snapTTL {
		for k, v := range s.m {
			if now.Sub(v.at) > snapTTL {
				s.drop(k, v)
			}
		}
		s.swept = now
	}
	if len(s.m) >= snapMax || s.bytes+size > snapMaxBytes {
		return 0
	}
	s.next++
	s.m[s.next] = eventSnap{t: t, m: m, at: now}
	s.bytes += size
	return s.next
}

// take removes and returns the snapshot of key when it is ev's.
func (s *snapshots) take(key uint64, ev ticket.Event) (*ticket.Ticket, *ticket.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, nil
	}
	s.drop(key, v)
	if v.t.ID != ev.TicketID || v.m != nil && v.m.ID != ev.MessageID {
		return nil, nil
	}
	return v.t, v.m
}

func (s *snapshots) drop(key uint64, v eventSnap) {
	delete(s.m, key)
	if v.m != nil {
		s.bytes -= len(v.m.Body) + len(v.m.BodyHTML)
	}
}

// recordEvents stores the mails of evs and deletes their rows in one
// transaction, or, when that fails, each event in a transaction of its own,
// so that one bad event goes to the job queue alone. It returns how many
// events it took from the table.
func (g *Gateway) recordEvents(ctx context.Context, evs []*pendingEvent) (int, error) {
	n, err := g.recordTx(ctx, evs, false)
	if err == nil || ctx.Err() != nil {
		return n, err
	}
	g.log.Debug("recording ticket events one by one", "events", len(evs), "err", err)
	var errs []error
	for _, e := range evs {
		k, err := g.recordTx(ctx, []*pendingEvent{e}, false)
		if err != nil && e.err == nil {
			// Its mails could not be stored: retried as a job.
			e.err = err
			k, err = g.recordTx(ctx, []*pendingEvent{e}, true)
		}
		n += k
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// recordTx runs one dispatch transaction for evs: it deletes their rows,
// then stores the mails of those it deleted, or enqueues a notify job for
// those that failed (for all when retry is set).
func (g *Gateway) recordTx(ctx context.Context, evs []*pendingEvent, retry bool) (int, error) {
	ids := make([]int64, 0, len(evs))
	for _, e := range evs {
		ids = append(ids, e.id)
	}
	var mine map[int64]bool
	err := g.db.Tx(ctx, func(q db.Querier) error {
		var err error
		if mine, err = deleteEvents(ctx, q, ids); err != nil {
			return err
		}
		for _, e := range evs {
			switch {
			case !mine[e.id]: // told by another dispatcher
			case e.err != nil || retry:
				// A payload that is not JSON goes as a string: the job
				// then fails at once, and an administrator sees it.
				var payload any = json.RawMessage(e.payload)
				if !json.Valid([]byte(e.payload)) {
					payload = e.payload
				}
				if _, err := jobs.Enqueue(ctx, q, JobNotify, payload, time.Time{}); err != nil {
					return err
				}
			default:
				if err := g.storeAll(ctx, q, e.mails); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mail: ticket events: %w", err)
	}
	wake := g.opts.Relay != "" // sends may have been queued
	for _, e := range evs {
		if mine[e.id] && (e.err != nil || retry) {
			g.log.Warn("ticket event handed to the job queue", "event", e.id, "ticket", e.ev.TicketID, "err", e.err)
			wake = true
		}
	}
	if q := g.jobs.Load(); q != nil && wake && len(mine) > 0 {
		q.Wake()
	}
	return len(mine), nil
}

// deleteEvents deletes the events ids and returns those it deleted.
func deleteEvents(ctx context.Context, q db.Querier, ids []int64) (map[int64]bool, error) {
	list, args := inList(1, ids)
	got, err := db.Column[int64](q.QueryContext(ctx, `DELETE FROM ticket_events WHERE id IN (`+list+`) RETURNING id`, args...))
	if err != nil {
		return nil, err
	}
	mine := make(map[int64]bool, len(got))
	for _, id := range got {
		mine[id] = true
	}
	return mine, nil
}
