// Package db opens helpmesh's database (embedded SQLite or PostgreSQL),
// applies the migrations of its engine and runs transactions. Domain packages
// write SQL with $N placeholders, which both engines bind by number.
package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"             // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Engine names a database engine.
type Engine string

// The engines helpmesh runs on.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// ErrNotFound is wrapped by every "no such row" error of the domain packages.
var ErrNotFound = errors.New("not found")

// Querier is what a store needs to run SQL: a *sql.DB or a *sql.Tx.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DB is an open database. On SQLite, writes go through one connection (W) and
// reads through a pool of read-only connections (R); on PostgreSQL both are
// the same pool.
type DB struct {
	Engine Engine
	W      *sql.DB
	R      *sql.DB

	batch *batcher      // SQLite's group commit; nil on PostgreSQL
	ckpt  *checkpointer // SQLite's checkpoints; nil on PostgreSQL

	readerOnce sync.Once
	reader     *stmtCache // SQLite's prepared reads (Reader)

	// busyAt is when a write last timed out waiting for a lock another
	// process holds (unix nanoseconds), 0 once a write commits again.
	busyAt atomic.Int64
}

// busyTimeoutMS is how long an SQLite connection waits for a lock.
const busyTimeoutMS = 10000

// Open opens the database named by dsn: "postgres://..." for PostgreSQL,
// otherwise a path to an SQLite file (created with its directory).
func Open(ctx context.Context, dsn string) (*DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return openPostgres(ctx, dsn)
	}
	return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("db: open postgres: %w", err)
	}
	pool.SetMaxOpenConns(max(16, 4*runtime.GOMAXPROCS(0)))
	pool.SetMaxIdleConns(max(16, 4*runtime.GOMAXPROCS(0)))
	pool.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.PingContext(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: connect to postgres at %s: %w", redact(dsn), err)
	}
	return &DB{Engine: Postgres, W: pool, R: pool}, nil
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("db: empty SQLite path")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("db: create %s: %w", dir, err)
		}
	}
	// A new database file is readable by its owner only (SQLite gives its
	// -wal and -shm files the same mode).
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
		_ = f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("db: create %s: %w", path, err)
	}
	pragmas := "_pragma=busy_timeout(" + strconv.Itoa(busyTimeoutMS) + ")&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_time_format=sqlite"
	// The writer keeps more pages cached (8 MiB; SQLite's default is 2 MiB):
	// every batch touches the same index and full-text pages.
	// The checkpointer, not the writer, copies the log into the database
	// file (wal_autocheckpoint(0)); a log file that grew past 64 MiB is cut
	// back when the log starts over.
	// The pragmas apply in order: the busy timeout first, so that switching
	// a new database to WAL waits for another process that is creating it.
	w, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=journal_mode(WAL)&_txlock=immediate&_pragma=cache_size(-8192)&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(67108864)")
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite: %w", err)
	}
	// One writer: SQLite serialises writes anyway; one connection avoids
	// SQLITE_BUSY between our own goroutines.
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := pingBusy(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=query_only(1)&"+pragmas)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("db: open sqlite readers: %w", err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(0)
	r.SetConnMaxLifetime(0)
	d := &DB{Engine: SQLite, W: w, R: r, batch: newBatcher(w)}
	if d.ckpt, err = newCheckpointer(path, pragmas, d.batch.gen.Load, d.batch.wantCheckpoint, func() { d.batch.gen.Add(1) }); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// pingBusy opens the writer's connection. SQLite answers SQLITE_BUSY at
// once, without waiting out the busy timeout, when another process holds
// the lock while it creates the database or switches it to WAL (waiting
// could deadlock); so the open is tried again for as long as that timeout.
func pingBusy(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(busyTimeoutMS * time.Millisecond)
	for {
		err := w.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close closes every connection.
func (d *DB) Close() error {
	var err error
	if d.ckpt != nil {
		err = d.ckpt.close()
	}
	if d.batch != nil {
		d.batch.close()
	}
	if d.reader != nil {
		d.reader.close()
	}
	err = errors.Join(err, d.W.Close())
	if d.R != d.W {
		err = errors.Join(err, d.R.Close())
	}
	return err
}

// Tx runs fn in a transaction on the writer and commits it when fn returns
// nil; otherwise it rolls back and returns fn's error. On SQLite, changes
// that arrive together share one transaction (group commit), each in its
// own savepoint, so each is still all-or-nothing and Tx returns after the
// commit; fn must use only q for its writes.
//
// A write that timed out on a lock held elsewhere is an apperr.Unavailable
// error (see Unavailable).
func (d *DB) Tx(ctx context.Context, fn func(q Querier) error) error {
	err := d.tx(ctx, fn)
	if err == nil {
		d.busyAt.Store(0)
	}
	return d.Unavailable(err)
}

func (d *DB) tx(ctx context.Context, fn func(q Querier) error) error {
	if d.batch != nil {
		return d.batch.tx(ctx, fn)
	}
	tx, err := d.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

// IsBusy tells whether err is a statement that gave up waiting for a lock
// another process holds: SQLite's SQLITE_BUSY or SQLITE_LOCKED after the
// busy timeout, PostgreSQL's lock_not_available.
func IsBusy(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "SQLITE_LOCKED") || strings.Contains(s, "SQLSTATE 55P03")
}

// Unavailable is the one mapping of a busy database (IsBusy) to an error
// kind: it returns err as an apperr.Unavailable error (the HTTP layers
// answer 503 with Retry-After) and notes the time for WritesBusy. Other
// errors pass unchanged. Tx applies it; the API and web apply it to every
// error they answer, for writes made outside Tx.
func (d *DB) Unavailable(err error) error {
	if !IsBusy(err) {
		return err
	}
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.Kind == apperr.Unavailable {
		return err
	}
	if d != nil {
		d.busyAt.Store(time.Now().UnixNano())
	}
	return fmt.Errorf("%w: %w", &apperr.Error{Kind: apperr.Unavailable, Message: "the database is busy; try again in a few seconds"}, err)
}

// RetryAfter is how long a client should wait before it tries a write
// again that found the database busy (the HTTP layers' Retry-After).
const RetryAfter = 5 * time.Second

// WritesBusy tells whether the last write within the last minute timed out
// on a lock held elsewhere (and none has committed since), for /healthz.
func (d *DB) WritesBusy() bool {
	at := d.busyAt.Load()
	return at != 0 && time.Since(time.Unix(0, at)) < time.Minute
}

// Row is what a single-row query returns: *sql.Row, pgx.Row.
type Row interface{ Scan(dest ...any) error }

// TxFirst runs a transaction that starts with query, a statement returning
// one row, which scan reads; then fn runs the rest of the transaction on q,
// and the transaction commits when both return nil (otherwise it rolls back
// and returns their error). It is Tx with the first statement given, so
// that on PostgreSQL its BEGIN goes to the server in the same round trip.
// A nil fn does nothing.
func (d *DB) TxFirst(ctx context.Context, query string, args []any, scan func(r Row) error, fn func(q Querier) error) error {
	if d.Engine != Postgres {
		return d.Tx(ctx, func(q Querier) error {
			if err := scan(q.QueryRowContext(ctx, query, args...)); err != nil {
				return err
			}
			if fn == nil {
				return nil
			}
			return fn(q)
		})
	}
	c, err := d.W.Conn(ctx)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	// Close returns the connection to the pool; pgx's stdlib discards a
	// connection that is still in a transaction (or broken) instead.
	defer c.Close()
	// raw runs f on the pgx connection under c.
	raw := func(f func(pc *pgx.Conn) error) error {
		return c.Raw(func(dc any) error { return f(dc.(*stdlib.Conn).Conn()) })
	}
	rollback := func(err error) error {
		_ = raw(func(pc *pgx.Conn) error {
			if pc.IsClosed() || pc.PgConn().TxStatus() == 'I' {
				return nil // nothing to roll back (a failed BEGIN, a dead connection)
			}
			// ctx may be what failed: roll back regardless.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, err := pc.Exec(rctx, "rollback"); err != nil {
				return driver.ErrBadConn // discard the connection
			}
			return nil
		})
		return err
	}
	defer func() {
		if v := recover(); v != nil {
			_ = rollback(nil)
			panic(v)
		}
	}()
	err = raw(func(pc *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue("begin")
		b.Queue(query, args...)
		br := pc.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("db: begin: %w", err)
		}
		err := scan(br.QueryRow())
		if cerr := br.Close(); err == nil && cerr != nil {
			err = cerr
		}
		return err
	})
	if err == nil && fn != nil {
		err = fn(c)
	}
	if err != nil {
		return rollback(err)
	}
	err = raw(func(pc *pgx.Conn) error {
		tag, err := pc.Exec(ctx, "commit")
		if err != nil {
			return err
		}
		if tag.String() != "COMMIT" {
			// COMMIT of a failed transaction (an error that fn swallowed)
			// rolls it back.
			return pgx.ErrTxCommitRollback
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

// InsertID runs insert (an INSERT of one row into a table whose key is
// the column id) in q and returns the new row's id: on SQLite from the
// connection's last rowid, since RETURNING costs an ephemeral table per
// statement; on PostgreSQL with RETURNING id.
func (d *DB) InsertID(ctx context.Context, q Querier, insert string, args ...any) (int64, error) {
	var id int64
	if d.Engine == SQLite {
		res, err := q.ExecContext(ctx, insert, args...)
		if err != nil {
			return 0, err
		}
		return res.LastInsertId()
	}
	err := q.QueryRowContext(ctx, insert+` RETURNING id`, args...).Scan(&id)
	return id, err
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	return d.R.PingContext(ctx)
}

// IsUniqueViolation tells whether err is a unique-constraint violation on
// either engine.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505")
}

// IsForeignKeyViolation tells whether err is a foreign-key violation.
func IsForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "FOREIGN KEY constraint failed") || strings.Contains(s, "SQLSTATE 23503")
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

// Collect scans every row of rows with scan, closes rows and returns the
// values: the loop every list query of a store would otherwise repeat.
func Collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Column returns the one column of every row that a query returned, as
// Column[int64](q.QueryContext(ctx, query, args...)) takes them; it closes
// the rows.
func Column[T any](rows *sql.Rows, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return Collect(rows, func(r interface{ Scan(...any) error }) (T, error) {
		var v T
		return v, r.Scan(&v)
	})
}

// Savepoint runs fn inside a savepoint of the transaction q: when fn fails,
// what it wrote is undone and the transaction goes on (on PostgreSQL a
// failed statement otherwise aborts the whole transaction). It returns
// fn's error.
func Savepoint(ctx context.Context, q Querier, fn func() error) error {
	if _, err := q.ExecContext(ctx, `SAVEPOINT part`); err != nil {
		return fmt.Errorf("db: savepoint: %w", err)
	}
	if err := fn(); err != nil {
		if _, rerr := q.ExecContext(ctx, `ROLLBACK TO SAVEPOINT part`); rerr != nil {
			return errors.Join(err, fmt.Errorf("db: rollback to savepoint: %w", rerr))
		}
		_, _ = q.ExecContext(ctx, `RELEASE SAVEPOINT part`)
		return err
	}
	if _, err := q.ExecContext(ctx, `RELEASE SAVEPOINT part`); err != nil {
		return fmt.Errorf("db: release savepoint: %w", err)
	}
	return nil
}
