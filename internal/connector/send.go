package connector

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// Item is an entry of a connector's outbound queue, as administrators see
// it.
type Item struct {
	ID        int64
	TicketID  int64
	Op        string // create, message, note, status, priority
	Value     string // the status or priority sent
	State     string // pending or dead
	Attempts  int
	NextTryAt time.Time
	LastError string
	CreatedAt time.Time
}

// queuedItem is an item with what sending it needs.
type queuedItem struct {
	Item
	messageID int64
}

// sendBatch bounds the items one look at the queue takes.
const sendBatch = 50

// heads returns the due items of connector id that head their ticket's
// queue: an item waits while an older one of its ticket is pending or
// dead (order per ticket; a dead one holds the rest until it is retried
// or skipped).
func (e *Engine) heads(ctx context.Context, id int64) ([]queuedItem, error) {
	rows, err := e.db.Reader().QueryContext(ctx, `SELECT i.id, i.ticket_id, i.op, i.value, i.state, i.attempts, i.next_try_at, i.last_error, i.created_at, i.message_id
		FROM connector_items i WHERE i.connector_id = $1 AND i.state = 'pending' AND i.next_try_at <= $2
		AND NOT EXISTS (SELECT 1 FROM connector_items o WHERE o.connector_id = i.connector_id AND o.ticket_id = i.ticket_id AND o.id < i.id)
		ORDER BY i.id LIMIT `+fmt.Sprint(sendBatch), id, e.now())
	if err != nil {
		return nil, fmt.Errorf("connector: due items: %w", err)
	}
	return db.Collect(rows, func(r interface{ Scan(...any) error }) (queuedItem, error) {
		var it queuedItem
		err := r.Scan(&it.ID, &it.TicketID, &it.Op, &it.Value, &it.State, &it.Attempts, &it.NextTryAt, &it.LastError, &it.CreatedAt, &it.messageID)
		return it, err
	})
}

// SendDue sends the due items of the connector named name, oldest first,
// until none is due or the peer fails, and returns how many it sent. A
// paused connector, or one whose peer is backed off, sends nothing.
func (e *Engine) SendDue(ctx context.Context, name string) (int, error) { return e.sendDue(ctx, name) }

func (e *Engine) sendDue(ctx context.Context, name string) (int, error) {
	sent := 0
	for {
		c, err := e.Get(ctx, name)
		if err != nil {
			return sent, err
		}
		if c.Paused || (c.retryAt != nil && c.retryAt.After(e.now())) {
			return sent, nil
		}
		peer, err := e.peer(c)
		if err != nil {
			return sent, e.failed(ctx, c, err)
		}
		its, err := e.heads(ctx, c.ID)
		if err != nil || len(its) == 0 {
			return sent, err
		}
		for len(its) > 0 {
			group := its[:min(len(its), sendParallel)]
			its = its[len(group):]
			errs := e.sendGroup(ctx, c, peer, group)
			for i, it := range group {
				if errs[i] == nil {
					sent++
					continue
				}
				if ctx.Err() != nil {
					return sent, ctx.Err()
				}
				if stop, rerr := e.sendFailed(ctx, c, it, errs[i]); rerr != nil || stop {
					return sent, rerr
				}
			}
		}
	}
}

// sendParallel is how many items, each of another ticket, are sent to a
// peer at once: a peer such as RT takes seconds to create a ticket, most
// of it its own work that several of its processes do side by side.
// The items of one ticket still go one after the other, in order (heads
// gives at most one per ticket).
const sendParallel = 4

// sendGroup sends the items of group at once and returns the error of
// each.
func (e *Engine) sendGroup(ctx context.Context, c *Connector, peer Peer, group []queuedItem) []error {
	errs := make([]error, len(group))
	if len(group) == 1 {
		errs[0] = e.send(ctx, c, peer, group[0])
		return errs
	}
	var wg sync.WaitGroup
	for i, it := range group {
		wg.Go(func() { errs[i] = e.send(ctx, c, peer, it) })
	}
	wg.Wait()
	return errs
}

// sendFailed records the failure of it: ErrPermanent, or the last
// attempt, makes it dead; anything else backs the peer off (stop: send no
// more now).
func (e *Engine) sendFailed(ctx context.Context, c *Connector, it queuedItem, cause error) (stop bool, err error) {
	msg := truncate(cause.Error(), 1000)
	attempts := it.Attempts + 1
	if errors.Is(cause, ErrPermanent) || attempts >= e.opts.MaxAttempts {
		err := e.db.Tx(ctx, func(q db.Querier) error {
			if _, err := q.ExecContext(ctx, `UPDATE connector_items SET state = 'dead', attempts = $1, last_error = $2 WHERE id = $3`, attempts, msg, it.ID); err != nil {
				return err
			}
			return e.logSync(ctx, q, it.TicketID, c.Name, "out", it.what(), "dead: "+msg)
		})
		if err != nil {
			return true, fmt.Errorf("connector: item %d dead: %w", it.ID, err)
		}
		e.opts.Log.Warn("connector: an item is dead", "connector", c.Name, "item", it.ID, "ticket", it.TicketID, "err", msg)
		if errors.Is(cause, ErrPermanent) {
			// The peer answered: it is up.
			return false, nil
		}
		return true, e.failed(ctx, c, cause)
	}
	if err := e.failed(ctx, c, cause); err != nil {
		return true, err
	}
	_, err = e.db.W.ExecContext(ctx, `UPDATE connector_items SET attempts = $1, last_error = $2, next_try_at = $3 WHERE id = $4`,
		attempts, msg, *c.retryAt, it.ID)
	if err != nil {
		return true, fmt.Errorf("connector: item %d: %w", it.ID, err)
	}
	return true, nil
}

// what names an item in the sync log.
func (it Item) what() string {
	if it.Value != "" {
		return it.Op + " " + it.Value
	}
	return it.Op
}

// system is the principal the engine reads tickets with.
var system = auth.System("connectors")

// send sends one item to the peer and, once it is taken, removes it from
// the queue, in one transaction with the link (for a creation) and the
// sync log. A ticket that has no link yet (it became external after it
// was created) is created on the peer first.
func (e *Engine) send(ctx context.Context, c *Connector, peer Peer, it queuedItem) error {
	ref, linked, err := e.link(ctx, it.TicketID, c.ID)
	if err != nil {
		return err
	}
	result, err := e.superseded(ctx, it)
	if err != nil {
		return err
	}
	var newRef *Ref
	if !linked {
		r, err := e.create(ctx, peer, it.TicketID)
		if err != nil {
			return err
		}
		ref, newRef = r, &r
	}
	if result == "ok" && it.Op != opCreate {
		ch, err := e.change(ctx, it)
		if err != nil {
			return err
		}
		if err := peer.Push(ctx, ref, ch); err != nil {
			if newRef != nil {
				// Keep the link of the ticket created on the peer.
				if lerr := e.db.Tx(ctx, func(q db.Querier) error { return e.addLink(ctx, q, c, it.TicketID, *newRef) }); lerr != nil {
					return errors.Join(err, lerr)
				}
			}
			return fmt.Errorf("connector %s: push %s of ticket %d: %w", c.Name, it.Op, it.TicketID, err)
		}
	}
	return e.db.Tx(ctx, func(q db.Querier) error {
		if newRef != nil {
			if err := e.addLink(ctx, q, c, it.TicketID, *newRef); err != nil {
				return err
			}
			if err := e.markSent(ctx, q, c, it.TicketID, 0); err != nil {
				return err
			}
		}
		if result == "ok" && (it.Op == opMessage || it.Op == opNote) {
			if err := e.markSent(ctx, q, c, it.TicketID, it.messageID); err != nil {
				return err
			}
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM connector_items WHERE id = $1`, it.ID); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `UPDATE connector_links SET last_sync_at = $1 WHERE ticket_id = $2 AND connector_id = $3`, e.now(), it.TicketID, c.ID); err != nil {
			return err
		}
		return e.logSync(ctx, q, it.TicketID, c.Name, "out", it.what(), result)
	})
}

// markSent records that message mid of ticket id is on c's peer (mid 0:
// the ticket's first message, sent with its creation).
func (e *Engine) markSent(ctx context.Context, q db.Querier, c *Connector, id, mid int64) error {
	if mid == 0 {
		var first sql.NullInt64
		if err := q.QueryRowContext(ctx, `SELECT MIN(id) FROM messages WHERE ticket_id = $1`, id).Scan(&first); err != nil {
			return fmt.Errorf("connector: first message of ticket %d: %w", id, err)
		}
		if !first.Valid {
			return nil
		}
		mid = first.Int64
	}
	_, err := q.ExecContext(ctx, `INSERT INTO connector_sent (connector_id, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, c.ID, mid)
	if err != nil {
		return fmt.Errorf("connector: message of ticket %d sent: %w", id, err)
	}
	return nil
}

// superseded returns "ok" for an item to send, or why a status or
// priority item is left out: the ticket has another one since, set by a
// later change of helpmesh's (sent by its own item) or by the peer, which
// works the ticket and owns its progress and priority
// (research/federation.md §5): pushing the older value would set the
// peer back and leave the two sides apart.
func (e *Engine) superseded(ctx context.Context, it queuedItem) (string, error) {
	if it.Op != opStatus && it.Op != opPriority {
		return "ok", nil // messages are append-only; a creation is sent once
	}
	t, err := e.opts.Tickets.Get(ctx, system, it.TicketID)
	if err != nil {
		return "", fmt.Errorf("connector: ticket %d: %w", it.TicketID, err)
	}
	cur := string(t.Status)
	if it.Op == opPriority {
		cur = string(t.Priority)
	}
	if cur == it.Value {
		return "ok", nil
	}
	return "superseded: the ticket's " + it.Op + " is " + cur + " now", nil
}

// create opens ticket id on the peer.
func (e *Engine) create(ctx context.Context, peer Peer, id int64) (Ref, error) {
	t, err := e.opts.Tickets.Get(ctx, system, id)
	if err != nil {
		return Ref{}, fmt.Errorf("connector: ticket %d: %w", id, err)
	}
	first, err := e.opts.Tickets.FirstMessage(ctx, id)
	if err != nil {
		return Ref{}, fmt.Errorf("connector: first message of ticket %d: %w", id, err)
	}
	atts, err := e.files(ctx, first)
	if err != nil {
		return Ref{}, err
	}
	ref, err := peer.Create(ctx, Ticket{Subject: t.Subject, Body: first.Body, Requester: Person{Email: t.Requester.Email, Name: t.Requester.Name},
		Status: string(t.Status), Priority: string(t.Priority), Created: t.CreatedAt, Updated: t.UpdatedAt, LocalID: t.ID, Attachments: atts})
	if err != nil {
		return Ref{}, fmt.Errorf("create ticket %d: %w", id, err)
	}
	if ref.RemoteID == "" {
		return Ref{}, fmt.Errorf("create ticket %d: the peer gave no id: %w", id, ErrPermanent)
	}
	return ref, nil
}

// change is the Change an item sends.
func (e *Engine) change(ctx context.Context, it queuedItem) (Change, error) {
	switch it.Op {
	case opStatus:
		return Change{Kind: KindStatus, Status: it.Value, At: it.CreatedAt}, nil
	case opPriority:
		return Change{Kind: KindPriority, Priority: it.Value, At: it.CreatedAt}, nil
	}
	m, err := e.opts.Tickets.Message(ctx, it.messageID)
	if errors.Is(err, sql.ErrNoRows) || apperr.Is(err, apperr.NotFound) {
		return Change{}, fmt.Errorf("message %d is gone: %w", it.messageID, ErrPermanent)
	}
	if err != nil {
		return Change{}, fmt.Errorf("connector: message %d: %w", it.messageID, err)
	}
	atts, err := e.files(ctx, m)
	if err != nil {
		return Change{}, err
	}
	kind := KindMessage
	if it.Op == opNote {
		kind = KindNote
	}
	return Change{Kind: kind, Body: m.Body, Author: Person{Email: m.Author.Email, Name: m.Author.Name}, Attachments: atts, At: m.CreatedAt}, nil
}

// files reads the attachments of m.
func (e *Engine) files(ctx context.Context, m *ticket.Message) ([]Attachment, error) {
	if e.opts.Blobs == nil {
		return nil, nil
	}
	atts, err := e.opts.Tickets.MessageFiles(ctx, m.ID)
	if err != nil || len(atts) == 0 {
		return nil, err
	}
	out := make([]Attachment, 0, len(atts))
	for _, a := range atts {
		if a.Size > e.opts.MaxFile {
			e.opts.Log.Warn("connector: a file over the size limit is not sent", "attachment", a.ID, "size", a.Size)
			continue
		}
		f, err := e.opts.Blobs.Open(ctx, a.SHA256)
		if err != nil {
			return nil, fmt.Errorf("connector: attachment %d: %w", a.ID, err)
		}
		data, err := io.ReadAll(io.LimitReader(f, e.opts.MaxFile+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("connector: attachment %d: %w", a.ID, err)
		}
		out = append(out, Attachment{Filename: a.Filename, ContentType: a.ContentType, Data: data})
	}
	return out, nil
}

// DeadItems lists the dead items of the connector named name, oldest
// first.
func (e *Engine) DeadItems(ctx context.Context, name string) ([]Item, error) {
	c, err := e.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	rows, err := e.db.Reader().QueryContext(ctx, `SELECT id, ticket_id, op, value, state, attempts, next_try_at, last_error, created_at
		FROM connector_items WHERE connector_id = $1 AND state = 'dead' ORDER BY id LIMIT 500`, c.ID)
	if err != nil {
		return nil, fmt.Errorf("connector: dead items: %w", err)
	}
	return db.Collect(rows, func(r interface{ Scan(...any) error }) (Item, error) {
		var it Item
		err := r.Scan(&it.ID, &it.TicketID, &it.Op, &it.Value, &it.State, &it.Attempts, &it.NextTryAt, &it.LastError, &it.CreatedAt)
		return it, err
	})
}

// Retry puts the dead item id of the connector named name back in the
// queue, due now with its attempts counted afresh.
func (e *Engine) Retry(ctx context.Context, name string, id int64) error {
	return e.onDead(ctx, name, id, "retried", func(q db.Querier) error {
		_, err := q.ExecContext(ctx, `UPDATE connector_items SET state = 'pending', attempts = 0, next_try_at = $1 WHERE id = $2`, e.now(), id)
		return err
	})
}

// Skip drops the dead item id of the connector named name: the items of
// its ticket behind it go on.
func (e *Engine) Skip(ctx context.Context, name string, id int64) error {
	return e.onDead(ctx, name, id, "skipped", func(q db.Querier) error {
		_, err := q.ExecContext(ctx, `DELETE FROM connector_items WHERE id = $1`, id)
		return err
	})
}

// onDead runs do on the dead item id of connector name, and logs it.
func (e *Engine) onDead(ctx context.Context, name string, id int64, result string, do func(q db.Querier) error) error {
	c, err := e.Get(ctx, name)
	if err != nil {
		return err
	}
	err = e.db.Tx(ctx, func(q db.Querier) error {
		var it Item
		err := q.QueryRowContext(ctx, `SELECT ticket_id, op, value, state FROM connector_items WHERE id = $1 AND connector_id = $2`, id, c.ID).
			Scan(&it.TicketID, &it.Op, &it.Value, &it.State)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.NotFound, "connector %s has no item %d", name, id)
		}
		if err != nil {
			return err
		}
		if it.State != "dead" {
			return apperr.New(apperr.Conflict, "item %d is %s, not dead", id, it.State)
		}
		if err := do(q); err != nil {
			return err
		}
		return e.logSync(ctx, q, it.TicketID, c.Name, "out", it.what(), result+" by an administrator")
	})
	if err != nil {
		return fmt.Errorf("connector: item %d: %w", id, err)
	}
	e.Wake()
	return nil
}
