package ticket

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// MaxEscalation is the highest level of user escalation (GGUS): 1 the
// unit is reminded, 2 the ticket handler team too, 3 the administrators
// too.
const MaxEscalation = 3

// MaxEscalationReason is the longest reason of an escalation, in
// characters.
const MaxEscalationReason = 2000

// EscalationAudience names who is told of an escalation to level, as the
// history records it.
func EscalationAudience(level int) string {
	told := []string{"unit", "ticket handler team", "administrators"}
	return strings.Join(told[:min(max(level, 1), MaxEscalation)], ", ")
}

// CheckEscalationReason checks the reason of an escalation: 1 to
// MaxEscalationReason characters of valid UTF-8, no control characters
// but line breaks and tabs.
func CheckEscalationReason(reason string) error {
	switch {
	case !utf8.ValidString(reason):
		return apperr.Field("reason", "is not valid UTF-8")
	case strings.TrimSpace(reason) == "":
		return apperr.Field("reason", "is required")
	case utf8.RuneCountInString(reason) > MaxEscalationReason:
		return apperr.Field("reason", "is longer than %d characters", MaxEscalationReason)
	}
	for _, r := range reason {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return apperr.Field("reason", "contains the control character %U", r)
		}
	}
	return nil
}

// Escalate raises a ticket's user escalation level by one (see
// EscalateTx) in a transaction of its own, and returns the ticket as
// written.
func (s *Store) Escalate(ctx context.Context, p *auth.Principal, id int64, reason string, src Source) (*Ticket, error) {
	if err := s.db.Tx(ctx, func(q db.Querier) error { return s.EscalateTx(ctx, q, p, id, reason, src) }); err != nil {
		return nil, err
	}
	return s.Get(ctx, p, id)
}

// EscalateTx is Escalate inside the caller's transaction q: the requester,
// a member of the ticket's team (team tickets) or its staff (auth's
// CanEscalate) raise the level by one, up to MaxEscalation, of a ticket
// that is not frozen, with a reason. It writes the history (action
// escalated, new the level, old who is told) and a ticket.escalated
// event carrying level and reason. q is unusable after any error and must
// be rolled back.
func (s *Store) EscalateTx(ctx context.Context, q db.Querier, p *auth.Principal, id int64, reason string, src Source) error {
	if err := CheckEscalationReason(reason); err != nil {
		return err
	}
	if src == "" {
		src = FromAPI
	}
	if err := checkEnum("source", src, Sources); err != nil {
		return err
	}
	t, err := s.get(ctx, q, p, id)
	if err != nil {
		return err
	}
	switch {
	case p.ReadOnly:
		return apperr.New(apperr.Forbidden, "this credential is read-only")
	case !p.CanEscalate(t.Facts()):
		return apperr.New(apperr.Forbidden, "only the requester, the ticket's team or its staff may escalate it")
	case t.Status.Frozen():
		return apperr.New(apperr.Conflict, "ticket %d is %s and cannot be escalated", t.ID, t.Status)
	case t.EscalationLevel >= MaxEscalation:
		return apperr.New(apperr.Conflict, "ticket %d is escalated to the highest level (%d) already", t.ID, MaxEscalation)
	}
	level := t.EscalationLevel + 1
	now := s.now()
	// The level in the WHERE clause: of two escalations at once, one wins.
	res, err := q.ExecContext(ctx, `UPDATE tickets SET escalation_level = $1, updated_at = $2, public_updated_at = $2
		WHERE id = $3 AND escalation_level = $4`, level, now, t.ID, t.EscalationLevel)
	if err != nil {
		return fmt.Errorf("ticket: escalate %d: %w", t.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.Conflict, "ticket %d was escalated at the same time; reload it", t.ID)
	}
	if err := s.history(ctx, q, t.ID, p, now, "escalated", "escalation_level", EscalationAudience(level), strconv.Itoa(level), src); err != nil {
		return fmt.Errorf("ticket: escalate %d: %w", t.ID, err)
	}
	ev := Event{Kind: "escalated", TicketID: t.ID, Level: level, Reason: reason, ActorID: p.UserID, Source: src,
		Changes: []Change{{Field: "escalation_level", Old: strconv.Itoa(t.EscalationLevel), New: strconv.Itoa(level)}}}
	if err := s.emit(ctx, q, ev); err != nil {
		return fmt.Errorf("ticket: escalate %d: %w", t.ID, err)
	}
	return nil
}
