package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// Follower is the webhooks' name in the event stream.
const Follower = "webhooks"

// Follow registers the store's follower with the event stream.
func (s *Store) Follow(l *event.Log) {
	l.Follow(Follower, s.Tell, event.FollowOptions{Committed: s.committedFunc(Follower)})
}

// Body is a delivery's JSON body.
type Body struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// wants tells whether w subscribes to e, whose ticket is in unitID (0 for
// none or not a ticket event). A webhook sees only the events that
// happened since it was created; a unit's webhook only its tickets'.
func (w *Webhook) wants(e event.Event, unitID int64) bool {
	if e.At.Before(w.CreatedAt.Truncate(time.Second)) {
		return false
	}
	if w.UnitID != 0 && (!ticket.IsTicketEvent(e) || unitID != w.UnitID) {
		return false
	}
	return slices.Contains(w.Events, AllEvents) || slices.Contains(w.Events, e.Type)
}

// queued is one delivery the follower inserts.
type queued struct {
	webhookID, eventID int64
	typ, body          string
	id                 int64 // the row's, once inserted
}

// Tell is the follower's event.Handler: it matches evs to the webhooks
// (not the units' chats) and returns the Commit that queues one delivery
// per match.
func (s *Store) Tell(ctx context.Context, evs []event.Event) (event.Commit, error) {
	s.hand.stage(Follower, nil)
	ws, err := s.all(ctx)
	if err != nil {
		return nil, err
	}
	ws = slices.DeleteFunc(ws, func(w *Webhook) bool { return w.Format != "" })
	if len(ws) == 0 {
		return nil, nil
	}
	units := map[int64]int64{}
	if slices.ContainsFunc(ws, func(w *Webhook) bool { return w.UnitID != 0 }) {
		var ids []int64
		for _, e := range evs {
			if ticket.IsTicketEvent(e) {
				ids = append(ids, e.TicketID)
			}
		}
		if units, err = s.opts.Units.UnitsOf(ctx, ids); err != nil {
			return nil, fmt.Errorf("webhook: units of the events' tickets: %w", err)
		}
	}
	bodies := map[int64]string{}
	return s.match(Follower, evs, ws, units, func(e event.Event, _ *Webhook) (string, error) {
		if b, ok := bodies[e.ID]; ok {
			return b, nil
		}
		b, err := bodyOf(e)
		bodies[e.ID] = b
		return b, err
	}), nil
}

// match pairs evs with the webhooks of ws that want them (units tells
// each ticket's unit) and returns the Commit that queues a delivery of
// body per pair; a pair whose body is empty, or fails, is left out. The
// Commit stages what it queued claimed for follower's Committed.
func (s *Store) match(follower string, evs []event.Event, ws []*Webhook, units map[int64]int64, body func(event.Event, *Webhook) (string, error)) event.Commit {
	var qs []queued
	for _, e := range evs {
		for _, w := range ws {
			if !w.wants(e, units[e.TicketID]) {
				continue
			}
			b, err := body(e, w)
			if err != nil {
				s.opts.Log.Warn("an event a webhook cannot show", "event", e.ID, "webhook", w.ID, "err", err)
				continue
			}
			if b != "" {
				qs = append(qs, queued{webhookID: w.ID, eventID: e.ID, typ: e.Type, body: b})
			}
		}
	}
	if len(qs) == 0 {
		return nil
	}
	return func(ctx context.Context, q db.Querier) error {
		if !s.hand.room() {
			// The worker is behind: its claim takes these in turn.
			return s.queue(ctx, q, qs, false)
		}
		if err := s.queue(ctx, q, qs, true); err != nil {
			return err
		}
		s.hand.stage(follower, claimedOf(qs))
		return nil
	}
}

// bodyOf is the body of e's deliveries: its data is e as the change feed
// (GET /api/v1/events) shows it, with its public data only.
func bodyOf(e event.Event) (string, error) {
	d, err := ticket.PublicData(e)
	if err != nil {
		return "", err
	}
	item := event.Item{ID: e.ID, Type: e.Type, At: e.At.UTC(), TicketID: e.TicketID, Data: d}
	b, err := json.Marshal(Body{Type: e.Type, Timestamp: e.At.UTC(), Data: item})
	return string(b), err
}

// queueChunk bounds the rows of one INSERT.
const queueChunk = 100

// queue inserts the deliveries qs in q, claimed by this process for the
// handoff when claim is set (their ids are filled in); one that exists
// already (a batch told again after a failed commit cannot have one, but
// a restored position could) is left as it is, and not claimed.
func (s *Store) queue(ctx context.Context, q db.Querier, qs []queued, claim bool) error {
	now := s.now()
	var lock any // NULL: for the worker's claim
	if claim {
		lock = now.Add(lockFor)
	}
	for len(qs) > 0 {
		chunk := qs[:min(len(qs), queueChunk)]
		qs = qs[len(chunk):]
		args := []any{now, lock}
		var b strings.Builder
		for i, d := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			n := len(args)
			args = append(args, d.webhookID, d.eventID, d.typ, d.body)
			b.WriteString("($" + strconv.Itoa(n+1) + ", $" + strconv.Itoa(n+2) + ", $" + strconv.Itoa(n+3) + ", $" + strconv.Itoa(n+4) + ", $1, $1, $2)")
		}
		rows, err := q.QueryContext(ctx, `INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body, next_try_at, created_at, locked_until)
			VALUES `+b.String()+` ON CONFLICT (webhook_id, event_id) DO NOTHING RETURNING id, webhook_id, event_id`, args...)
		if err != nil {
			return fmt.Errorf("webhook: queue deliveries: %w", err)
		}
		ids := map[[2]int64]int64{}
		for rows.Next() {
			var id, webhookID, eventID int64
			if err := rows.Scan(&id, &webhookID, &eventID); err != nil {
				rows.Close()
				return fmt.Errorf("webhook: queue deliveries: %w", err)
			}
			ids[[2]int64{webhookID, eventID}] = id
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("webhook: queue deliveries: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("webhook: queue deliveries: %w", err)
		}
		for i := range chunk {
			chunk[i].id = ids[[2]int64{chunk[i].webhookID, chunk[i].eventID}]
		}
	}
	return nil
}

// claimedOf returns the deliveries of qs that queue inserted, as claimed
// for their first attempt.
func claimedOf(qs []queued) []*claimed {
	out := make([]*claimed, 0, len(qs))
	for _, d := range qs {
		if d.id != 0 {
			out = append(out, &claimed{id: d.id, webhookID: d.webhookID, eventID: d.eventID, body: d.body})
		}
	}
	return out
}
