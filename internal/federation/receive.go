package federation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/tmf621"
)

// SaveSubscription remembers the hub subscription that connector holds
// at its helpmesh peer (the hub's id and the secret its deliveries are
// signed with), replacing an earlier one.
func (s *Store) SaveSubscription(ctx context.Context, connector string, hub *tmf621.Hub) error {
	if connector == "" || hub == nil || hub.Secret == "" {
		return apperr.New(apperr.Invalid, "a subscription needs a connector and a secret")
	}
	err := s.db.Tx(ctx, func(q db.Querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM federation_subscriptions WHERE connector = $1`, connector); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `INSERT INTO federation_subscriptions (connector, hub_id, secret, created_at) VALUES ($1, $2, $3, $4)`,
			connector, hub.ID, hub.Secret, s.now())
		return err
	})
	if err != nil {
		return fmt.Errorf("federation: save subscription: %w", err)
	}
	return nil
}

// Subscribed tells whether connector holds a hub subscription.
func (s *Store) Subscribed(ctx context.Context, connector string) (bool, error) {
	var n int
	if err := s.db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM federation_subscriptions WHERE connector = $1`, connector).Scan(&n); err != nil {
		return false, fmt.Errorf("federation: subscribed: %w", err)
	}
	return n > 0, nil
}

// ReceivedRetention is how long webhook-ids are remembered: far longer
// than the timestamp tolerance, so that a replay is always recognised.
const ReceivedRetention = 24 * time.Hour

// Receive takes a delivery pushed to connector's callback: its signature
// and timestamp are checked (Unauthorized otherwise), its webhook-id is
// remembered, and a delivery seen for the first time is handed to
// Options.Received. A replayed delivery is acknowledged and not handed on
// again (fresh false).
func (s *Store) Receive(ctx context.Context, connector string, h tmf621.Headers, body []byte) (fresh bool, err error) {
	var secret string
	err = s.db.Reader().QueryRowContext(ctx, `SELECT secret FROM federation_subscriptions WHERE connector = $1`, connector).Scan(&secret)
	if errors.Is(err, sql.ErrNoRows) {
		return false, apperr.New(apperr.NotFound, "no subscription of connector %q", connector)
	}
	if err != nil {
		return false, fmt.Errorf("federation: receive: %w", err)
	}
	id, err := tmf621.Verify(secret, h, body, s.now())
	if err != nil {
		return false, apperr.New(apperr.Unauthorized, "%v", err)
	}
	var d tmf621.Delivery
	if err := json.Unmarshal(body, &d); err != nil || d.Data.TicketID == "" {
		return false, apperr.New(apperr.Invalid, "the delivery is not a helpmesh delivery")
	}
	var n int64
	err = s.db.Tx(ctx, func(q db.Querier) error {
		now := s.now()
		if _, err := q.ExecContext(ctx, `DELETE FROM federation_received WHERE received_at < $1`, now.Add(-ReceivedRetention)); err != nil {
			return err
		}
		r, err := q.ExecContext(ctx, `INSERT INTO federation_received (connector, webhook_id, received_at) VALUES ($1, $2, $3)
			ON CONFLICT (connector, webhook_id) DO NOTHING`, connector, id, now)
		if err == nil {
			n, err = r.RowsAffected()
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("federation: receive: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	if s.opts.Received != nil {
		s.opts.Received(connector, d)
	}
	return true, nil
}
