package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// Changing users: an administrator's edit of name, role, team, the
// disabled flag and the registered certificate subjects.

// Change is what an edit of a user changes: nil fields stay as they are.
type Change struct {
	Name           *string
	Role           *auth.Role
	Team           *string // "" removes the user from their team
	Disabled       *bool
	CertificateDNs *[]string // replaces every registered subject
}

// maxTeamLength bounds a team (virtual organisation) name.
const maxTeamLength = 64

// checkTeam validates a team name: empty (no team), or slug-like, that is
// lower-case letters, digits, '.', '-' and '_', starting with a letter or
// a digit, at most maxTeamLength characters ("atlas", "vo.example.org").
func checkTeam(team string) error {
	if team == "" {
		return nil
	}
	return CheckTeamName("team", team)
}

// CheckTeamName validates a non-empty team name by the rule of checkTeam,
// reporting a problem on field.
func CheckTeamName(field, team string) error {
	if team == "" {
		return apperr.Field(field, "has an empty team name")
	}
	if len(team) > maxTeamLength {
		return apperr.Field(field, "is longer than %d characters", maxTeamLength)
	}
	for i, r := range team {
		letterOrDigit := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
		if !letterOrDigit && (i == 0 || (r != '.' && r != '-' && r != '_')) {
			return apperr.Field(field, "%q must be lower-case letters, digits, '.', '-' and '_', starting with a letter or digit", team)
		}
	}
	return nil
}

// canonicalDNs returns dns in canonical form (auth.CanonicalDN), without
// repeats.
func canonicalDNs(dns []string) ([]string, error) {
	out := make([]string, 0, len(dns))
	for _, dn := range dns {
		c, err := auth.CanonicalDN(dn)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// checkChange validates c and returns it normalised.
func checkChange(c Change) (Change, error) {
	if c.Name != nil {
		name, err := CheckName(*c.Name)
		if err != nil {
			return c, err
		}
		c.Name = &name
	}
	if c.Role != nil {
		if err := checkRole(*c.Role); err != nil {
			return c, err
		}
	}
	if c.Team != nil {
		if err := checkTeam(*c.Team); err != nil {
			return c, err
		}
	}
	if c.CertificateDNs != nil {
		dns, err := canonicalDNs(*c.CertificateDNs)
		if err != nil {
			return c, err
		}
		c.CertificateDNs = &dns
	}
	return c, nil
}

// CheckOwnChange refuses a change by user actorID to their own account
// (id) that would lock them out: disabling themselves.
func CheckOwnChange(actorID, id int64, c Change) error {
	if actorID == id && c.Disabled != nil && *c.Disabled {
		return apperr.Field("disabled", "you cannot disable your own account; ask another administrator")
	}
	return nil
}

// Update applies c to user id in one transaction and returns the user as
// it is now. Disabling a user revokes every API token of theirs in the
// same transaction and drops the cached principals, so that their tokens
// answer 401 from the next request on (the caller ends their browser
// sessions). A certificate subject registered by another user is a
// Conflict; an unknown user is NotFound.
func (s *Store) Update(ctx context.Context, id int64, c Change) (*User, error) {
	c, err := checkChange(c)
	if err != nil {
		return nil, err
	}
	err = s.db.Tx(ctx, func(q db.Querier) error { return s.updateTx(ctx, q, id, c) })
	s.ForgetPrincipals() // role, team and disabled are part of a principal
	if err != nil {
		return nil, fmt.Errorf("user: update %d: %w", id, err)
	}
	return s.Get(ctx, id)
}

func (s *Store) updateTx(ctx context.Context, q db.Querier, id int64, c Change) error {
	// Each field is set in the statement itself (COALESCE keeps what is not
	// given), so that concurrent changes of different fields both hold.
	role := (*string)(c.Role)
	now := s.now()
	res, err := q.ExecContext(ctx, `UPDATE users SET name = COALESCE($1, name), role = COALESCE($2, role), team = COALESCE($3, team),
		disabled = COALESCE($4, disabled), updated_at = $5 WHERE id = $6`, c.Name, role, c.Team, c.Disabled, now, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "no such user")
	}
	if c.Disabled != nil && *c.Disabled {
		if _, err := q.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`, now, id); err != nil {
			return err
		}
	}
	if c.CertificateDNs == nil {
		return nil
	}
	if _, err := q.ExecContext(ctx, `DELETE FROM user_certificates WHERE user_id = $1`, id); err != nil {
		return err
	}
	for _, dn := range *c.CertificateDNs {
		var owner int64
		err := q.QueryRowContext(ctx, `INSERT INTO user_certificates (dn, user_id) VALUES ($1, $2)
			ON CONFLICT (dn) DO UPDATE SET dn = user_certificates.dn RETURNING user_id`, dn, id).Scan(&owner)
		if err != nil {
			return err
		}
		if owner != id {
			return apperr.New(apperr.Conflict, "certificate subject %q belongs to another user", dn)
		}
	}
	return nil
}

// TeamTx returns the team of user id inside the caller's transaction q.
func (s *Store) TeamTx(ctx context.Context, q db.Querier, id int64) (string, error) {
	var team string
	err := q.QueryRowContext(ctx, `SELECT team FROM users WHERE id = $1`, id).Scan(&team)
	if errors.Is(err, sql.ErrNoRows) {
		return "", apperr.New(apperr.NotFound, "no such user")
	}
	if err != nil {
		return "", fmt.Errorf("user: team: %w", err)
	}
	return team, nil
}

// SetTeamTx sets the team of user id ("" for none) inside the caller's
// transaction q, and drops the cached principals (a principal carries its
// team).
func (s *Store) SetTeamTx(ctx context.Context, q db.Querier, id int64, team string) error {
	if err := checkTeam(team); err != nil {
		return err
	}
	res, err := q.ExecContext(ctx, `UPDATE users SET team = $1, updated_at = $2 WHERE id = $3`, team, s.now(), id)
	if err != nil {
		return fmt.Errorf("user: set team: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "no such user")
	}
	s.ForgetPrincipals()
	return nil
}
