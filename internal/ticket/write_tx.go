package ticket

import (
	"context"
	"fmt"
	"strconv"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// CreateTx is Create inside the caller's transaction q, for callers that
// fold several writes into one commit (the mail gateway: the sender's
// account, the ticket, its inbound mail record and the jobs of the Emit
// hook). It checks exactly what Create checks and returns the ticket's id.
// A unique violation on the mail's
// Message-ID is returned as a Conflict; q is unusable after any error and
// must be rolled back.
func (s *Store) CreateTx(ctx context.Context, q db.Querier, p *auth.Principal, nt NewTicket) (int64, error) {
	nt, err := s.checkNew(ctx, p, nt)
	if err != nil {
		return 0, err
	}
	t, err := s.insertTicket(ctx, q, p, nt, s.at(p, nt.At))
	if err != nil {
		return 0, createError(err, nt)
	}
	return t.ID, nil
}

// AddMessageTx is AddMessage inside the caller's transaction q, and the
// one way a message is added: p must write to the ticket (auth's
// CanWrite: requester, watcher, staff, a mail participant or peer taking
// part in it), only its staff (and peers) add internal notes (CanNote), frozen tickets take no more
// messages, and a public reply of the requester moves waiting_for_reply to
// in_progress. It returns the new message's id. A unique violation on the mail's
// Message-ID is returned as a Conflict; q is unusable after any error and
// must be rolled back.
func (s *Store) AddMessageTx(ctx context.Context, q db.Querier, p *auth.Principal, ticketID int64, nm NewMessage) (int64, error) {
	if err := CheckBody(nm.Body); err != nil {
		return 0, err
	}
	if nm.Source == "" {
		nm.Source = FromAPI
	}
	if err := checkEnum("source", nm.Source, Sources); err != nil {
		return 0, err
	}
	t, err := s.load(ctx, q, ticketID, p.UserID)
	if err != nil {
		return 0, err
	}
	switch f := t.Facts(); {
	case !p.CanSeeTicket(f):
		return 0, apperr.New(apperr.NotFound, "no ticket %d", ticketID)
	case p.ReadOnly:
		return 0, apperr.New(apperr.Forbidden, "this credential is read-only")
	case !p.CanWrite(f):
		return 0, apperr.New(apperr.Forbidden, "%s may not write to tickets", p.Label())
	case nm.Internal && !p.CanNote(f):
		return 0, apperr.New(apperr.Forbidden, "only support staff may add internal notes")
	case t.Status.Frozen():
		return 0, apperr.New(apperr.Conflict, "ticket %d is %s and takes no more messages", t.ID, t.Status)
	}
	now := s.at(p, nm.At)
	var mid int64
	if p.IsUnitList() {
		// A unit's list has no account: the message is by its address.
		mid, err = s.insertMessageBy(ctx, q, t.ID, 0, p.Email, p.Name, nm.Internal, nm.Source, nm.Body, nm.BodyHTML, nm.MailID, nm.Attachments, now)
	} else {
		mid, err = s.insertMessage(ctx, q, t.ID, p.UserID, nm.Internal, nm.Source, nm.Body, nm.BodyHTML, nm.MailID, nm.Attachments, now)
	}
	if err != nil {
		if db.IsUniqueViolation(err) && nm.MailID != "" {
			return 0, apperr.New(apperr.Conflict, "mail %s was processed already", nm.MailID)
		}
		return 0, fmt.Errorf("ticket: add message: %w", err)
	}
	action := "replied"
	if nm.Internal {
		action = "noted"
	}
	if err := s.history(ctx, q, t.ID, p, now, action, "", "", strconv.FormatInt(mid, 10), nm.Source); err != nil {
		return 0, fmt.Errorf("ticket: add message: %w", err)
	}
	var changes []Change
	status := t.Status
	if !nm.Internal && t.Status == WaitingForReply && p.UserID == t.Requester.ID {
		changes = append(changes, Change{Field: "status", Old: string(t.Status), New: string(InProgress)})
		if err := s.history(ctx, q, t.ID, p, now, "changed", "status", string(t.Status), string(InProgress), nm.Source); err != nil {
			return 0, fmt.Errorf("ticket: add message: %w", err)
		}
		status = InProgress
	}
	if err := touch(ctx, q, t.ID, status, nm.Internal, now); err != nil {
		return 0, fmt.Errorf("ticket: add message: %w", err)
	}
	if err := responded(ctx, q, p, t, now); err != nil {
		return 0, fmt.Errorf("ticket: add message: %w", err)
	}
	if t.Kind == KindAlarm && p.IsPerson() && t.UnitID != 0 && p.StaffOf(t.UnitID) {
		if err := alarmAnswered(ctx, q, t.ID); err != nil {
			return 0, fmt.Errorf("ticket: add message: %w", err)
		}
	}
	ev := Event{Kind: "message", TicketID: t.ID, MessageID: mid, Internal: nm.Internal, Changes: changes, ActorID: p.UserID, Source: nm.Source}
	if err := s.emit(ctx, q, ev); err != nil {
		return 0, fmt.Errorf("ticket: add message: %w", err)
	}
	if err := s.afterMessage(ctx, q, p, t, mid, nm.Internal); err != nil {
		return 0, fmt.Errorf("ticket: add message: %w", err)
	}
	return mid, nil
}
