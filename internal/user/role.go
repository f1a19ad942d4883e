package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// checkRole refuses an instance role other than user or admin.
func checkRole(role auth.Role) error {
	if role != auth.RoleUser && role != auth.RoleAdmin {
		return apperr.Field("role", "%q is not user or admin", role)
	}
	return nil
}

// RoleTx returns the instance role of user id inside the caller's
// transaction q.
func (s *Store) RoleTx(ctx context.Context, q db.Querier, id int64) (auth.Role, error) {
	var role string
	err := q.QueryRowContext(ctx, `SELECT role FROM users WHERE id = $1`, id).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", apperr.New(apperr.NotFound, "no such user")
	}
	if err != nil {
		return "", fmt.Errorf("user: role: %w", err)
	}
	return auth.Role(role), nil
}

// SetRoleTx sets the instance role of user id inside the caller's
// transaction q.
func (s *Store) SetRoleTx(ctx context.Context, q db.Querier, id int64, role auth.Role) error {
	if err := checkRole(role); err != nil {
		return err
	}
	res, err := q.ExecContext(ctx, `UPDATE users SET role = $1, updated_at = $2 WHERE id = $3`, string(role), s.now(), id)
	if err != nil {
		return fmt.Errorf("user: set role: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "no such user")
	}
	return nil
}

// Admins returns the enabled users with the role admin, ordered by id.
func (s *Store) Admins(ctx context.Context) ([]*User, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT `+userCols+` FROM users WHERE role = $1 AND NOT disabled ORDER BY id`, string(auth.RoleAdmin))
	if err != nil {
		return nil, fmt.Errorf("user: admins: %w", err)
	}
	us, err := db.Collect(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("user: admins: %w", err)
	}
	return us, nil
}
