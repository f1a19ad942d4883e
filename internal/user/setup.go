package user

import (
	"context"
	"errors"
	"fmt"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// First-run setup: while no user exists, a one-time token (stored as a
// hash) lets whoever holds it create the first administrator.

// errSetupDone answers a setup token that is unknown, used, or comes after
// the first user: the page is gone (404).
var errSetupDone = apperr.New(apperr.NotFound, "this setup link was used already, or the helpdesk has users")

// NewSetupToken stores a new one-time setup token and returns it, or ""
// when some user exists already (there is nothing to set up).
func (s *Store) NewSetupToken(ctx context.Context) (string, error) {
	token := auth.RandomString(32)
	var created bool
	err := s.db.Tx(ctx, func(q db.Querier) error {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		_, err := q.ExecContext(ctx, `INSERT INTO setup_tokens (token_hash, created_at) VALUES ($1, $2)`, auth.HashToken(token), s.now())
		created = err == nil
		return err
	})
	if err != nil {
		return "", fmt.Errorf("user: setup token: %w", err)
	}
	if !created {
		return "", nil
	}
	return token, nil
}

// CheckSetupToken tells whether token is a setup token that can still
// create the first administrator: NotFound otherwise.
func (s *Store) CheckSetupToken(ctx context.Context, token string) error {
	if token == "" || len(token) > 100 {
		return errSetupDone
	}
	var ok bool
	err := s.db.Reader().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE token_hash = $1)
		AND NOT EXISTS (SELECT 1 FROM users)`, auth.HashToken(token)).Scan(&ok)
	if err != nil {
		return fmt.Errorf("user: setup token: %w", err)
	}
	if !ok {
		return errSetupDone
	}
	return nil
}

// Setup creates the first administrator with token, validated and
// inserted as Create does, and uses up every setup token. Of concurrent
// calls (with this token or another) one succeeds; the others, and any
// call once a user exists, are NotFound.
func (s *Store) Setup(ctx context.Context, token string, nu NewUser) (*User, error) {
	if err := s.CheckSetupToken(ctx, token); err != nil {
		return nil, err
	}
	if nu.Password == "" {
		return nil, apperr.Field("password", "is required: the first administrator signs in with it")
	}
	nu.Role = auth.RoleAdmin
	v, err := s.check(ctx, nu) // hashes the password outside the transaction
	if err != nil {
		return nil, err
	}
	var u *User
	err = s.db.Tx(ctx, func(q db.Querier) error {
		// Deleting the token first takes its row: a concurrent Setup with
		// the same token waits here, then finds it gone. Deleting every
		// other token makes one with another token wait too, and then
		// see the new user.
		res, err := q.ExecContext(ctx, `DELETE FROM setup_tokens WHERE token_hash = $1`, auth.HashToken(token))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errSetupDone
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM setup_tokens`); err != nil {
			return err
		}
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errSetupDone
		}
		u, err = s.insertNew(ctx, q, v)
		return err
	})
	if errors.Is(err, errSetupDone) {
		return nil, errSetupDone
	}
	if err != nil {
		return nil, fmt.Errorf("user: setup: %w", err)
	}
	return u, nil
}
