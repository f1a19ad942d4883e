package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// Follower is the engine's name in the event stream.
const Follower = "connectors"

// Operations of the outbound queue's items.
const (
	opCreate   = "create"
	opMessage  = "message"
	opNote     = "note"
	opStatus   = "status"
	opPriority = "priority"
)

// Follow registers the engine's follower with the event stream.
func (e *Engine) Follow(l *event.Log) {
	l.Follow(Follower, e.Tell, event.FollowOptions{Committed: e.committed})
}

// ticketEvent is what the follower reads of a ticket event's data.
type ticketEvent struct {
	Kind      string
	TicketID  int64
	MessageID int64
	Internal  bool
	Changes   []ticket.Change
	Source    ticket.Source
}

// item is one entry of the outbound queue.
type item struct {
	connectorID, ticketID, eventID, messageID int64
	op, value                                 string
}

// opsOf returns the items an event makes for the connector of its ticket
// (connectorID filled in later): the creation, a reply or a note, and its
// status and priority changes. Changes the peer made come back as events
// with the source "peer": they are not sent back.
func opsOf(e event.Event) ([]item, error) {
	if e.TicketID == 0 || !strings.HasPrefix(e.Type, "ticket.") {
		return nil, nil
	}
	var te ticketEvent
	if err := json.Unmarshal(e.Data, &te); err != nil {
		return nil, fmt.Errorf("connector: event %d: %w", e.ID, err)
	}
	if te.Source == ticket.FromPeer {
		return nil, nil
	}
	var out []item
	add := func(op string, mid int64, value string) {
		out = append(out, item{ticketID: e.TicketID, eventID: e.ID, op: op, messageID: mid, value: value})
	}
	switch te.Kind {
	case "created":
		add(opCreate, te.MessageID, "")
		return out, nil
	case "message":
		if te.Internal {
			add(opNote, te.MessageID, "")
		} else {
			add(opMessage, te.MessageID, "")
		}
	}
	for _, c := range te.Changes {
		switch c.Field {
		case "status":
			add(opStatus, 0, c.New)
		case "priority":
			add(opPriority, 0, c.New)
		}
	}
	return out, nil
}

// Tell is the follower's event.Handler: it turns the changes to tickets
// of external services with a connector into items of that connector's
// queue, inserted by the Commit that moves the follower past evs. Where
// no service is external with a connector (most instances, most of the
// time) it costs two reads per batch and decodes no event.
func (e *Engine) Tell(ctx context.Context, evs []event.Event) (event.Commit, error) {
	e.queued.Store(false)
	if !slices.ContainsFunc(evs, func(ev event.Event) bool { return ev.TicketID != 0 }) {
		return nil, nil
	}
	byService, err := e.externalServices(ctx)
	if err != nil || len(byService) == 0 {
		return nil, err
	}
	var items []item
	var ids []int64
	for _, ev := range evs {
		its, err := opsOf(ev)
		if err != nil {
			e.opts.Log.Warn("connectors: an event that does not parse", "event", ev.ID, "err", err)
			continue
		}
		if len(its) > 0 {
			items = append(items, its...)
			ids = append(ids, ev.TicketID)
		}
	}
	if len(items) == 0 {
		return nil, nil
	}
	briefs, err := e.opts.Tickets.Briefs(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("connector: tickets of the events: %w", err)
	}
	kept := items[:0]
	for _, it := range items {
		if id, ok := byService[briefs[it.ticketID].ServiceID]; ok && briefs[it.ticketID].ServiceID != 0 {
			it.connectorID = id
			kept = append(kept, it)
		}
	}
	if len(kept) == 0 {
		return nil, nil
	}
	return func(ctx context.Context, q db.Querier) error {
		if err := e.queue(ctx, q, kept); err != nil {
			return err
		}
		e.queued.Store(true) // Committed wakes the sender
		return nil
	}, nil
}

// committed is the follower's event.FollowOptions.Committed: it wakes
// the sender when the batch queued items.
func (e *Engine) committed() {
	if e.queued.Swap(false) {
		e.Wake()
	}
}

// externalServices maps the id of each service in the external mode to
// the id of its connector (none without a connector: then the catalogue
// is not read).
func (e *Engine) externalServices(ctx context.Context) (map[int64]int64, error) {
	cs, err := e.list(ctx)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	svs, err := e.opts.Services.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("connector: services: %w", err)
	}
	ids := map[string]int64{}
	for _, c := range cs {
		ids[c.Name] = c.ID
	}
	out := map[int64]int64{}
	for _, sv := range svs {
		if id, ok := ids[sv.Connector]; ok && sv.Mode == unit.External {
			out[sv.ID] = id
		}
	}
	return out, nil
}

// queue inserts items in q; one that exists already (a batch told again)
// is left as it is, and so is a message or note that is sent or queued
// already (reconciliation may have queued it again before the follower
// saw its event).
func (e *Engine) queue(ctx context.Context, q db.Querier, items []item) error {
	now := e.now()
	for _, it := range items {
		if it.op == opMessage || it.op == opNote {
			var known int
			err := q.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM connector_sent WHERE connector_id = $1 AND message_id = $2)
				+ (SELECT COUNT(*) FROM connector_items WHERE connector_id = $1 AND message_id = $2 AND op IN ('message', 'note'))`,
				it.connectorID, it.messageID).Scan(&known)
			if err != nil {
				return fmt.Errorf("connector: queue: %w", err)
			}
			if known > 0 {
				continue
			}
		}
		_, err := q.ExecContext(ctx, `INSERT INTO connector_items (connector_id, ticket_id, event_id, op, message_id, value, next_try_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (connector_id, event_id, op) DO NOTHING`,
			it.connectorID, it.ticketID, it.eventID, it.op, it.messageID, it.value, now)
		if err != nil {
			return fmt.Errorf("connector: queue: %w", err)
		}
	}
	return nil
}
