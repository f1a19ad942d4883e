package webhook

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// Delivery is one entry of a webhook's delivery log.
type Delivery struct {
	ID          int64
	EventID     int64
	EventType   string
	State       string // pending, delivered, dead
	Attempts    int
	LastStatus  int
	LastError   string
	NextTryAt   *time.Time
	DeliveredAt *time.Time
	CreatedAt   time.Time
}

// Deliveries returns the log of webhook id, newest first, before the
// delivery id before (0: from the newest), if p may manage the webhook.
func (s *Store) Deliveries(ctx context.Context, p *auth.Principal, id, before int64, limit int) ([]Delivery, error) {
	if _, err := s.Get(ctx, p, id); err != nil {
		return nil, err
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT id, event_id, event_type, state, attempts, last_status, last_error, next_try_at, delivered_at, created_at
		FROM webhook_deliveries WHERE webhook_id = $1 AND id < $2 ORDER BY id DESC LIMIT `+strconv.Itoa(limit), id, before)
	if err != nil {
		return nil, fmt.Errorf("webhook: deliveries of %d: %w", id, err)
	}
	ds, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (Delivery, error) {
		var d Delivery
		err := r.Scan(&d.ID, &d.EventID, &d.EventType, &d.State, &d.Attempts, &d.LastStatus, &d.LastError, &d.NextTryAt, &d.DeliveredAt, &d.CreatedAt)
		for _, t := range []*time.Time{d.NextTryAt, d.DeliveredAt, &d.CreatedAt} {
			if t != nil {
				*t = t.UTC()
			}
		}
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("webhook: deliveries of %d: %w", id, err)
	}
	return ds, nil
}

// Counts returns how many deliveries are pending and how many are dead
// (kept in the log), for /metrics.
func (s *Store) Counts(ctx context.Context) (pending, dead int64, err error) {
	err = s.db.Reader().QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'),
		(SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'dead')`).Scan(&pending, &dead)
	if err != nil {
		return 0, 0, fmt.Errorf("webhook: count deliveries: %w", err)
	}
	return pending, dead, nil
}
