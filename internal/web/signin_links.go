package web

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// One-time links: a sign-in link for requesters who wrote by mail, and a
// password reset link. Only the hash of the token is stored; a link works
// once, within its lifetime, and only the newest of a user's links for a
// purpose works: asking for a new one ends the older ones, and using a
// link ends every other unused link of its user.
const (
	linkSignIn   = "signin"
	linkReset    = "reset"
	linkLifetime = 30 * time.Minute
)

type links struct {
	db  *db.DB
	now func() time.Time
}

// create stores a new link for userID and returns its token; the user's
// unused links for the same purpose end.
func (l *links) create(ctx context.Context, userID int64, purpose string) (string, error) {
	token := auth.RandomString(32)
	now := l.now()
	err := l.db.Tx(ctx, func(q db.Querier) error {
		if _, err := q.ExecContext(ctx, `UPDATE login_links SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL`,
			now, userID, purpose); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `INSERT INTO login_links (token_hash, user_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			auth.HashToken(token), userID, purpose, now, now.Add(linkLifetime))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("web: create link: %w", err)
	}
	return token, nil
}

// check returns the user of a valid, unused link, or 0.
func (l *links) check(ctx context.Context, token, purpose string) (int64, error) {
	if token == "" || len(token) > 100 {
		return 0, nil
	}
	var userID int64
	err := l.db.W.QueryRowContext(ctx, `SELECT user_id FROM login_links WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3`,
		auth.HashToken(token), purpose, l.now()).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("web: check link: %w", err)
	}
	return userID, nil
}

// use marks a link used and returns its user, or 0 when it is not valid
// (any more). Only one of two concurrent uses succeeds. Every other unused
// link of the user ends with it.
func (l *links) use(ctx context.Context, token, purpose string) (int64, error) {
	userID, err := l.check(ctx, token, purpose)
	if err != nil || userID == 0 {
		return 0, err
	}
	now := l.now()
	used := false
	err = l.db.Tx(ctx, func(q db.Querier) error {
		res, err := q.ExecContext(ctx, `UPDATE login_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL`, now, auth.HashToken(token))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		used = true
		_, err = q.ExecContext(ctx, `UPDATE login_links SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL`, now, userID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("web: use link: %w", err)
	}
	if !used {
		return 0, nil
	}
	return userID, nil
}
