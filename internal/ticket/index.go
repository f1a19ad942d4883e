package ticket

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
)

// indexer keeps SQLite's full-text index (search_fts) up with the messages.
//
// Rows are not indexed in the transaction that writes them: FTS5 writes a
// new index segment for every transaction that inserts, and merges them as
// they pile up, which cost a ticket creation more than its own rows. The
// indexer instead indexes, in one statement, every message written since
// the last run (and the subject of each new ticket with its first
// message), at most indexDelay after a write, and moves the mark of what
// is indexed (search_state.indexed, the last message id done) in the same
// transaction. Nothing is lost on a crash: what lies past the mark is
// indexed by the next run, of this process or another.
//
// A search first runs the indexer if the mark is behind the newest message
// (sync), so that it finds everything written before it began.
//
// This relies on messages never being deleted and their ids growing: a
// message is indexed once, when the mark passes it.
type indexer struct {
	db    *db.DB
	r     db.Querier
	log   *slog.Logger
	delay time.Duration

	mu     sync.Mutex    // one run at a time
	runs   atomic.Uint64 // runs started
	failed atomic.Bool   // the last run failed
	armed  atomic.Bool   // a run is scheduled
	closed atomic.Bool
}

// indexDelay bounds how long a message waits to be indexed when nobody
// searches; indexBatch bounds the messages one statement indexes.
const (
	indexDelay = 250 * time.Millisecond
	indexBatch = 4096
)

// kick schedules a run within the indexer's delay, unless one is.
func (x *indexer) kick() {
	if x == nil || x.closed.Load() || !x.armed.CompareAndSwap(false, true) {
		return
	}
	time.AfterFunc(x.delay, func() {
		x.armed.Store(false)
		if x.closed.Load() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := x.sync(ctx); err != nil {
			x.log.Warn("search index: the next run or search retries", "err", err)
		}
	})
}

// sync indexes what was written before it was called and is not yet
// indexed. Only when there is such a backlog does it take the writer.
func (x *indexer) sync(ctx context.Context) error {
	var indexed, last int64
	if err := x.r.QueryRowContext(ctx, backlogSQL).Scan(&indexed, &last); err != nil {
		return fmt.Errorf("ticket: search index: %w", err)
	}
	if last <= indexed {
		return nil
	}
	// Searches that come together share a run: one that starts after
	// this point indexes all that this search needs.
	seen := x.runs.Load()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.runs.Load() != seen && !x.failed.Load() {
		return nil
	}
	return x.runLocked(ctx)
}

// close runs the indexer a last time; after it, writes schedule nothing.
func (x *indexer) close(ctx context.Context) error {
	x.closed.Store(true)
	return x.sync(ctx)
}

// runLocked indexes every message past the mark, indexBatch at a time.
func (x *indexer) runLocked(ctx context.Context) error {
	x.runs.Add(1)
	for {
		var n int64
		err := x.db.Tx(ctx, func(q db.Querier) error {
			var from, last int64
			if err := q.QueryRowContext(ctx, backlogSQL).Scan(&from, &last); err != nil {
				return err
			}
			to := min(last, from+indexBatch)
			if to <= from {
				return nil
			}
			// Keys ascending: FTS5 flushes what it holds whenever a rowid
			// is lower than the one before.
			if _, err := q.ExecContext(ctx, indexSQL, from, to); err != nil {
				return err
			}
			if _, err := q.ExecContext(ctx, `UPDATE search_state SET indexed = $1`, to); err != nil {
				return err
			}
			n = to - from
			return nil
		})
		x.failed.Store(err != nil)
		if err != nil {
			return fmt.Errorf("ticket: search index: %w", err)
		}
		if n < indexBatch {
			return nil
		}
	}
}

// backlogSQL reads the mark and the newest message id.
const backlogSQL = `SELECT indexed, (SELECT COALESCE(MAX(id), 0) FROM messages) FROM search_state`

// indexSQL indexes the messages with ids in ($1, $2], keyed as searchKey
// keys them (the same shifts and cap, in SQL; TestSearchIndexDeferred
// checks that they agree):
// a message's place in its thread is the number of its ticket's messages
// up to it, and the subject goes with the first message.
const indexSQL = `INSERT INTO search_fts (rowid, text)
	WITH m AS (
		SELECT m.ticket_id, m.internal, m.body,
			(SELECT COUNT(*) FROM messages x WHERE x.ticket_id = m.ticket_id AND x.id <= m.id) AS seq
		FROM messages m WHERE m.id > $1 AND m.id <= $2
	)
	SELECT k, text FROM (
		SELECT (m.ticket_id << 20) | (min(m.seq, 524287) << 1) | (m.internal <> 0) AS k, m.body AS text FROM m
		UNION ALL
		SELECT m.ticket_id << 20, t.subject FROM m JOIN tickets t ON t.id = m.ticket_id WHERE m.seq = 1
	) ORDER BY k`
