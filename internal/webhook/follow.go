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
	l.Follow(Follower, s.Tell, event.FollowOptions{})
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
}

// Tell is the follower's event.Handler: it matches evs to the webhooks
// (not the units' chats) and returns the Commit that queues one delivery
// per match.
func (s *Store) Tell(ctx context.Context, evs []event.Event) (event.Commit, error) {
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
	return s.match(evs, ws, units, func(e event.Event, _ *Webhook) (string, error) {
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
// body per pair; a pair whose body is empty, or fails, is left out.
func (s *Store) match(evs []event.Event, ws []*Webhook, units map[int64]int64, body func(event.Event, *Webhook) (string, error)) event.Commit {
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
		if err := s.queue(ctx, q, qs); err != nil {
			return err
		}
		time.AfterFunc(10*time.Millisecond, s.Wake) // once committed
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

// queue inserts the deliveries qs in q; one that exists already (a batch
// told again after a failed commit cannot have one, but a restored
// position could) is left as it is.
func (s *Store) queue(ctx context.Context, q db.Querier, qs []queued) error {
	now := s.now()
	for len(qs) > 0 {
		chunk := qs[:min(len(qs), queueChunk)]
		qs = qs[len(chunk):]
		args := []any{now}
		var b strings.Builder
		for i, d := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			n := len(args)
			args = append(args, d.webhookID, d.eventID, d.typ, d.body)
			b.WriteString("($" + strconv.Itoa(n+1) + ", $" + strconv.Itoa(n+2) + ", $" + strconv.Itoa(n+3) + ", $" + strconv.Itoa(n+4) + ", $1, $1)")
		}
		_, err := q.ExecContext(ctx, `INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body, next_try_at, created_at)
			VALUES `+b.String()+` ON CONFLICT (webhook_id, event_id) DO NOTHING`, args...)
		if err != nil {
			return fmt.Errorf("webhook: queue deliveries: %w", err)
		}
	}
	return nil
}
