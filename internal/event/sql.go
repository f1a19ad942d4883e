package event

import (
	"context"
	"fmt"
	"strconv"

	"github.com/helpmesh/helpmesh/internal/db"
)

// dialect holds the SQL that differs between the engines: the column that
// orders the stream.
//
// SQLite has one writer, which commits event ids in order: the position is
// the id. On PostgreSQL several transactions commit at once and an id taken
// early may commit late, behind a position already passed: the position is
// seq, which sequence gives to committed events.
type dialect struct {
	pos        string // the column of the position
	sequential bool   // ids commit in order: no seq to give
}

func dialectOf(d *db.DB) dialect {
	if d.Engine == db.Postgres {
		return dialect{pos: "seq"}
	}
	return dialect{pos: "id", sequential: true}
}

// read selects up to limit events after $1. The LIMIT is written out:
// SQLite prepares a statement again at every run when it is bound.
func (s dialect) read(limit int) string {
	return `SELECT ` + s.pos + `, id, type, at, ticket_id, data FROM events WHERE ` + s.pos + ` > $1 ORDER BY ` + s.pos + ` LIMIT ` + strconv.Itoa(limit)
}

// behind counts, up to limit, the events after $1.
func (s dialect) behind(limit int) string {
	return `SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE ` + s.pos + ` > $1 LIMIT ` + strconv.Itoa(limit) + `) b`
}

func (s dialect) head() string {
	return `SELECT COALESCE(MAX(` + s.pos + `), 0) FROM events`
}

// passed selects events at or before $1 older than $2.
func (s dialect) passed(limit int) string {
	return `SELECT id FROM events WHERE ` + s.pos + ` <= $1 AND at < $2 ORDER BY ` + s.pos + ` LIMIT ` + strconv.Itoa(limit)
}

// sequenceBatch bounds the events one sequence transaction numbers.
const sequenceBatch = 10000

// sequence gives the committed events that have none a seq, in id order,
// and returns how many. The row of event_seq serialises the callers, so an
// event that commits after a call gets a seq after every one it gave.
func (l *Log) sequence(ctx context.Context) (int64, error) {
	if l.sql.sequential {
		return 0, nil
	}
	// One sequencer per process at a time: a reader that finds it busy
	// waits for it, then numbers what has committed since.
	l.sequencing.Lock()
	n, err := l.sequenceLocked(ctx)
	l.sequencing.Unlock()
	if n > 0 {
		l.Wake()
		if l.opts.Numbered != nil {
			l.opts.Numbered()
		}
	}
	return n, err
}

func (l *Log) sequenceLocked(ctx context.Context) (int64, error) {
	var waiting bool
	if err := l.db.Reader().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE seq IS NULL)`).Scan(&waiting); err != nil || !waiting {
		return 0, wrap("sequence", err)
	}
	var n int64
	err := l.lightTx(ctx, func(q db.Querier) error {
		var last int64
		if err := q.QueryRowContext(ctx, `SELECT last FROM event_seq FOR UPDATE`).Scan(&last); err != nil {
			return err
		}
		res, err := q.ExecContext(ctx, `UPDATE events e SET seq = $1 + n.n
			FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM events WHERE seq IS NULL ORDER BY id LIMIT `+strconv.Itoa(sequenceBatch)+`) n
			WHERE e.id = n.id`, last)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = q.ExecContext(ctx, `UPDATE event_seq SET last = $1`, last+n)
		return err
	})
	return n, wrap("sequence", err)
}

// lightTx runs fn in a transaction that need not wait for the disk on
// PostgreSQL (synchronous_commit off): what the followers write (their
// positions with what a batch caused, the seq numbers) can be derived
// again from the events, which are durable. A crash may lose the last
// fraction of a second of it, and then the batch is told again, as one:
// the position and the effects commit together. A later durable commit
// (a change, which writes an event) flushes the log with it, so no
// follower's effect outlives a lost seq number.
func (l *Log) lightTx(ctx context.Context, fn func(q db.Querier) error) error {
	return l.db.Tx(ctx, func(q db.Querier) error {
		if !l.sql.sequential {
			if _, err := q.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
				return err
			}
		}
		return fn(q)
	})
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("event: %s: %w", what, err)
}
