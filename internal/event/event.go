// Package event holds the one stream of events that every follower reads:
// mail notifications, live pages, webhooks, connectors and timers.
//
// An event is appended in the transaction of the change it tells of, so it
// exists exactly when the change does. Each follower keeps its own position
// in the stream and moves it in the transaction that records what the
// events caused (mails stored, deliveries queued): each follower thus tells
// each event exactly once in effect, in order, across crashes and across
// nodes. A follower that fails is retried with backoff on its own; the
// others go on. Events that every follower has passed are pruned once they
// are older than the retention period (the feed of the API reads them until
// then).
package event

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
)

// The event types (DESIGN.md, "Events: one stream, many followers").
const (
	TicketCreated    = "ticket.created"
	TicketUpdated    = "ticket.updated"
	TicketAssigned   = "ticket.assigned"
	TicketMessage    = "ticket.message"
	TicketNote       = "ticket.note"
	TicketEscalated  = "ticket.escalated"
	TicketQoSWarning = "ticket.qos_warning"
	TicketQoSViolate = "ticket.qos_violated"
	TicketReminder   = "ticket.reminder"
	TicketAlarm      = "ticket.alarm"
	TicketSolved     = "ticket.solved"
	TicketClosed     = "ticket.closed"
	TicketReopened   = "ticket.reopened"
	IncidentCreated  = "incident.created"
	IncidentUpdated  = "incident.updated"
	ChangeCreated    = "change.created"
	ChangeUpdated    = "change.updated"
	ChangeReminder   = "change.reminder" // 24 h and 1 h before a change starts
	KnownErrorUpdate = "known_error.updated"
)

// Types lists every event type.
var Types = []string{TicketCreated, TicketUpdated, TicketAssigned, TicketMessage, TicketNote,
	TicketEscalated, TicketQoSWarning, TicketQoSViolate, TicketReminder, TicketAlarm, TicketSolved,
	TicketClosed, TicketReopened, IncidentCreated, IncidentUpdated, ChangeCreated, ChangeUpdated, ChangeReminder, KnownErrorUpdate}

// Event is one committed change.
type Event struct {
	// Position orders the stream: the id on SQLite, the order in which
	// PostgreSQL saw the events commit. The API's cursor.
	Position int64
	ID       int64
	Type     string
	At       time.Time
	TicketID int64 // 0 when the event is not about a ticket
	Data     json.RawMessage
}

// Item is an event as shown outside helpmesh: an entry of the change feed
// (GET /api/v1/events) and the data of a webhook delivery. Data is the
// event's public data (for a ticket event, never a message's body).
type Item struct {
	ID       int64     `json:"id"`
	Type     string    `json:"type"`
	At       time.Time `json:"at"`
	TicketID int64     `json:"ticket_id,omitempty"`
	Data     any       `json:"data"`
}

// Options configures a Log.
type Options struct {
	Log *slog.Logger
	// Poll is how often followers look for events written by other
	// processes (default 250 ms); this process's own events wake them
	// at once.
	Poll time.Duration
	// Retention keeps events that every follower has passed this long
	// (default 72 h), for the feed of the API.
	Retention time.Duration
	// Now returns the current time; time.Now by default.
	Now func() time.Time
	// Numbered, when set, is called after this process numbered new
	// events (PostgreSQL), to wake the followers of the other processes
	// (package notifybus); they call Wake. Their poll is the fallback.
	Numbered func()
}

// Log is the event stream of one database.
type Log struct {
	db   *db.DB
	sql  dialect
	opts Options

	mu         sync.Mutex
	followers  []*follower
	armed      atomic.Bool
	sequencing sync.Mutex // PostgreSQL: held by the one sequence call of this process
	// sequencer is set while Run's sequencer numbers the events
	// (PostgreSQL): Append wakes it, and it wakes the followers.
	sequencer atomic.Bool
	seqKick   chan struct{}
}

// New returns the stream of d.
func New(d *db.DB, opts Options) *Log {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	if opts.Retention <= 0 {
		opts.Retention = 72 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Log{db: d, sql: dialectOf(d), opts: opts, seqKick: make(chan struct{}, 1)}
}

func (l *Log) now() time.Time { return l.opts.Now().UTC() }

// kickDelay is how soon after Append the followers look: long enough for
// the change's transaction to commit.
const kickDelay = 10 * time.Millisecond

// Append writes an event in the transaction q of the change it tells of,
// and wakes this process's followers soon after. data is marshalled to
// JSON.
func (l *Log) Append(ctx context.Context, q db.Querier, typ string, ticketID int64, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("event: %s: %w", typ, err)
	}
	var tid any
	if ticketID != 0 {
		tid = ticketID
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO events (type, at, ticket_id, data) VALUES ($1, $2, $3, $4)`, typ, l.now(), tid, string(b)); err != nil {
		return fmt.Errorf("event: %s: %w", typ, err)
	}
	if l.armed.CompareAndSwap(false, true) {
		time.AfterFunc(kickDelay, func() {
			l.armed.Store(false)
			if l.sequencer.Load() {
				select {
				case l.seqKick <- struct{}{}:
				default:
				}
				return
			}
			l.Wake()
		})
	}
	return nil
}

// Wake makes every follower of this process look for events now.
func (l *Log) Wake() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.followers {
		select {
		case f.kick <- struct{}{}:
		default:
		}
	}
}

// Read returns up to limit events after position pos, in order.
// It numbers what has committed first, so that a reader sees its own
// changes (on PostgreSQL, where events are numbered after they commit).
func (l *Log) Read(ctx context.Context, pos int64, limit int) ([]Event, error) {
	if _, err := l.sequence(ctx); err != nil {
		return nil, err
	}
	return l.read(ctx, pos, limit)
}

// read is Read without numbering: Run's followers read what its
// sequencer has numbered, and are woken when it has numbered more.
func (l *Log) read(ctx context.Context, pos int64, limit int) ([]Event, error) {
	rows, err := l.db.Reader().QueryContext(ctx, l.sql.read(limit), pos)
	if err != nil {
		return nil, fmt.Errorf("event: read: %w", err)
	}
	evs, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (Event, error) {
		var e Event
		var tid *int64
		var data string
		err := r.Scan(&e.Position, &e.ID, &e.Type, &e.At, &tid, &data)
		e.At = e.At.UTC()
		if tid != nil {
			e.TicketID = *tid
		}
		e.Data = json.RawMessage(data)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("event: read: %w", err)
	}
	return evs, nil
}

// Head is the position of the newest event.
func (l *Log) Head(ctx context.Context) (int64, error) {
	if _, err := l.sequence(ctx); err != nil {
		return 0, err
	}
	var h int64
	if err := l.db.Reader().QueryRowContext(ctx, l.sql.head()).Scan(&h); err != nil {
		return 0, fmt.Errorf("event: head: %w", err)
	}
	return h, nil
}
