package ticket

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/helpmesh/helpmesh/internal/apperr"
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
