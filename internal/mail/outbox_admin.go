package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/jobs"
)

// What administrators do with outgoing mail on the mail page: read the
// start of a mail, send a failed one again, or discard one that should
// not go out.

// OutboxPreview returns the first n characters of the text of outgoing
// mail id ("" when it cannot be read as a message).
func (g *Gateway) OutboxPreview(ctx context.Context, id int64, n int) (string, error) {
	raw, err := g.OutboxRaw(ctx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", apperr.New(apperr.NotFound, "no such mail")
	}
	if err != nil {
		return "", err
	}
	p, err := parse(raw, "", false)
	if err != nil {
		return "", nil // our own mail, so never; no preview rather than no page
	}
	text := strings.Join(strings.Fields(p.Text), " ")
	if r := []rune(text); len(r) > n {
		text = string(r[:n]) + "…"
	}
	return text, nil
}

// Retry sends a failed outgoing mail again: it is queued for sending, or
// held when no relay is configured. Only failed mail can be retried.
func (g *Gateway) Retry(ctx context.Context, id int64) error {
	state := "held"
	if g.sender != nil {
		state = "pending"
	}
	return g.db.Tx(ctx, func(q db.Querier) error {
		res, err := q.ExecContext(ctx, `UPDATE outbox SET state = $1, last_error = '' WHERE id = $2 AND state = 'failed'`, state, id)
		if err != nil {
			return fmt.Errorf("mail: retry %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return g.outboxStateError(ctx, q, id, "only failed mail can be sent again")
		}
		if state == "pending" {
			if _, err := jobs.Enqueue(ctx, q, JobSend, sendPayload{ID: id}, time.Time{}); err != nil {
				return err
			}
		}
		return nil
	})
}

// Discard keeps an outgoing mail that is held, pending or failed from
// ever being sent (it becomes suppressed); sent mail cannot be discarded.
func (g *Gateway) Discard(ctx context.Context, id int64) error {
	return g.db.Tx(ctx, func(q db.Querier) error {
		res, err := q.ExecContext(ctx, `UPDATE outbox SET state = 'suppressed', last_error = 'discarded by an administrator' WHERE id = $1 AND state IN ('held', 'pending', 'failed')`, id)
		if err != nil {
			return fmt.Errorf("mail: discard %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return g.outboxStateError(ctx, q, id, "only mail not sent yet can be discarded")
		}
		return nil
	})
}

// outboxStateError says why a change of outgoing mail id did not apply:
// there is no such mail, or its state does not allow it (why).
func (g *Gateway) outboxStateError(ctx context.Context, q db.Querier, id int64, why string) error {
	var state string
	err := q.QueryRowContext(ctx, `SELECT state FROM outbox WHERE id = $1`, id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.New(apperr.NotFound, "no such mail")
	}
	if err != nil {
		return fmt.Errorf("mail: outbox %d: %w", id, err)
	}
	return apperr.New(apperr.Conflict, "%s; this one is %s", why, state)
}
