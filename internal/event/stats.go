package event

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
)

// lagCap bounds the count of events a follower is behind: past it the
// figure says "at least".
const lagCap = 100000

// FollowerStat is what an administrator sees of one follower.
type FollowerStat struct {
	Name      string
	Local     bool      // its position lives in this process only
	Position  int64     // of the last event it told
	Lag       int64     // events after its position (at most lagCap)
	Told      int64     // events told (durable: by every process; local: by this one)
	Failures  int64     // failures in a row
	LastError string    // of the last failure, while it fails
	RetryAt   time.Time // of the next try, while it fails
	SeenAt    time.Time // when a process last ran it
}

// Stats describes every durable follower in the database and this
// process's local ones.
func (l *Log) Stats(ctx context.Context) ([]FollowerStat, error) {
	if _, err := l.sequence(ctx); err != nil {
		return nil, err
	}
	rows, err := l.db.Reader().QueryContext(ctx, `SELECT name, position, told, failures, last_error, retry_at, seen_at
		FROM event_followers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("event: followers: %w", err)
	}
	stats, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (FollowerStat, error) {
		var s FollowerStat
		var retry sql.NullTime
		err := r.Scan(&s.Name, &s.Position, &s.Told, &s.Failures, &s.LastError, &retry, &s.SeenAt)
		s.RetryAt = retry.Time
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("event: followers: %w", err)
	}
	l.mu.Lock()
	for _, f := range l.followers {
		if !f.opts.Local {
			continue
		}
		f.mu.Lock()
		stats = append(stats, FollowerStat{Name: f.name, Local: true, Position: f.pos, Told: f.told,
			Failures: f.failures, LastError: f.lastErr, RetryAt: f.retryAt, SeenAt: l.now()})
		f.mu.Unlock()
	}
	l.mu.Unlock()
	for i := range stats {
		s := &stats[i]
		err := l.db.Reader().QueryRowContext(ctx, l.sql.behind(lagCap), s.Position).Scan(&s.Lag)
		if err != nil {
			return nil, fmt.Errorf("event: follower %s: lag: %w", s.Name, err)
		}
	}
	return stats, nil
}

// pruneBatch bounds the rows one prune statement deletes, so that the
// writer is not held long.
const pruneBatch = 5000

// Prune deletes the events that every durable follower run in the last
// week has passed and that are older than the retention period, and marks
// this process's followers seen. It returns how many it deleted.
func (l *Log) Prune(ctx context.Context) (int64, error) {
	now := l.now()
	var names []any
	l.mu.Lock()
	for _, f := range l.followers {
		if !f.opts.Local {
			names = append(names, f.name)
		}
	}
	l.mu.Unlock()
	if len(names) > 0 {
		err := l.db.Tx(ctx, func(q db.Querier) error {
			for _, n := range names {
				if _, err := q.ExecContext(ctx, `UPDATE event_followers SET seen_at = $1 WHERE name = $2`, now, n); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("event: prune: %w", err)
		}
	}
	var c sql.NullInt64
	err := l.db.Reader().QueryRowContext(ctx, `SELECT MIN(position) FROM event_followers WHERE seen_at > $1`, now.Add(-staleAfter)).Scan(&c)
	if err != nil {
		return 0, fmt.Errorf("event: prune: %w", err)
	}
	if !c.Valid {
		return 0, nil // no follower: the retention alone would drop events nobody told
	}
	var total int64
	for {
		var n int64
		err := l.db.Tx(ctx, func(q db.Querier) error {
			res, err := q.ExecContext(ctx, `DELETE FROM events WHERE id IN (`+l.sql.passed(pruneBatch)+`)`,
				c.Int64, now.Add(-l.opts.Retention))
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("event: prune: %w", err)
		}
		total += n
		if n < pruneBatch || ctx.Err() != nil {
			return total, nil
		}
	}
}
