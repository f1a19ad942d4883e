package change

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
)

// leads are the reminders before a change's start (GOCDB mails at T-24 h
// and T-1 h), each with the column that records it was appended.
var leads = []struct {
	name   string
	before time.Duration
	column string
}{
	{"24h", 24 * time.Hour, "reminded_24h_at"},
	{"1h", time.Hour, "reminded_1h_at"},
}

// Remind appends change.reminder for every planned or approved change
// whose start is within a lead (24 h, 1 h) and not yet reminded of it, and
// returns how many it appended. The column is set in the transaction of
// the append, only where it is still unset, so each reminder is appended
// once, across restarts and nodes. A change whose start passed unreminded
// (helpmesh was down) gets none.
func (s *Store) Remind(ctx context.Context) (int, error) {
	now := s.clock()
	n := 0
	for _, l := range leads {
		rows, err := s.db.Reader().QueryContext(ctx, `SELECT id FROM changes WHERE `+l.column+` IS NULL AND status IN ('planned', 'approved')
			AND start_at <= $1 AND start_at > $2 ORDER BY start_at, id LIMIT 500`, now.Add(l.before), now)
		if err != nil {
			return n, fmt.Errorf("change: due reminders: %w", err)
		}
		ids, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (int64, error) {
			var id int64
			return id, r.Scan(&id)
		})
		if err != nil {
			return n, fmt.Errorf("change: due reminders: %w", err)
		}
		for _, id := range ids {
			err := s.db.Tx(ctx, func(q db.Querier) error {
				res, err := q.ExecContext(ctx, `UPDATE changes SET `+l.column+` = $2 WHERE id = $1 AND `+l.column+` IS NULL AND status IN ('planned', 'approved')`, id, now)
				if err != nil {
					return fmt.Errorf("change: remind: %w", err)
				}
				if k, err := res.RowsAffected(); err != nil || k != 1 {
					return err // another node did it, or it changed meanwhile
				}
				c, err := s.get(ctx, q, id)
				if err != nil {
					return err
				}
				n++
				return s.emit(ctx, q, EventReminder, 0, eventData(c, l.name))
			})
			if err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// RunReminders calls Remind every interval until ctx ends.
func (s *Store) RunReminders(ctx context.Context, interval time.Duration, log *slog.Logger) error {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.Remind(ctx); err != nil && ctx.Err() == nil {
			log.Warn("change reminders", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
