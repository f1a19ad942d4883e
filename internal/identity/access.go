package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// Tickets is what access requests need from the ticket store: each request
// is a ticket of the unit, worked by its admins.
type Tickets interface {
	Create(ctx context.Context, p *auth.Principal, nt ticket.NewTicket) (*ticket.Ticket, error)
	AddMessage(ctx context.Context, p *auth.Principal, ticketID int64, nm ticket.NewMessage) (*ticket.Message, error)
	Update(ctx context.Context, p *auth.Principal, id int64, u ticket.Update) (*ticket.Ticket, error)
}

// AccessRequest is a person asking for supporter privileges in a unit.
type AccessRequest struct {
	ID        int64
	UserID    int64
	UserEmail string
	UserName  string
	UnitID    int64
	UnitSlug  string
	UnitName  string
	Role      auth.UnitRole
	Reason    string
	TicketID  int64
	Status    string // pending, approved, denied
	DecidedBy int64
	DecidedAt *time.Time
	CreatedAt time.Time
}

// RequestAccess records p's request to join the unit with slug and opens a
// service-request ticket in that unit for its admins.
func (s *Store) RequestAccess(ctx context.Context, tickets Tickets, p *auth.Principal, unitSlug string, role auth.UnitRole, reason string) (*AccessRequest, error) {
	if p == nil {
		return nil, apperr.New(apperr.Unauthorized, "sign in first")
	}
	if role == "" {
		role = auth.UnitMember
	}
	if role != auth.UnitMember && role != auth.UnitAdmin {
		return nil, apperr.Field("role", "%q is not member or admin", role)
	}
	reason = strings.TrimSpace(reason)
	if !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > 5000 {
		return nil, apperr.Field("reason", "must be at most 5000 characters")
	}
	if reason == "" {
		return nil, apperr.Field("reason", "say why you need these privileges")
	}
	ar := &AccessRequest{UserID: p.UserID, UserEmail: p.Email, UserName: p.Name, Role: role, Reason: reason, Status: "pending", CreatedAt: s.now()}
	u, err := s.units.Unit(ctx, unitSlug)
	if apperr.Is(err, apperr.NotFound) {
		return nil, apperr.Field("unit", "no unit %q", unitSlug)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: request access: %w", err)
	}
	ar.UnitID, ar.UnitSlug, ar.UnitName = u.ID, u.Slug, u.Name
	if cur, ok := p.Units[ar.UnitID]; ok && (cur == role || cur == auth.UnitAdmin) {
		return nil, apperr.New(apperr.Conflict, "you are %s of %s already", cur, ar.UnitName)
	}
	err = s.db.W.QueryRowContext(ctx, `INSERT INTO access_requests (user_id, unit_id, role, reason, status, created_at)
		VALUES ($1, $2, $3, $4, 'pending', $5) RETURNING id`, p.UserID, ar.UnitID, string(role), reason, ar.CreatedAt).Scan(&ar.ID)
	if db.IsUniqueViolation(err) {
		return nil, apperr.New(apperr.Conflict, "you have asked to join %s already; its admins will answer", ar.UnitName)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: request access: %w", err)
	}
	body := fmt.Sprintf("%s <%s> asks to become %s of the support unit %s.\n\nReason:\n%s\n\nUnit admins approve or deny this request on the page /access/requests/%d.",
		p.Name, p.Email, role, ar.UnitName, reason, ar.ID)
	t, err := tickets.Create(ctx, p, ticket.NewTicket{
		Subject: fmt.Sprintf("Access request: %s asks to join %s", p.Name, ar.UnitName),
		Body:    body, UnitID: ar.UnitID, Type: ticket.ServiceRequest, Source: ticket.FromWeb,
	})
	if err != nil {
		_, _ = s.db.W.ExecContext(ctx, `DELETE FROM access_requests WHERE id = $1`, ar.ID)
		return nil, fmt.Errorf("identity: access request ticket: %w", err)
	}
	ar.TicketID = t.ID
	if _, err := s.db.W.ExecContext(ctx, `UPDATE access_requests SET ticket_id = $1 WHERE id = $2`, t.ID, ar.ID); err != nil {
		return nil, fmt.Errorf("identity: request access: %w", err)
	}
	if err := s.Audit(ctx, p.UserID, p.UserID, "web", "access_requested", "unit:"+ar.UnitSlug, fmt.Sprintf("request %d for %s, ticket %d", ar.ID, role, t.ID)); err != nil {
		return nil, err
	}
	return ar, nil
}

const accessCols = `a.id, a.user_id, u.email, u.name, a.unit_id, n.slug, n.name, a.role, a.reason, COALESCE(a.ticket_id, 0), a.status,
	COALESCE(a.decided_by, 0), a.decided_at, a.created_at`

func scanAccess(row interface{ Scan(...any) error }) (*AccessRequest, error) {
	a := &AccessRequest{}
	var role string
	err := row.Scan(&a.ID, &a.UserID, &a.UserEmail, &a.UserName, &a.UnitID, &a.UnitSlug, &a.UnitName, &role, &a.Reason, &a.TicketID, &a.Status,
		&a.DecidedBy, &a.DecidedAt, &a.CreatedAt)
	a.Role = auth.UnitRole(role)
	return a, err
}

// AccessRequestByID returns a request that p may see: their own, or one for
// a unit p manages.
func (s *Store) AccessRequestByID(ctx context.Context, p *auth.Principal, id int64) (*AccessRequest, error) {
	a, err := scanAccess(s.db.R.QueryRowContext(ctx, `SELECT `+accessCols+` FROM access_requests a JOIN users u ON u.id = a.user_id
		JOIN units n ON n.id = a.unit_id WHERE a.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no such access request")
	}
	if err != nil {
		return nil, fmt.Errorf("identity: access request: %w", err)
	}
	if p == nil || (a.UserID != p.UserID && !p.CanManageUnit(a.UnitID)) {
		return nil, apperr.New(apperr.NotFound, "no such access request")
	}
	return a, nil
}

// AccessRequests lists p's own requests and the pending requests of the
// units p manages, newest first.
func (s *Store) AccessRequests(ctx context.Context, p *auth.Principal) (mine, toDecide []*AccessRequest, err error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+accessCols+` FROM access_requests a JOIN users u ON u.id = a.user_id
		JOIN units n ON n.id = a.unit_id WHERE a.user_id = $1 OR a.status = 'pending' ORDER BY a.id DESC LIMIT 500`, p.UserID)
	if err != nil {
		return nil, nil, fmt.Errorf("identity: access requests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAccess(rows)
		if err != nil {
			return nil, nil, fmt.Errorf("identity: access requests: %w", err)
		}
		if a.UserID == p.UserID {
			mine = append(mine, a)
		} else if a.Status == "pending" && p.CanManageUnit(a.UnitID) {
			toDecide = append(toDecide, a)
		}
	}
	return mine, toDecide, rows.Err()
}

// DecideAccess approves or denies a pending request. Only admins of the
// unit (and instance admins) may; nobody decides their own request. On
// approval the person becomes a member (or admin) of the unit. The ticket
// gets a public reply and is solved.
func (s *Store) DecideAccess(ctx context.Context, tickets Tickets, p *auth.Principal, id int64, approve bool, note string) (*AccessRequest, error) {
	a, err := s.AccessRequestByID(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if !p.CanManageUnit(a.UnitID) {
		return nil, apperr.New(apperr.Forbidden, "only the admins of %s decide this request", a.UnitName)
	}
	if a.UserID == p.UserID && !p.IsAdmin() {
		return nil, apperr.New(apperr.Forbidden, "you cannot decide your own request")
	}
	if p.ReadOnly {
		return nil, apperr.New(apperr.Forbidden, "this credential is read-only")
	}
	status := "denied"
	if approve {
		status = "approved"
	}
	now := s.now()
	err = s.db.Tx(ctx, func(q db.Querier) error {
		res, err := q.ExecContext(ctx, `UPDATE access_requests SET status = $1, decided_by = $2, decided_at = $3 WHERE id = $4 AND status = 'pending'`,
			status, p.UserID, now, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.New(apperr.Conflict, "this request was decided already")
		}
		old := ""
		if approve {
			role, err := s.units.MemberRoleTx(ctx, q, a.UnitID, a.UserID)
			if err != nil {
				return err
			}
			old = string(role)
			if role != auth.UnitAdmin {
				if err := s.units.SetMemberTx(ctx, q, a.UnitID, a.UserID, a.Role); err != nil {
					return err
				}
			}
		}
		return audit(ctx, q, now, a.UserID, p.UserID, "web", "access_"+status, "unit:"+a.UnitSlug, old, string(a.Role),
			fmt.Sprintf("request %d; %s", id, truncate(note, 500)))
	})
	if err != nil {
		var ae *apperr.Error
		if errors.As(err, &ae) {
			return nil, err
		}
		return nil, fmt.Errorf("identity: decide access: %w", err)
	}
	a.Status, a.DecidedBy, a.DecidedAt = status, p.UserID, &now
	if a.TicketID != 0 {
		msg := fmt.Sprintf("Your request to become %s of %s was %s by %s.", a.Role, a.UnitName, status, p.Name)
		if note = strings.TrimSpace(note); note != "" {
			msg += "\n\n" + note
		}
		if _, err := tickets.AddMessage(ctx, p, a.TicketID, ticket.NewMessage{Body: msg, Source: ticket.FromWeb}); err != nil {
			return a, fmt.Errorf("identity: reply on access request ticket: %w", err)
		}
		st := ticket.Solved
		if !approve {
			st = ticket.Unsolved
		}
		if _, err := tickets.Update(ctx, p, a.TicketID, ticket.Update{Status: &st, Source: ticket.FromWeb}); err != nil {
			return a, fmt.Errorf("identity: close access request ticket: %w", err)
		}
	}
	return a, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
