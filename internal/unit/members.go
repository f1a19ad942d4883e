package unit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// Unit membership: the only code that reads or writes unit_members on its
// own (other packages join it in their queries, or go through these).

// SetMember adds a user to a unit or changes their role there.
func (s *Store) SetMember(ctx context.Context, unitID, userID int64, role auth.UnitRole) error {
	return s.SetMemberTx(ctx, s.db.W, unitID, userID, role)
}

// SetMemberTx is SetMember inside the caller's transaction q.
func (s *Store) SetMemberTx(ctx context.Context, q db.Querier, unitID, userID int64, role auth.UnitRole) error {
	if role != auth.UnitMember && role != auth.UnitAdmin {
		return apperr.Field("role", "%q is not member or admin", role)
	}
	_, err := q.ExecContext(ctx, `INSERT INTO unit_members (unit_id, user_id, role) VALUES ($1, $2, $3)
		ON CONFLICT (unit_id, user_id) DO UPDATE SET role = excluded.role`, unitID, userID, string(role))
	if db.IsForeignKeyViolation(err) {
		return apperr.Field("user_id", "no such user")
	}
	if err != nil {
		return fmt.Errorf("unit: set member: %w", err)
	}
	return nil
}

// RemoveMember takes a user out of a unit.
func (s *Store) RemoveMember(ctx context.Context, unitID, userID int64) error {
	return s.RemoveMemberTx(ctx, s.db.W, unitID, userID)
}

// RemoveMemberTx is RemoveMember inside the caller's transaction q. A user
// who is no member is a NotFound error.
func (s *Store) RemoveMemberTx(ctx context.Context, q db.Querier, unitID, userID int64) error {
	res, err := q.ExecContext(ctx, `DELETE FROM unit_members WHERE unit_id = $1 AND user_id = $2`, unitID, userID)
	if err != nil {
		return fmt.Errorf("unit: remove member: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "no such member")
	}
	return nil
}

// MemberRoleTx returns the role of a user in a unit inside the caller's
// transaction q, or "" when they are no member.
func (s *Store) MemberRoleTx(ctx context.Context, q db.Querier, unitID, userID int64) (auth.UnitRole, error) {
	var role string
	err := q.QueryRowContext(ctx, `SELECT role FROM unit_members WHERE unit_id = $1 AND user_id = $2`, unitID, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("unit: member role: %w", err)
	}
	return auth.UnitRole(role), nil
}

// Members lists a unit's members by email.
func (s *Store) Members(ctx context.Context, unitID int64) ([]Member, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT u.id, u.email, u.name, m.role FROM unit_members m JOIN users u ON u.id = m.user_id
		WHERE m.unit_id = $1 ORDER BY u.email`, unitID)
	if err != nil {
		return nil, fmt.Errorf("unit: members: %w", err)
	}
	defer rows.Close()
	var ms []Member
	for rows.Next() {
		var m Member
		var role string
		if err := rows.Scan(&m.UserID, &m.Email, &m.Name, &role); err != nil {
			return nil, fmt.Errorf("unit: members: %w", err)
		}
		m.Role = auth.UnitRole(role)
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// UnitsOf lists the units a user belongs to.
func (s *Store) UnitsOf(ctx context.Context, userID int64) ([]*Unit, []auth.UnitRole, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT u.`+strings.ReplaceAll(unitCols, ", ", ", u.")+`, m.role
		FROM unit_members m JOIN units u ON u.id = m.unit_id WHERE m.user_id = $1 ORDER BY u.slug`, userID)
	if err != nil {
		return nil, nil, fmt.Errorf("unit: units of user: %w", err)
	}
	defer rows.Close()
	var us []*Unit
	var roles []auth.UnitRole
	for rows.Next() {
		var role string
		u, err := scanUnitWith(rows, &role)
		if err != nil {
			return nil, nil, fmt.Errorf("unit: units of user: %w", err)
		}
		us = append(us, u)
		roles = append(roles, auth.UnitRole(role))
	}
	return us, roles, rows.Err()
}
