package web

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
)

// Sign-in throttling, kept in the database so that every node counts the
// same failures: an account is locked for throttleLock, for one client
// address only, after maxFailuresPerAccount failed attempts from that
// address within throttleWindow, and a client address for every account
// after maxFailuresPerIP. The same account from another address is not
// affected.
const (
	throttleWindow        = 15 * time.Minute
	throttleLock          = 15 * time.Minute
	maxFailuresPerAccount = 5
	maxFailuresPerIP      = 30
)

// throttleAddr is the client address that failures count against: the IP
// address, and for IPv6 its /64 network, which one client usually has whole.
func throttleAddr(r *http.Request) string {
	ip, err := netip.ParseAddr(clientIP(r))
	if err != nil {
		return clientIP(r)
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, err := ip.Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return ip.String()
}

type throttle struct {
	db  *db.DB
	now func() time.Time
}

// blocked returns until when any of keys is locked (zero when none is).
func (t *throttle) blocked(ctx context.Context, keys ...string) (time.Time, error) {
	var until time.Time
	now := t.now()
	for _, k := range keys {
		var lu sql.NullTime
		err := t.db.W.QueryRowContext(ctx, `SELECT locked_until FROM login_attempts WHERE key = $1`, k).Scan(&lu)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("web: throttle: %w", err)
		}
		if lu.Valid && lu.Time.After(now) && lu.Time.After(until) {
			until = lu.Time
		}
	}
	return until, nil
}

// fail counts one failed attempt against key; limit failures within the
// window lock it.
func (t *throttle) fail(ctx context.Context, key string, limit int) error {
	now := t.now()
	return t.db.Tx(ctx, func(q db.Querier) error {
		var failures int
		var start time.Time
		err := q.QueryRowContext(ctx, `SELECT failures, window_start FROM login_attempts WHERE key = $1`, key).Scan(&failures, &start)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = q.ExecContext(ctx, `INSERT INTO login_attempts (key, failures, window_start) VALUES ($1, 1, $2)`, key, now)
			return err
		case err != nil:
			return fmt.Errorf("web: throttle: %w", err)
		}
		if now.Sub(start) > throttleWindow {
			failures, start = 0, now
		}
		failures++
		var locked any
		if failures >= limit {
			locked = now.Add(throttleLock)
			failures, start = 0, now
		}
		_, err = q.ExecContext(ctx, `UPDATE login_attempts SET failures = $1, window_start = $2, locked_until = COALESCE($3, locked_until) WHERE key = $4`,
			failures, start, locked, key)
		if err != nil {
			return fmt.Errorf("web: throttle: %w", err)
		}
		return nil
	})
}

// reset forgets the failures of key (after a successful sign-in).
func (t *throttle) reset(ctx context.Context, key string) error {
	if _, err := t.db.W.ExecContext(ctx, `DELETE FROM login_attempts WHERE key = $1`, key); err != nil {
		return fmt.Errorf("web: throttle: %w", err)
	}
	return nil
}
