package identity

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/user"
)

// Rule maps one claim value to a global role or a unit membership.
type Rule struct {
	Claim    string
	Value    string         // exact match, or
	Pattern  *regexp.Regexp // anchored match
	Unit     string         // unit slug, or
	UnitRole auth.UnitRole
	Role     auth.Role // admin, or
	// Team is the user's team; with a Pattern, $1 and the like expand to
	// its groups.
	Team string
}

// String describes the rule for the audit log.
func (r Rule) String() string {
	m := "=" + r.Value
	if r.Pattern != nil {
		m = "~" + r.Pattern.String()
	}
	return r.Claim + m
}

// CompileRules checks configured rules and compiles their patterns.
func CompileRules(cs []config.ClaimRule) ([]Rule, error) {
	var out []Rule
	for i, c := range cs {
		r := Rule{Claim: c.Claim, Value: c.Value, Unit: c.Unit, UnitRole: auth.UnitRole(c.UnitRole), Role: auth.Role(c.Role), Team: c.Team}
		if c.Pattern != "" {
			re, err := regexp.Compile(`^(?:` + c.Pattern + `)$`)
			if err != nil {
				return nil, fmt.Errorf("identity: rule %d: %w", i+1, err)
			}
			r.Pattern = re
		}
		if r.Claim == "" || (r.Value == "") == (r.Pattern == nil) {
			return nil, fmt.Errorf("identity: rule %d: needs a claim and one of value or pattern", i+1)
		}
		switch {
		case r.Team != "" && r.Unit == "" && r.Role == "":
			if strings.Contains(r.Team, "$") {
				if r.Pattern == nil {
					return nil, fmt.Errorf("identity: rule %d: team %q takes groups of a pattern, and the rule has none", i+1, r.Team)
				}
			} else if err := user.CheckTeamName("team", r.Team); err != nil {
				return nil, fmt.Errorf("identity: rule %d: %w", i+1, err)
			}
		case r.Team != "":
			return nil, fmt.Errorf("identity: rule %d: grants a team, a unit or the admin role, one of them", i+1)
		case r.Unit != "" && r.Role == "":
			if r.UnitRole == "" {
				r.UnitRole = auth.UnitMember
			}
			if r.UnitRole != auth.UnitMember && r.UnitRole != auth.UnitAdmin {
				return nil, fmt.Errorf("identity: rule %d: unit role %q is not member or admin", i+1, r.UnitRole)
			}
		case r.Unit == "" && r.Role == auth.RoleAdmin:
		default:
			return nil, fmt.Errorf("identity: rule %d: grants either a unit or the admin role", i+1)
		}
		out = append(out, r)
	}
	return out, nil
}

// claimValues returns a claim's values as strings: a string, a list of
// strings, or a boolean or number written out.
func claimValues(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case []string:
		return x
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, claimValues(e)...)
		}
		return out
	case bool:
		return []string{strconv.FormatBool(x)}
	case float64:
		return []string{strconv.FormatFloat(x, 'f', -1, 64)}
	}
	return nil
}

// Grant is one privilege the rules give: the global admin role (Unit and
// Team empty), a role in a unit, or the user's team.
type Grant struct {
	Unit string
	Role string // admin (global), or member/admin in Unit
	Team string // the team (a VO) the user belongs to
	Why  string // the rule that matched
}

func (g Grant) target() string {
	if g.Team != "" {
		return "team"
	}
	if g.Unit == "" {
		return "role"
	}
	return "unit:" + g.Unit
}

// Evaluate returns what rules grant for claims: at most one grant per
// target, the stronger role winning, the first team (a team whose
// expanded name is not a valid team name grants nothing).
func Evaluate(rules []Rule, claims map[string]any) []Grant {
	byTarget := map[string]Grant{}
	for _, r := range rules {
		matched, team := false, r.Team
		for _, v := range claimValues(claims[r.Claim]) {
			if (r.Pattern == nil && v == r.Value) || (r.Pattern != nil && r.Pattern.MatchString(v)) {
				if r.Pattern != nil && strings.Contains(team, "$") {
					team = r.Pattern.ReplaceAllString(v, r.Team)
					if user.CheckTeamName("team", team) != nil {
						team = r.Team
						continue
					}
				}
				matched = true
				break
			}
		}
		if !matched {
			continue
		}
		if r.Team != "" {
			if _, ok := byTarget["team"]; !ok {
				byTarget["team"] = Grant{Team: team, Why: r.String()}
			}
			continue
		}
		g := Grant{Unit: r.Unit, Role: string(r.UnitRole), Why: r.String()}
		if r.Unit == "" {
			g.Role = string(r.Role)
		}
		if old, ok := byTarget[g.target()]; ok && (old.Role == "admin" || g.Role != "admin") {
			continue
		}
		byTarget[g.target()] = g
	}
	out := make([]Grant, 0, len(byTarget))
	for _, g := range byTarget {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b Grant) int { return strings.Compare(a.target(), b.target()) })
	return out
}

// Change is one change Apply made.
type Change struct {
	Action string // grant, change, revoke, skip
	Target string // role, unit:<slug>
	Old    string
	New    string
	Why    string
}

type grantRow struct {
	target, role, prev string
	unitID             sql.NullInt64
}

// Apply makes the privileges that source (oidc:<provider>) granted userID
// match want: it grants what is missing, changes roles and revokes what the
// rules no longer give. Only what this source granted is ever revoked; a
// membership or role that existed before is left alone (and restored to its
// former role when a rule had raised it). Every change goes to the audit log
// in the same transaction.
func (s *Store) Apply(ctx context.Context, userID int64, source string, want []Grant) ([]Change, error) {
	now := s.now()
	var changes []Change
	err := s.db.Tx(ctx, func(q db.Querier) error {
		changes = nil
		have := map[string]grantRow{}
		rows, err := q.QueryContext(ctx, `SELECT target, unit_id, role, prev_role FROM identity_grants WHERE user_id = $1 AND source = $2`, userID, source)
		if err != nil {
			return err
		}
		for rows.Next() {
			var g grantRow
			if err := rows.Scan(&g.target, &g.unitID, &g.role, &g.prev); err != nil {
				rows.Close()
				return err
			}
			have[g.target] = g
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		record := func(c Change) error {
			changes = append(changes, c)
			return audit(ctx, q, now, userID, 0, source, "rule_"+c.Action, c.Target, c.Old, c.New, c.Why)
		}
		wanted := map[string]bool{}
		for _, g := range want {
			t := g.target()
			wanted[t] = true
			if g.Team != "" {
				if err := s.applyTeam(ctx, q, userID, source, g, have, record, now); err != nil {
					return err
				}
				continue
			}
			if g.Unit == "" {
				if err := s.applyRole(ctx, q, userID, source, g, have, record, now); err != nil {
					return err
				}
				continue
			}
			u, err := s.units.Unit(ctx, g.Unit)
			if apperr.Is(err, apperr.NotFound) {
				if err := record(Change{Action: "skip", Target: t, New: g.Role, Why: g.Why + ": no such unit"}); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			unitID := u.ID
			role, err := s.units.MemberRoleTx(ctx, q, unitID, userID)
			if err != nil {
				return err
			}
			cur := string(role)
			old, granted := have[t]
			switch {
			case !granted && cur == g.Role:
				// Already had it by other means: nothing to grant or revoke later.
				continue
			case !granted && cur == "admin":
				continue // never lower a role given by hand
			case !granted:
				if _, err := q.ExecContext(ctx, `INSERT INTO identity_grants (user_id, source, target, unit_id, role, prev_role, granted_at)
					VALUES ($1, $2, $3, $4, $5, $6, $7)`, userID, source, t, unitID, g.Role, cur, now); err != nil {
					return err
				}
			case old.role == g.Role && cur == g.Role:
				continue
			default:
				if _, err := q.ExecContext(ctx, `UPDATE identity_grants SET role = $1 WHERE user_id = $2 AND source = $3 AND target = $4`,
					g.Role, userID, source, t); err != nil {
					return err
				}
			}
			if err := s.units.SetMemberTx(ctx, q, unitID, userID, auth.UnitRole(g.Role)); err != nil {
				return err
			}
			action := "grant"
			if cur != "" {
				action = "change"
			}
			if err := record(Change{Action: action, Target: t, Old: cur, New: g.Role, Why: g.Why}); err != nil {
				return err
			}
		}
		targets := make([]string, 0, len(have))
		for t := range have {
			targets = append(targets, t)
		}
		slices.Sort(targets)
		for _, t := range targets {
			if wanted[t] {
				continue
			}
			g := have[t]
			if _, err := q.ExecContext(ctx, `DELETE FROM identity_grants WHERE user_id = $1 AND source = $2 AND target = $3`, userID, source, t); err != nil {
				return err
			}
			if t == "team" {
				if err := s.revokeTeam(ctx, q, userID, g, record); err != nil {
					return err
				}
				continue
			}
			if t == "role" {
				cur, err := s.users.RoleTx(ctx, q, userID)
				if err != nil {
					return err
				}
				prev := auth.Role(g.prev)
				if prev == "" {
					prev = auth.RoleUser
				}
				if err := s.users.SetRoleTx(ctx, q, userID, prev); err != nil {
					return err
				}
				if err := record(Change{Action: "revoke", Target: t, Old: string(cur), New: string(prev), Why: "no rule grants it any more"}); err != nil {
					return err
				}
				continue
			}
			if !g.unitID.Valid {
				continue // the unit was deleted
			}
			cur, err := s.units.MemberRoleTx(ctx, q, g.unitID.Int64, userID)
			if err != nil {
				return err
			}
			if cur == "" {
				continue // removed by hand meanwhile
			}
			if g.prev == "" {
				err = s.units.RemoveMemberTx(ctx, q, g.unitID.Int64, userID)
			} else {
				err = s.units.SetMemberTx(ctx, q, g.unitID.Int64, userID, auth.UnitRole(g.prev))
			}
			if err != nil {
				return err
			}
			if err := record(Change{Action: "revoke", Target: t, Old: string(cur), New: g.prev, Why: "no rule grants it any more"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("identity: apply rules: %w", err)
	}
	return changes, nil
}

func (s *Store) applyRole(ctx context.Context, q db.Querier, userID int64, source string, g Grant, have map[string]grantRow,
	record func(Change) error, now time.Time) error {
	role, err := s.users.RoleTx(ctx, q, userID)
	if err != nil {
		return err
	}
	cur := string(role)
	_, granted := have["role"]
	if cur == g.Role {
		return nil // already admin, by hand or by this rule
	}
	if !granted {
		if _, err := q.ExecContext(ctx, `INSERT INTO identity_grants (user_id, source, target, unit_id, role, prev_role, granted_at)
			VALUES ($1, $2, 'role', NULL, $3, $4, $5)`, userID, source, g.Role, cur, now); err != nil {
			return err
		}
	}
	if err := s.users.SetRoleTx(ctx, q, userID, auth.Role(g.Role)); err != nil {
		return err
	}
	return record(Change{Action: "grant", Target: "role", Old: cur, New: g.Role, Why: g.Why})
}

// applyTeam makes g's team the user's, remembering the team they had
// before (restored when no rule grants a team any more).
func (s *Store) applyTeam(ctx context.Context, q db.Querier, userID int64, source string, g Grant, have map[string]grantRow,
	record func(Change) error, now time.Time) error {
	cur, err := s.users.TeamTx(ctx, q, userID)
	if err != nil {
		return err
	}
	old, granted := have["team"]
	switch {
	case !granted && cur == g.Team:
		return nil // theirs by other means: nothing to grant or revoke later
	case granted && old.role == g.Team && cur == g.Team:
		return nil
	case !granted:
		if _, err := q.ExecContext(ctx, `INSERT INTO identity_grants (user_id, source, target, unit_id, role, prev_role, granted_at)
			VALUES ($1, $2, 'team', NULL, $3, $4, $5)`, userID, source, g.Team, cur, now); err != nil {
			return err
		}
	default:
		if _, err := q.ExecContext(ctx, `UPDATE identity_grants SET role = $1 WHERE user_id = $2 AND source = $3 AND target = 'team'`,
			g.Team, userID, source); err != nil {
			return err
		}
	}
	if err := s.users.SetTeamTx(ctx, q, userID, g.Team); err != nil {
		return err
	}
	action := "grant"
	if cur != "" {
		action = "change"
	}
	return record(Change{Action: action, Target: "team", Old: cur, New: g.Team, Why: g.Why})
}

// revokeTeam gives the user back the team they had before a rule set
// theirs (g), unless it was changed by hand since.
func (s *Store) revokeTeam(ctx context.Context, q db.Querier, userID int64, g grantRow, record func(Change) error) error {
	cur, err := s.users.TeamTx(ctx, q, userID)
	if err != nil || cur != g.role {
		return err
	}
	if err := s.users.SetTeamTx(ctx, q, userID, g.prev); err != nil {
		return err
	}
	return record(Change{Action: "revoke", Target: "team", Old: cur, New: g.prev, Why: "no rule grants it any more"})
}

// AuditEntry is one line of the identity audit log.
type AuditEntry struct {
	ID      int64
	At      time.Time
	UserID  int64
	ActorID int64
	Source  string
	Action  string
	Target  string
	Old     string
	New     string
	Detail  string
}

func audit(ctx context.Context, q db.Querier, at time.Time, userID, actorID int64, source, action, target, old, new, detail string) error {
	var uid, aid any
	if userID != 0 {
		uid = userID
	}
	if actorID != 0 {
		aid = actorID
	}
	_, err := q.ExecContext(ctx, `INSERT INTO identity_audit (at, user_id, actor_id, source, action, target, old, new, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, at, uid, aid, source, action, target, old, new, detail)
	if err != nil {
		return fmt.Errorf("identity: audit: %w", err)
	}
	return nil
}

// Audit records one event that did not come from Apply or Link (a
// certificate sign-in refused, a trusted-proxy header ignored, ...).
func (s *Store) Audit(ctx context.Context, userID, actorID int64, source, action, target, detail string) error {
	return audit(ctx, s.db.W, s.now(), userID, actorID, source, action, target, "", "", detail)
}

// AuditLog returns the newest audit entries, of userID only when it is not
// 0, at most limit.
func (s *Store) AuditLog(ctx context.Context, userID int64, limit int) ([]AuditEntry, error) {
	where, args := "", []any{limit}
	if userID != 0 {
		where, args = "WHERE user_id = $2", append(args, userID)
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, at, COALESCE(user_id, 0), COALESCE(actor_id, 0), source, action, target, old, new, detail
		FROM identity_audit `+where+` ORDER BY id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("identity: audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, &e.At, &e.UserID, &e.ActorID, &e.Source, &e.Action, &e.Target, &e.Old, &e.New, &e.Detail); err != nil {
			return nil, fmt.Errorf("identity: audit log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
