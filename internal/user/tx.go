package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// EnsureTx returns the account of email inside the caller's transaction q,
// creating it (role user, no password, no team) when there is none. It is
// for the mail gateway, which registers an unknown sender in the same
// commit as the ticket the sender's mail opens; created tells whether the
// account is new. It does no password hashing or other costly work.
func (s *Store) EnsureTx(ctx context.Context, q db.Querier, email, name string) (u *User, created bool, err error) {
	if email, err = NormalizeEmail(email); err != nil {
		return nil, false, err
	}
	if name, err = CheckName(name); err != nil {
		return nil, false, err
	}
	now := s.now()
	u = &User{Email: email, Name: name, Role: auth.RoleUser, CreatedAt: now, UpdatedAt: now}
	err = q.QueryRowContext(ctx, `INSERT INTO users (email, name, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (email) DO NOTHING RETURNING id`, email, name, string(auth.RoleUser), now).Scan(&u.ID)
	if err == nil {
		return u, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("user: ensure %s: %w", email, err)
	}
	u, err = scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = $1`, email))
	if err != nil {
		return nil, false, fmt.Errorf("user: ensure %s: %w", email, err)
	}
	return u, false, nil
}
