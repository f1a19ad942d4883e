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
// and timestamp are checked (Unauthorized otherwise); a delivery whose
// webhook-id was seen before is acknowledged and not applied again (fresh
// false); a new one is applied (Options.Apply) and then its webhook-id
// remembered. When it cannot be applied now (the peer's feed does not
// answer) it is Unavailable, and the peer retries it.
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
	var seen int
	if err := s.db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM federation_received WHERE connector = $1 AND webhook_id = $2`, connector, id).Scan(&seen); err != nil {
		return false, fmt.Errorf("federation: receive: %w", err)
	}
	if seen > 0 {
		return false, nil
	}
	if s.opts.Apply != nil {
		if err := s.opts.Apply(ctx, connector, d); err != nil {
			s.opts.Log.Warn("federation: a pushed delivery could not be applied yet", "connector", connector, "webhook_id", id, "err", err)
			return false, apperr.New(apperr.Unavailable, "the changes could not be read from the peer yet; push again later")
		}
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
	return n > 0, nil
}
