package connector

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// StatusMapper is implemented by a kind whose statuses are coarser than
// helpmesh's (research/federation.md §3): PeerStatus maps one of
// helpmesh's statuses to the peer's. A status read from the peer is then
// applied only when the ticket's status does not already show as the
// same one on the peer, so that a round trip keeps assigned and new,
// waiting_for_reply and on_hold, solved and verified apart.
type StatusMapper interface {
	PeerStatus(status string) string
}

// PollNow polls the peer of the connector named name at once, whether or
// not its interval has passed, and applies what it answers.
func (e *Engine) PollNow(ctx context.Context, name string) error {
	c, err := e.Get(ctx, name)
	if err != nil {
		return err
	}
	return e.poll(ctx, c)
}

// poll asks c's peer for the changes since c's cursor to the linked
// tickets and applies them in one transaction with the remote ids applied
// and the new cursor: the cursor moves only when the changes are
// committed, and a change read twice is applied once. A poll that
// succeeds ends the peer's backoff: what waited for it is due at once,
// and a reconciliation pass after it.
func (e *Engine) poll(ctx context.Context, c *Connector) error {
	peer, err := e.peer(c)
	if err != nil {
		return e.failed(ctx, c, err)
	}
	refs, err := e.linkedRefs(ctx, c.ID)
	if err != nil {
		return err
	}
	changes, next, err := peer.Poll(ctx, c.cursor, refs)
	if err != nil {
		if ferr := e.failed(ctx, c, err); ferr != nil {
			return errors.Join(err, ferr)
		}
		return fmt.Errorf("connector %s: poll: %w", c.Name, err)
	}
	now := e.now()
	err = e.db.Tx(ctx, func(q db.Querier) error {
		if _, err := e.applyTx(ctx, q, c, changes, ""); err != nil {
			return err
		}
		if e.beforeCommit != nil {
			if err := e.beforeCommit(); err != nil {
				return err
			}
		}
		if _, err := q.ExecContext(ctx, `UPDATE connectors SET poll_cursor = $1, polled = TRUE, last_sync_at = $2, last_error = '',
			failures = 0, retry_at = NULL, next_poll_at = $3 WHERE id = $4`, next, now, now.Add(c.PollInterval), c.ID); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `UPDATE connector_items SET next_try_at = $1 WHERE connector_id = $2 AND state = 'pending' AND next_try_at > $1`, now, c.ID); err != nil {
			return err
		}
		if c.failures == 0 {
			return nil
		}
		// The peer answers again after an outage: a reconciliation pass
		// follows once what waited is sent.
		_, err := q.ExecContext(ctx, `UPDATE connectors SET next_reconcile_at = $1 WHERE id = $2`, now, c.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("connector %s: apply the poll: %w", c.Name, err)
	}
	c.cursor, c.failures, c.retryAt = next, 0, nil
	return nil
}

// Apply applies changes pushed by the peer of the connector named name
// (the helpmesh-peer receiver) as the poller applies what it reads, in one
// transaction: each change once, by its RemoteID, under the same
// ownership rules.
func (e *Engine) Apply(ctx context.Context, name string, changes []Change) error {
	c, err := e.Get(ctx, name)
	if err != nil {
		return err
	}
	err = e.db.Tx(ctx, func(q db.Querier) error {
		if _, err := e.applyTx(ctx, q, c, changes, ""); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `UPDATE connectors SET last_sync_at = $1 WHERE id = $2`, e.now(), c.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("connector %s: apply: %w", name, err)
	}
	return nil
}

// applyTx applies changes in q. A change refused by helpmesh's rules (a
// status the workflow does not allow, a frozen ticket) is logged on its
// ticket and counted as applied, never retried; an error of the database
// fails the whole transaction. It returns how many changes it applied
// (not refused, not applied before); note is added to their lines in the
// sync log.
func (e *Engine) applyTx(ctx context.Context, q db.Querier, c *Connector, changes []Change, note string) (int, error) {
	applied := 0
	for _, ch := range changes {
		if ch.RemoteID == "" || ch.Ticket.RemoteID == "" {
			e.opts.Log.Warn("connector: a change without its ids is left out", "connector", c.Name, "kind", ch.Kind)
			continue
		}
		var ticketID int64
		err := q.QueryRowContext(ctx, `SELECT ticket_id FROM connector_links WHERE connector_id = $1 AND remote_id = $2 AND state = 'linked'`,
			c.ID, ch.Ticket.RemoteID).Scan(&ticketID)
		if errors.Is(err, sql.ErrNoRows) {
			e.opts.Log.Debug("connector: a change of a ticket not linked", "connector", c.Name, "remote", ch.Ticket.RemoteID)
			continue
		}
		if err != nil {
			return applied, fmt.Errorf("link of %s: %w", ch.Ticket.RemoteID, err)
		}
		res, err := q.ExecContext(ctx, `INSERT INTO connector_applied (connector_id, remote_id, applied_at) VALUES ($1, $2, $3)
			ON CONFLICT (connector_id, remote_id) DO NOTHING`, c.ID, ch.RemoteID, e.now())
		if err != nil {
			return applied, fmt.Errorf("record change %s: %w", ch.RemoteID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			continue // applied before
		}
		files, err := e.store(ctx, ch.Attachments)
		if err != nil {
			return applied, err
		}
		var result string
		err = db.Savepoint(ctx, q, func() error {
			var err error
			result, err = e.applyOne(ctx, q, c, ticketID, ch, files)
			return err
		})
		switch k := apperr.KindOf(err); {
		case err == nil:
			if result == "ok" {
				applied++
			}
		case k == apperr.Invalid || k == apperr.Conflict || k == apperr.Forbidden || k == apperr.NotFound || k == apperr.TooLarge:
			result = "refused: " + err.Error()
		default:
			return applied, fmt.Errorf("apply change %s: %w", ch.RemoteID, err)
		}
		if _, err := q.ExecContext(ctx, `UPDATE connector_links SET last_sync_at = $1 WHERE ticket_id = $2 AND connector_id = $3`, e.now(), ticketID, c.ID); err != nil {
			return applied, err
		}
		if err := e.logSync(ctx, q, ticketID, c.Name, "in", changeWhat(ch), result+note); err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// changeWhat names a change in the sync log.
func changeWhat(ch Change) string {
	switch ch.Kind {
	case KindStatus:
		return "status " + ch.Status
	case KindPriority:
		return "priority " + ch.Priority
	}
	return string(ch.Kind)
}

// applyOne applies one change to ticket id as the peer, and returns what
// it did for the sync log.
func (e *Engine) applyOne(ctx context.Context, q db.Querier, c *Connector, id int64, ch Change, files []ticket.NewAttachment) (string, error) {
	p := auth.Peer(c.Name, id)
	switch ch.Kind {
	case KindMessage, KindNote:
		body := ch.Body
		if strings.TrimSpace(body) == "" && len(files) > 0 {
			names := make([]string, len(files))
			for i, f := range files {
				names[i] = f.Filename
			}
			body = "(files: " + strings.Join(names, ", ") + ")"
		}
		_, err := e.opts.Tickets.AddMessageTx(ctx, q, p, id, ticket.NewMessage{Body: body, Internal: ch.Kind == KindNote, Source: ticket.FromPeer, Attachments: files})
		return "ok", err
	case KindStatus:
		var cur string
		if err := q.QueryRowContext(ctx, `SELECT status FROM tickets WHERE id = $1`, id).Scan(&cur); err != nil {
			return "", fmt.Errorf("status of ticket %d: %w", id, err)
		}
		var same func(a, b string) bool
		if m, ok := e.peerOf(c).(StatusMapper); ok {
			same = func(a, b string) bool { return m.PeerStatus(a) == m.PeerStatus(b) }
		}
		if ok, why := TakeStatus(cur, ch.Status, same); !ok {
			return "kept " + cur + ": " + why, nil
		}
		s := ticket.Status(ch.Status)
		return "ok", e.opts.Tickets.UpdateTx(ctx, q, p, id, ticket.Update{Status: &s, Source: ticket.FromPeer})
	case KindPriority:
		pr := ticket.Priority(ch.Priority)
		return "ok", e.opts.Tickets.UpdateTx(ctx, q, p, id, ticket.Update{Priority: &pr, Source: ticket.FromPeer})
	}
	return "", apperr.New(apperr.Invalid, "unknown change kind %q", ch.Kind)
}

// peerOf is c's Peer, or nil when it cannot be built.
func (e *Engine) peerOf(c *Connector) Peer {
	p, _ := e.peer(c)
	return p
}

// TakeStatus decides whether status to, set on the peer, is applied to a
// ticket whose status is cur (research/federation.md §5, ownership): the
// peer works the ticket and owns its progress up to solved and unsolved;
// helpmesh, the requester's side, owns verify and reopen, and a verified
// or closed ticket is never regressed. same, when set, tells whether two
// statuses show as one on the peer (StatusMapper). why says what kept cur.
func TakeStatus(cur, to string, same func(a, b string) bool) (ok bool, why string) {
	switch {
	case cur == to:
		return false, "the same status"
	case cur == string(ticket.Verified) || cur == string(ticket.Closed):
		return false, "a " + cur + " ticket is never regressed by the peer"
	case to == string(ticket.Verified) || to == string(ticket.Reopened) || to == string(ticket.Closed):
		return false, "helpmesh, the requester's side, owns " + to
	case (cur == string(ticket.Solved) || cur == string(ticket.Unsolved)) && ticket.Status(to).Open():
		return false, "helpmesh, the requester's side, owns reopening"
	case same != nil && same(cur, to):
		return false, "the peer shows " + cur + " as " + to
	}
	return true, ""
}

// store keeps the files of a change received from the peer.
func (e *Engine) store(ctx context.Context, atts []Attachment) ([]ticket.NewAttachment, error) {
	if e.opts.Blobs == nil || len(atts) == 0 {
		return nil, nil
	}
	out := make([]ticket.NewAttachment, 0, len(atts))
	for _, a := range atts {
		if int64(len(a.Data)) > e.opts.MaxFile {
			e.opts.Log.Warn("connector: a file over the size limit is left out", "file", a.Filename, "size", len(a.Data))
			continue
		}
		sum, size, err := e.opts.Blobs.Put(ctx, bytes.NewReader(a.Data), e.opts.MaxFile)
		if err != nil {
			return nil, fmt.Errorf("connector: store file %s: %w", a.Filename, err)
		}
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		out = append(out, ticket.NewAttachment{Filename: a.Filename, ContentType: ct, Size: size, SHA256: sum})
	}
	return out, nil
}
