package connector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// Reconciliation (research/federation.md §5 rule 12) repairs what the
// queue and the poller missed: a change of the peer's that the poll
// cursor moved past, a message of helpmesh's whose item was skipped or
// lost, a status or priority push that never arrived. Each connector
// has a pass every ReconcileInterval (nightly by default), one after the
// peer answers again following an outage, and one whenever an
// administrator asks (POST /api/v1/connectors/{name}/reconcile).
//
// A pass compares every linked ticket that is open, or was updated within
// RecentlyClosed, with the peer:
//   - the peer's changes to it (Fetcher.Fetch) go through applyTx, the
//     poller's one write path: what was applied before is known by its
//     RemoteID and left alone, the rest is applied by the same ownership
//     rules;
//   - each message of helpmesh's that is neither recorded as sent
//     (connector_sent) nor in the queue is queued again;
//   - when nothing of the ticket is left in the queue and the peer still
//     shows another status or priority than helpmesh's (after the peer's
//     own changes were applied: what differs is helpmesh's), helpmesh's is
//     queued.
//
// Every repair is a line in the ticket's sync log; the pass's summary
// (checked, repaired, failed) is kept on the connector and shown in
// /metrics. A second pass right after the first repairs nothing.

// RecentlyClosed is how long after its last update a ticket that is no
// longer open is still reconciled.
const RecentlyClosed = 7 * 24 * time.Hour

// DefaultReconcileInterval is the time between two passes of a connector
// when Options do not say (HELPMESH_RECONCILE_INTERVAL).
const DefaultReconcileInterval = 24 * time.Hour

// Reconciliation is the summary of a connector's last pass.
type Reconciliation struct {
	At       *time.Time // nil: no pass yet
	Checked  int        // linked tickets compared with the peer
	Repaired int        // changes applied or queued again
	Failed   int        // tickets that could not be compared
	// Error is why tickets failed (the last reason), "" when none did.
	Error string
}

// Reconcile runs a pass of the connector named name now and returns its
// summary. A paused connector is not reconciled (a 409).
func (e *Engine) Reconcile(ctx context.Context, name string) (Reconciliation, error) {
	c, err := e.Get(ctx, name)
	if err != nil {
		return Reconciliation{}, err
	}
	if c.Paused {
		return Reconciliation{}, apperr.New(apperr.Conflict, "connector %s is paused: resume it first", name)
	}
	return e.reconcile(ctx, c)
}

// reconcileIfDue runs a pass of the connector named name when one is
// due and its peer is not backed off; a connector seen for the first
// time gets its first pass one interval later.
func (e *Engine) reconcileIfDue(ctx context.Context, name string) error {
	c, err := e.Get(ctx, name)
	if err != nil {
		return err
	}
	now := e.now()
	switch {
	case c.Paused || (c.retryAt != nil && c.retryAt.After(now)):
		return nil
	case c.nextReconcileAt == nil:
		_, err := e.db.W.ExecContext(ctx, `UPDATE connectors SET next_reconcile_at = $1 WHERE id = $2 AND next_reconcile_at IS NULL`,
			now.Add(e.opts.ReconcileInterval), c.ID)
		return err
	case c.nextReconcileAt.After(now):
		return nil
	}
	_, err = e.reconcile(ctx, c)
	return err
}

// linkedTicket is a ticket a pass compares.
type linkedTicket struct {
	id  int64
	ref Ref
}

// reconcileTargets returns connector cid's linked tickets that are open
// or were updated within RecentlyClosed.
func (e *Engine) reconcileTargets(ctx context.Context, cid int64) ([]linkedTicket, error) {
	rows, err := e.db.Reader().QueryContext(ctx, `SELECT l.ticket_id, l.remote_id, l.remote_url, t.status, t.updated_at
		FROM connector_links l JOIN tickets t ON t.id = l.ticket_id
		WHERE l.connector_id = $1 AND l.state = 'linked' ORDER BY l.ticket_id`, cid)
	if err != nil {
		return nil, fmt.Errorf("connector: tickets to reconcile: %w", err)
	}
	type row struct {
		linkedTicket
		status  string
		updated time.Time
	}
	all, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (row, error) {
		var x row
		err := r.Scan(&x.id, &x.ref.RemoteID, &x.ref.RemoteURL, &x.status, &x.updated)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("connector: tickets to reconcile: %w", err)
	}
	since := e.now().Add(-RecentlyClosed)
	var out []linkedTicket
	for _, x := range all {
		if ticket.Status(x.status).Open() || x.updated.After(since) {
			out = append(out, x.linkedTicket)
		}
	}
	return out, nil
}

// reconcile runs a pass of c. A ticket the peer refuses for good (gone,
// forbidden) is counted as failed and the pass goes on; when the peer
// cannot be reached the pass stops, counts the tickets left as failed and
// backs the peer off as any failed request does.
func (e *Engine) reconcile(ctx context.Context, c *Connector) (Reconciliation, error) {
	now := e.now()
	res := Reconciliation{At: &now}
	peer, err := e.peer(c)
	if err != nil {
		return res, err
	}
	targets, err := e.reconcileTargets(ctx, c.ID)
	if err != nil {
		return res, err
	}
	res.Checked = len(targets)
	for i, t := range targets {
		n, err := e.reconcileTicket(ctx, c, peer, t)
		res.Repaired += n
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		res.Failed++
		res.Error = truncate(err.Error(), 1000)
		if errors.Is(err, ErrPermanent) {
			if lerr := e.logSync(ctx, e.db.W, t.id, c.Name, "in", "reconcile", "failed: "+err.Error()); lerr != nil {
				return res, lerr
			}
			continue
		}
		// The peer is down (or the database failed): the rest waits for
		// the next pass.
		res.Failed += len(targets) - i - 1
		if ferr := e.failed(ctx, c, err); ferr != nil {
			return res, errors.Join(err, ferr)
		}
		break
	}
	_, err = e.db.W.ExecContext(ctx, `UPDATE connectors SET last_reconcile_at = $1, next_reconcile_at = $2,
		reconcile_checked = $3, reconcile_repaired = $4, reconcile_failed = $5, reconcile_error = $6 WHERE id = $7`,
		now, now.Add(e.opts.ReconcileInterval), res.Checked, res.Repaired, res.Failed, res.Error, c.ID)
	if err != nil {
		return res, fmt.Errorf("connector %s: record the reconciliation: %w", c.Name, err)
	}
	if res.Repaired > 0 {
		e.Wake()
	}
	e.opts.Log.Info("connector: reconciled", "connector", c.Name, "checked", res.Checked, "repaired", res.Repaired, "failed", res.Failed)
	return res, nil
}

// reconcileTicket compares one linked ticket with the peer and repairs
// it in one transaction; it returns the number of repairs.
func (e *Engine) reconcileTicket(ctx context.Context, c *Connector, peer Peer, t linkedTicket) (int, error) {
	var remote *Ticket
	if f, ok := peer.(Fetcher); ok {
		rt, err := f.Fetch(ctx, t.ref)
		if err != nil {
			return 0, fmt.Errorf("connector %s: read ticket %s of the peer: %w", c.Name, t.ref.RemoteID, err)
		}
		for i := range rt.History {
			rt.History[i].Ticket = t.ref
		}
		remote = &rt
	}
	repaired := 0
	err := e.db.Tx(ctx, func(q db.Querier) error {
		repaired = 0
		if remote != nil {
			n, err := e.applyTx(ctx, q, c, remote.History, " (repaired by reconciliation)")
			if err != nil {
				return err
			}
			repaired += n
		}
		if remote != nil {
			n, err := e.requeueFields(ctx, q, c, peer, t.id, *remote)
			if err != nil {
				return err
			}
			repaired += n
		}
		n, err := e.requeueMessages(ctx, q, c, t.id)
		repaired += n
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("connector %s: reconcile ticket %d: %w", c.Name, t.id, err)
	}
	return repaired, nil
}

// requeueMessages queues again the replies and notes of ticket id that
// came from helpmesh (not from the peer), are not recorded as sent to c's
// peer and are not in its queue: their item was skipped or lost. (The
// first message goes with the creation.) An item queued again has the
// negated message id as its event id.
func (e *Engine) requeueMessages(ctx context.Context, q db.Querier, c *Connector, id int64) (int, error) {
	rows, err := q.QueryContext(ctx, `SELECT m.id, m.internal FROM messages m
		WHERE m.ticket_id = $1 AND m.source <> $2
		AND m.id > (SELECT MIN(f.id) FROM messages f WHERE f.ticket_id = $1)
		AND NOT EXISTS (SELECT 1 FROM connector_sent s WHERE s.connector_id = $3 AND s.message_id = m.id)
		AND NOT EXISTS (SELECT 1 FROM connector_items i WHERE i.connector_id = $3 AND i.message_id = m.id)
		ORDER BY m.id`, id, string(ticket.FromPeer), c.ID)
	if err != nil {
		return 0, fmt.Errorf("messages to send again: %w", err)
	}
	type lost struct {
		id       int64
		internal bool
	}
	ms, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (lost, error) {
		var m lost
		err := r.Scan(&m.id, &m.internal)
		return m, err
	})
	if err != nil {
		return 0, fmt.Errorf("messages to send again: %w", err)
	}
	for _, m := range ms {
		it := item{connectorID: c.ID, ticketID: id, eventID: -m.id, messageID: m.id, op: opMessage}
		if m.internal {
			it.op = opNote
		}
		if err := e.requeue(ctx, q, c, it, "queued again by reconciliation: not sent to the peer"); err != nil {
			return 0, err
		}
	}
	return len(ms), nil
}

// requeueFields queues helpmesh's status and priority of ticket id when
// the peer shows others and nothing of the ticket waits in the queue.
// It runs after the peer's changes were applied: a difference left is one
// that helpmesh's rules kept, or a push of helpmesh's that was lost.
func (e *Engine) requeueFields(ctx context.Context, q db.Querier, c *Connector, peer Peer, id int64, remote Ticket) (int, error) {
	var queued int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM connector_items WHERE connector_id = $1 AND ticket_id = $2`, c.ID, id).Scan(&queued); err != nil {
		return 0, fmt.Errorf("queue of ticket %d: %w", id, err)
	}
	if queued > 0 {
		return 0, nil
	}
	var status, priority string
	if err := q.QueryRowContext(ctx, `SELECT status, priority FROM tickets WHERE id = $1`, id).Scan(&status, &priority); err != nil {
		return 0, fmt.Errorf("ticket %d: %w", id, err)
	}
	same := func(a, b string) bool { return a == b }
	if m, ok := peer.(StatusMapper); ok {
		same = func(a, b string) bool { return m.PeerStatus(a) == m.PeerStatus(b) }
	}
	n := 0
	if remote.Status != "" && !same(status, remote.Status) {
		it := item{connectorID: c.ID, ticketID: id, eventID: -id, op: opStatus, value: status}
		if err := e.requeue(ctx, q, c, it, "queued by reconciliation: the peer shows "+remote.Status); err != nil {
			return 0, err
		}
		n++
	}
	if remote.Priority != "" && priority != remote.Priority {
		it := item{connectorID: c.ID, ticketID: id, eventID: -id, op: opPriority, value: priority}
		if err := e.requeue(ctx, q, c, it, "queued by reconciliation: the peer shows "+remote.Priority); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// requeue queues it and logs why on its ticket.
func (e *Engine) requeue(ctx context.Context, q db.Querier, c *Connector, it item, why string) error {
	if err := e.queue(ctx, q, []item{it}); err != nil {
		return err
	}
	return e.logSync(ctx, q, it.ticketID, c.Name, "out", Item{Op: it.op, Value: it.value}.what(), why)
}
