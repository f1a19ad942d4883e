package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/jobs"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// The mail gateway is the follower "mail" of the event stream (package
// event): it reads the ticket events in batches, composes their mails
// outside any transaction, and stores them in the transaction that moves
// its position past the batch. An event is thus told exactly once, crash
// or not, also with several nodes.
//
// An event whose mails cannot be composed or stored is handed, in that
// same transaction, to the job queue as a notify job, which retries it
// with backoff and keeps it as failed after its last attempt; the events
// beside it are told at once.

const (
	// eventBatch bounds the events of one dispatch transaction.
	eventBatch = 128
	// composers compose the mails of a batch at once.
	composers = 4
	// follower is the gateway's name in the event stream.
	follower = "mail"
)

// eventPayload is a ticket event's data in the stream: the event, and the
// key of its snapshot when this process keeps one.
type eventPayload struct {
	ticket.Event
	Snap uint64 `json:"snap,omitempty"`
}

// EventData is what the event stream keeps of ev, for Log.Append in the
// transaction of the change. The ticket and message that ev carries are
// kept in memory for the dispatcher, which then need not read them back.
func (g *Gateway) EventData(ev ticket.Event) any {
	p := eventPayload{Event: ev}
	if ev.Ticket != nil {
		p.Snap = g.snaps.put(ev.Ticket, ev.Message)
	}
	return p
}

// DispatchDue tells the waiting ticket events, a batch at a time, and
// returns how many it told. The event stream's Run does the same in the
// background; tests and benchmarks call this.
func (g *Gateway) DispatchDue(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := g.opts.Events.Step(ctx, follower)
		total += n
		if err != nil || n < eventBatch {
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

// tell is the gateway's event.Handler: it composes the mails of the
// ticket events among evs and returns the Commit that stores them.
func (g *Gateway) tell(ctx context.Context, evs []event.Event) (event.Commit, error) {
	pending := pendingOf(evs)
	if len(pending) == 0 {
		return nil, nil
	}
	g.composeEvents(ctx, pending)
	return func(ctx context.Context, q db.Querier) error { return g.record(ctx, q, pending) }, nil
}

// pendingOf returns the ticket events among evs.
func pendingOf(evs []event.Event) []*pendingEvent {
	pending := make([]*pendingEvent, 0, len(evs))
	for _, e := range evs {
		if e.TicketID != 0 && strings.HasPrefix(e.Type, "ticket.") {
			pending = append(pending, &pendingEvent{id: e.ID, payload: string(e.Data)})
		}
	}
	return pending
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

// record stores the mails of evs in the transaction q that moves the
// gateway past them. An event whose mails were not composed, or cannot be
// stored (its savepoint is rolled back), becomes a notify job instead.
func (g *Gateway) record(ctx context.Context, q db.Querier, evs []*pendingEvent) error {
	wake := g.opts.Relay != "" // sends may have been queued
	// The whole batch at once, as a rule; when that fails, event by event,
	// so that only the mails that cannot be stored go to the job queue.
	whole := db.Savepoint(ctx, q, func() error {
		for _, e := range evs {
			if e.err == nil {
				if err := g.storeAll(ctx, q, e.mails); err != nil {
					return err
				}
			}
		}
		return nil
	})
	for _, e := range evs {
		if e.err == nil && whole != nil {
			e.err = db.Savepoint(ctx, q, func() error { return g.storeAll(ctx, q, e.mails) })
		}
		if e.err == nil {
			continue
		}
		// A payload that is not JSON goes as a string: the job then fails
		// at once, and an administrator sees it.
		var payload any = json.RawMessage(e.payload)
		if !json.Valid([]byte(e.payload)) {
			payload = e.payload
		}
		if _, err := jobs.Enqueue(ctx, q, JobNotify, payload, time.Time{}); err != nil {
			return fmt.Errorf("mail: event %d: %w", e.id, err)
		}
		g.log.Warn("ticket event handed to the job queue", "event", e.id, "ticket", e.ev.TicketID, "err", e.err)
		wake = true
	}
	if jq := g.jobs.Load(); jq != nil && wake {
		// After the commit, which follows at once.
		time.AfterFunc(wakeDelay, jq.Wake)
	}
	return nil
}

// wakeDelay is how long after recording the job queue is woken: long
// enough for the transaction to commit.
const wakeDelay = 10 * time.Millisecond
