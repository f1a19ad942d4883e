package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/tmf621"
	"github.com/helpmesh/helpmesh/internal/webhook"
)

// HubFollower is the name of the event stream's follower that queues the
// hub's deliveries.
const HubFollower = "federation-hub"

// MaxHubs bounds the subscriptions of one peer.
const MaxHubs = 10

// Subscribe registers a callback of peer at the hub: changes to its
// tickets that it did not make are pushed to callback/listener/<type>,
// signed with the secret returned (shown once).
func (s *Store) Subscribe(ctx context.Context, peer *auth.Principal, callback string) (*tmf621.Hub, error) {
	if peer.ReadOnly {
		return nil, apperr.New(apperr.Forbidden, "this credential is read-only")
	}
	callback = strings.TrimRight(callback, "/")
	if err := s.opts.Checker.CheckURL(ctx, callback); err != nil {
		return nil, apperr.Field("callback", "is refused: %v", err)
	}
	secret := newSecret()
	var id int64
	err := s.db.Tx(ctx, func(q db.Querier) error {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM federation_hubs WHERE peer_id = $1`, peer.UserID).Scan(&n); err != nil {
			return err
		}
		if n >= MaxHubs {
			return apperr.New(apperr.Conflict, "a peer has at most %d hub subscriptions", MaxHubs)
		}
		var err error
		id, err = s.db.InsertID(ctx, q, `INSERT INTO federation_hubs (peer_id, callback, secret, created_at) VALUES ($1, $2, $3, $4)`,
			peer.UserID, callback, secret, s.now())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("federation: subscribe: %w", err)
	}
	return &tmf621.Hub{ID: strconv.FormatInt(id, 10), Callback: callback, Secret: secret}, nil
}

// Unsubscribe ends peer's subscription id.
func (s *Store) Unsubscribe(ctx context.Context, peer *auth.Principal, id int64) error {
	var n int64
	err := s.db.Tx(ctx, func(q db.Querier) error {
		r, err := q.ExecContext(ctx, `DELETE FROM federation_hubs WHERE id = $1 AND peer_id = $2`, id, peer.UserID)
		if err == nil {
			n, err = r.RowsAffected()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("federation: unsubscribe: %w", err)
	}
	if n == 0 {
		return apperr.New(apperr.NotFound, "no hub subscription %d", id)
	}
	return nil
}

// Follow registers the follower that queues the hub's deliveries.
func (s *Store) Follow(l *event.Log) {
	l.Follow(HubFollower, s.queue, event.FollowOptions{})
}

type hubOf struct{ id, peer int64 }

// queue finds, for each ticket event, the hub subscriptions of the peer
// the ticket is linked to, and queues a thin delivery to each, unless the
// peer made the change itself (an echo).
func (s *Store) queue(ctx context.Context, evs []event.Event) (event.Commit, error) {
	var ids []any
	var marks []string
	for _, e := range evs {
		if ticket.IsTicketEvent(e) {
			ids = append(ids, e.TicketID)
			marks = append(marks, "$"+strconv.Itoa(len(ids)))
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT t.ticket_id, h.id, h.peer_id FROM federation_tickets t
		JOIN federation_hubs h ON h.peer_id = t.peer_id WHERE t.ticket_id IN (`+strings.Join(marks, ",")+`)`, ids...)
	if err != nil {
		return nil, fmt.Errorf("federation: hubs: %w", err)
	}
	hubs := map[int64][]hubOf{}
	for rows.Next() {
		var tid int64
		var h hubOf
		if err := rows.Scan(&tid, &h.id, &h.peer); err != nil {
			rows.Close()
			return nil, fmt.Errorf("federation: hubs: %w", err)
		}
		hubs[tid] = append(hubs[tid], h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("federation: hubs: %w", err)
	}
	type push struct {
		hub, event int64
		typ, body  string
	}
	var pushes []push
	for _, e := range evs {
		hs := hubs[e.TicketID]
		if len(hs) == 0 {
			continue
		}
		var te ticket.Event
		_ = json.Unmarshal(e.Data, &te)
		var d tmf621.Delivery
		d.Type, d.Timestamp = e.Type, e.At
		d.Data.TicketID, d.Data.EventID = strconv.FormatInt(e.TicketID, 10), strconv.FormatInt(e.ID, 10)
		body, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("federation: delivery: %w", err)
		}
		for _, h := range hs {
			if te.ActorID != 0 && te.ActorID == h.peer {
				continue // the peer's own change
			}
			pushes = append(pushes, push{h.id, e.ID, e.Type, string(body)})
		}
	}
	if len(pushes) == 0 {
		return nil, nil
	}
	return func(ctx context.Context, q db.Querier) error {
		now := s.now()
		for _, p := range pushes {
			if _, err := q.ExecContext(ctx, `INSERT INTO federation_pushes (hub_id, event_id, event_type, body, next_try_at, created_at)
				VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (hub_id, event_id) DO NOTHING`, p.hub, p.event, p.typ, p.body, now); err != nil {
				return fmt.Errorf("federation: queue delivery: %w", err)
			}
		}
		// Wake the sender once the transaction has committed.
		time.AfterFunc(20*time.Millisecond, s.Wake)
		return nil
	}, nil
}

// Wake makes the sender look for due deliveries now.
func (s *Store) Wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// PushRetention is how long delivered and dead deliveries are kept.
const PushRetention = 30 * 24 * time.Hour

// Prune removes the deliveries that finished before cutoff.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := s.db.Tx(ctx, func(q db.Querier) error {
		r, err := q.ExecContext(ctx, `DELETE FROM federation_pushes WHERE state <> 'pending' AND created_at < $1`, cutoff)
		if err == nil {
			n, err = r.RowsAffected()
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("federation: prune deliveries: %w", err)
	}
	return n, nil
}

// Run sends due deliveries until ctx ends, and prunes finished ones
// hourly.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	var pruned time.Time
	for {
		if _, err := s.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			s.opts.Log.Warn("federation: delivering to hubs", "err", err)
		}
		if now := s.now(); now.Sub(pruned) > time.Hour {
			pruned = now
			if _, err := s.Prune(ctx, now.Add(-PushRetention)); err != nil && ctx.Err() == nil {
				s.opts.Log.Warn("federation: pruning deliveries", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-s.kick:
		}
	}
}

// MaxAttempts is how often a delivery is tried before it is dead.
const MaxAttempts = 10

// pushLock is how long a sender holds a delivery it claimed.
const pushLock = time.Minute

type due struct {
	id, hub, event, attempts int64
	typ, body                string
	callback, secret         string
}

// DeliverDue sends the deliveries that are due, and returns how many it
// tried.
func (s *Store) DeliverDue(ctx context.Context) (int, error) {
	now := s.now()
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT p.id, p.hub_id, p.event_id, p.attempts, p.event_type, p.body, h.callback, h.secret
		FROM federation_pushes p JOIN federation_hubs h ON h.id = p.hub_id
		WHERE p.state = 'pending' AND p.next_try_at <= $1 AND (p.locked_until IS NULL OR p.locked_until <= $1) ORDER BY p.id LIMIT 32`, now)
	if err != nil {
		return 0, fmt.Errorf("federation: due deliveries: %w", err)
	}
	ds, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (due, error) {
		var d due
		return d, r.Scan(&d.id, &d.hub, &d.event, &d.attempts, &d.typ, &d.body, &d.callback, &d.secret)
	})
	if err != nil {
		return 0, fmt.Errorf("federation: due deliveries: %w", err)
	}
	n := 0
	for _, d := range ds {
		claimed, err := s.claim(ctx, d.id, now)
		if err != nil {
			return n, err
		}
		if !claimed {
			continue
		}
		n++
		code, sendErr := s.send(ctx, d)
		if err := s.record(ctx, d, code, sendErr); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (s *Store) claim(ctx context.Context, id int64, now time.Time) (bool, error) {
	var n int64
	err := s.db.Tx(ctx, func(q db.Querier) error {
		r, err := q.ExecContext(ctx, `UPDATE federation_pushes SET locked_until = $1
			WHERE id = $2 AND state = 'pending' AND (locked_until IS NULL OR locked_until <= $3)`, now.Add(pushLock), id, now)
		if err == nil {
			n, err = r.RowsAffected()
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("federation: claim delivery: %w", err)
	}
	return n == 1, nil
}

// DeliveryID is the webhook-id of the delivery of event eventID to hub
// subscription hubID: the same on every attempt.
func DeliveryID(hubID, eventID int64) string {
	return "fed_" + strconv.FormatInt(hubID, 10) + "_" + strconv.FormatInt(eventID, 10)
}

func (s *Store) send(ctx context.Context, d due) (int, error) {
	id := DeliveryID(d.hub, d.event)
	ts := s.now().Unix()
	sig, err := webhook.Sign(d.secret, id, ts, []byte(d.body))
	if err != nil {
		return 0, err
	}
	h := map[string]string{tmf621.HeaderID: id, tmf621.HeaderTimestamp: strconv.FormatInt(ts, 10), tmf621.HeaderSignature: sig}
	return s.opts.Poster.Post(ctx, d.callback+"/listener/"+d.typ, h, []byte(d.body))
}

// record writes the outcome of an attempt: delivered on a 2xx; the
// subscription ended on a 410; else retried with backoff, dead after
// MaxAttempts.
func (s *Store) record(ctx context.Context, d due, code int, sendErr error) error {
	now := s.now()
	return s.db.Tx(ctx, func(q db.Querier) error {
		var err error
		switch {
		case sendErr == nil && code/100 == 2:
			_, err = q.ExecContext(ctx, `UPDATE federation_pushes SET state = 'delivered', attempts = attempts + 1, delivered_at = $1, locked_until = NULL, last_error = '' WHERE id = $2`, now, d.id)
		case sendErr == nil && code == 410:
			_, err = q.ExecContext(ctx, `DELETE FROM federation_hubs WHERE id = $1`, d.hub)
		default:
			msg := fmt.Sprintf("answered %d", code)
			if sendErr != nil {
				msg = sendErr.Error()
			}
			if len(msg) > 500 {
				msg = msg[:500]
			}
			state := "pending"
			if d.attempts+1 >= MaxAttempts {
				state = "dead"
			}
			_, err = q.ExecContext(ctx, `UPDATE federation_pushes SET state = $1, attempts = attempts + 1, last_error = $2, next_try_at = $3, locked_until = NULL WHERE id = $4`,
				state, msg, now.Add(s.backoff(d.attempts+1)), d.id)
		}
		if err != nil {
			return fmt.Errorf("federation: record delivery: %w", err)
		}
		return nil
	})
}

// backoff is the delay before attempt n+1: BackoffBase doubling, at most
// an hour.
func (s *Store) backoff(n int64) time.Duration {
	d := s.opts.BackoffBase
	for i := int64(1); i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// PushCounts returns the deliveries pending and dead.
func (s *Store) PushCounts(ctx context.Context) (pending, dead int64, err error) {
	err = s.db.Reader().QueryRowContext(ctx, `SELECT COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0) FROM federation_pushes`).Scan(&pending, &dead)
	if err != nil {
		return 0, 0, fmt.Errorf("federation: push counts: %w", err)
	}
	return pending, dead, nil
}
