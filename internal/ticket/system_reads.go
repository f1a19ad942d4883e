package ticket

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
)

// The reads in this file act for no particular person: the followers of
// the event stream (notify, mail) and the mail gateway use them for what
// they decide themselves. They check no rights.

// Message returns message id without its attachments; NotFound when it
// does not exist.
func (s *Store) Message(ctx context.Context, id int64) (*Message, error) {
	return s.oneMessage(ctx, `m.id = $1`, id)
}

// FirstMessage returns the first message of ticket id without its
// attachments; NotFound when it has none.
func (s *Store) FirstMessage(ctx context.Context, ticketID int64) (*Message, error) {
	return s.oneMessage(ctx, `m.ticket_id = $1 ORDER BY m.id`, ticketID)
}

// MessageFiles returns the attachments of message id (the connectors
// send them with the message).
func (s *Store) MessageFiles(ctx context.Context, id int64) ([]Attachment, error) {
	atts, err := s.attachments(ctx, s.r, `message_id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("ticket: files of message %d: %w", id, err)
	}
	return atts, nil
}

func (s *Store) oneMessage(ctx context.Context, where string, arg any) (*Message, error) {
	m, err := scanMessage(s.r.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages m WHERE `+where+` LIMIT 1`, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no such message")
	}
	if err != nil {
		return nil, fmt.Errorf("ticket: message: %w", err)
	}
	return m, nil
}

// Watches tells whether user userID is a registered watcher of ticket id.
func (s *Store) Watches(ctx context.Context, id, userID int64) (bool, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM ticket_watchers WHERE ticket_id = $1 AND user_id = $2`, id, userID).Scan(&n); err != nil {
		return false, fmt.Errorf("ticket: watcher: %w", err)
	}
	return n > 0, nil
}

// TicketsByMailID returns up to limit tickets that have a message which
// came in or went out as the mail with Message-ID mailID.
func (s *Store) TicketsByMailID(ctx context.Context, mailID string, limit int) ([]int64, error) {
	ids, err := db.Column[int64](s.r.QueryContext(ctx, `SELECT DISTINCT ticket_id FROM messages WHERE mail_id = $1 LIMIT `+strconv.Itoa(limit), mailID))
	if err != nil {
		return nil, fmt.Errorf("ticket: tickets of mail: %w", err)
	}
	return ids, nil
}

// MessageByMailID returns the id of the newest message of ticket id that
// came as the mail with Message-ID mailID, read in transaction q (the one
// that wrote it); NotFound when there is none.
func (s *Store) MessageByMailID(ctx context.Context, q db.Querier, id int64, mailID string) (int64, error) {
	var mid sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(id) FROM messages WHERE ticket_id = $1 AND mail_id = $2`, id, mailID).Scan(&mid); err != nil {
		return 0, fmt.Errorf("ticket: message of mail: %w", err)
	}
	if !mid.Valid {
		return 0, apperr.New(apperr.NotFound, "ticket %d has no message from mail %s", id, mailID)
	}
	return mid.Int64, nil
}

// Participant tells whether a person takes part in ticket id: its
// requester, a watcher (by account or address), a member of its unit (or
// of the ticket handler team, or an administrator), or someone who has
// written to it from email. userID is 0 for an address without an account.
func (s *Store) Participant(ctx context.Context, id int64, email string, userID int64) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM tickets t WHERE t.id = $1 AND (
		t.requester_id = $2
		OR EXISTS (SELECT 1 FROM ticket_watchers w WHERE w.ticket_id = t.id AND (w.email = $3 OR w.user_id = $2))
		OR EXISTS (SELECT 1 FROM unit_members m WHERE m.unit_id = t.unit_id AND m.user_id = $2)
		OR EXISTS (SELECT 1 FROM unit_members m JOIN units u ON u.id = m.unit_id WHERE u.is_handler AND m.user_id = $2)
		OR EXISTS (SELECT 1 FROM users u WHERE u.id = $2 AND u.role = 'admin')
		OR EXISTS (SELECT 1 FROM messages m WHERE m.ticket_id = t.id AND m.author_email = $3))`, id, userID, email).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("ticket: participant: %w", err)
	}
	return n > 0, nil
}
