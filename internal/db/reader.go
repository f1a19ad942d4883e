package db

import (
	"context"
	"database/sql"
	"sync"
)

// Reader returns a Querier on the read pool that prepares the statements it
// sees often and reuses them on every connection, since parsing SQL costs
// SQLite about as much as running a simple query. On PostgreSQL the driver
// already caches prepared statements, and Reader is the pool itself.
func (d *DB) Reader() Querier {
	if d.Engine != SQLite {
		return d.R
	}
	d.readerOnce.Do(func() { d.reader = &stmtCache{db: d.R, stmts: map[string]*sql.Stmt{}, seen: map[string]int{}} })
	return d.reader
}

// Generation returns a number that changes after every transaction
// committed through Tx, before Tx returns, and ok = true; a value read from
// the database after Generation returned g reflects every such transaction
// as long as Generation still returns g. Commits by other processes (the
// mailgate command) and by writes on W outside Tx move it too, within
// ckptTick. It lets a process cache what it read. Only SQLite has one: on
// PostgreSQL other nodes write all the time, and ok is false.
func (d *DB) Generation() (g uint64, ok bool) {
	if d.batch == nil {
		return 0, false
	}
	return d.batch.gen.Load(), true
}

// stmtCache prepares a query on a pool once it has been run prepareSeen
// times, up to maxStmts queries.
type stmtCache struct {
	db *sql.DB

	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
	seen  map[string]int
}

func (c *stmtCache) stmt(ctx context.Context, query string) *sql.Stmt {
	c.mu.RLock()
	st := c.stmts[query]
	c.mu.RUnlock()
	if st != nil {
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[query]; st != nil {
		return st
	}
	if len(c.stmts) >= maxStmts || !cacheable(query) {
		return nil
	}
	c.seen[query]++
	if c.seen[query] < prepareSeen {
		if len(c.seen) > 10*maxStmts {
			clear(c.seen)
		}
		return nil
	}
	delete(c.seen, query)
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // it runs unprepared
	}
	c.stmts[query] = st
	return st
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		st.Close()
	}
	clear(c.stmts)
}

func (c *stmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, query, args...)
}

func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}
