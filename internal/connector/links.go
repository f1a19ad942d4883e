package connector

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
)

// Link is a ticket's counterpart on a peer.
type Link struct {
	Connector  string
	RemoteID   string
	RemoteURL  string
	State      string // linked or ended
	LastSyncAt time.Time
}

// SyncEntry is one line of a ticket's sync log.
type SyncEntry struct {
	Connector string
	Direction string // out (helpmesh to the peer) or in
	What      string // create, message, note, status <s>, priority <p>
	Result    string // ok, refused: ..., dead: ..., kept ...
	At        time.Time
}

// link returns ticket id's link with connector cid.
func (e *Engine) link(ctx context.Context, id, cid int64) (Ref, bool, error) {
	var r Ref
	err := e.db.Reader().QueryRowContext(ctx, `SELECT remote_id, remote_url FROM connector_links WHERE ticket_id = $1 AND connector_id = $2`, id, cid).
		Scan(&r.RemoteID, &r.RemoteURL)
	if errors.Is(err, sql.ErrNoRows) {
		return Ref{}, false, nil
	}
	if err != nil {
		return Ref{}, false, fmt.Errorf("connector: link of ticket %d: %w", id, err)
	}
	return r, true, nil
}

// addLink records that ticket id is r on c's peer.
func (e *Engine) addLink(ctx context.Context, q db.Querier, c *Connector, id int64, r Ref) error {
	now := e.now()
	_, err := q.ExecContext(ctx, `INSERT INTO connector_links (ticket_id, connector_id, remote_id, remote_url, last_sync_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (ticket_id, connector_id) DO NOTHING`, id, c.ID, r.RemoteID, r.RemoteURL, now)
	if err != nil {
		return fmt.Errorf("connector: link ticket %d: %w", id, err)
	}
	return nil
}

// linkedRefs returns the refs of connector cid's linked tickets.
func (e *Engine) linkedRefs(ctx context.Context, cid int64) ([]Ref, error) {
	rows, err := e.db.Reader().QueryContext(ctx, `SELECT remote_id, remote_url FROM connector_links WHERE connector_id = $1 AND state = 'linked' ORDER BY ticket_id`, cid)
	if err != nil {
		return nil, fmt.Errorf("connector: links: %w", err)
	}
	return db.Collect(rows, func(r interface{ Scan(...any) error }) (Ref, error) {
		var ref Ref
		err := r.Scan(&ref.RemoteID, &ref.RemoteURL)
		return ref, err
	})
}

// Links returns ticket id's links. The caller checks that its principal
// sees the ticket.
func (e *Engine) Links(ctx context.Context, id int64) ([]Link, error) {
	rows, err := e.db.Reader().QueryContext(ctx, `SELECT c.name, l.remote_id, l.remote_url, l.state, l.last_sync_at
		FROM connector_links l JOIN connectors c ON c.id = l.connector_id WHERE l.ticket_id = $1 ORDER BY c.name`, id)
	if err != nil {
		return nil, fmt.Errorf("connector: links of ticket %d: %w", id, err)
	}
	return db.Collect(rows, func(r interface{ Scan(...any) error }) (Link, error) {
		var l Link
		err := r.Scan(&l.Connector, &l.RemoteID, &l.RemoteURL, &l.State, &l.LastSyncAt)
		l.LastSyncAt = l.LastSyncAt.UTC()
		return l, err
	})
}

// logSync adds a line to a ticket's sync log.
func (e *Engine) logSync(ctx context.Context, q db.Querier, id int64, connector, direction, what, result string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO connector_sync_log (ticket_id, connector, direction, what, result, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, connector, direction, what, truncate(result, 1000), e.now())
	if err != nil {
		return fmt.Errorf("connector: sync log: %w", err)
	}
	return nil
}

// maxSyncLog bounds the lines SyncLog returns.
const maxSyncLog = 200

// SyncLog returns the newest lines of ticket id's sync log, oldest first.
// It is for the ticket's staff: the caller checks.
func (e *Engine) SyncLog(ctx context.Context, id int64) ([]SyncEntry, error) {
	rows, err := e.db.Reader().QueryContext(ctx, `SELECT connector, direction, what, result, at FROM connector_sync_log
		WHERE ticket_id = $1 ORDER BY id DESC LIMIT `+fmt.Sprint(maxSyncLog), id)
	if err != nil {
		return nil, fmt.Errorf("connector: sync log of ticket %d: %w", id, err)
	}
	out, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (SyncEntry, error) {
		var s SyncEntry
		err := r.Scan(&s.Connector, &s.Direction, &s.What, &s.Result, &s.At)
		s.At = s.At.UTC()
		return s, err
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}
