package db

import (
	"context"
	"errors"
	"testing"
)

// TestTxFirst: the first statement and the rest commit together, or
// nothing does (an error of the first statement, of fn, a statement error
// that fn swallowed, a panic, a cancelled context); a connection never goes
// back to the pool inside a transaction.
func TestTxFirst(t *testing.T) {
	for _, e := range []Engine{SQLite, Postgres} {
		t.Run(string(e), func(t *testing.T) {
			ctx := context.Background()
			dsn := dsnFor(t, e)
			d, err := Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if e == Postgres {
				// One connection: a transaction left open on it would show.
				d.W.SetMaxOpenConns(1)
			}
			if _, err := d.W.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)`); err != nil {
				t.Fatal(err)
			}
			ins := `INSERT INTO t (id, v) VALUES ($1, $2) RETURNING id`
			count := func() int {
				t.Helper()
				var n int
				if err := d.W.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			var id int64
			scan := func(r Row) error { return r.Scan(&id) }
			second := func(v string) func(q Querier) error {
				return func(q Querier) error {
					_, err := q.ExecContext(ctx, `INSERT INTO t (id, v) VALUES ($1, $2)`, id+100, v)
					return err
				}
			}

			if err := d.TxFirst(ctx, ins, []any{1, "a"}, scan, second("b")); err != nil || id != 1 || count() != 2 {
				t.Fatalf("commit: %v, id %d, %d rows", err, id, count())
			}
			if err := d.TxFirst(ctx, ins, []any{2, "c"}, scan, nil); err != nil || count() != 3 {
				t.Fatalf("nil fn: %v, %d rows", err, count())
			}
			// The first statement fails (unique v).
			if err := d.TxFirst(ctx, ins, []any{3, "a"}, scan, second("d")); !IsUniqueViolation(err) || count() != 3 {
				t.Errorf("first fails: %v, %d rows", err, count())
			}
			// The scan fails.
			boom := errors.New("boom")
			if err := d.TxFirst(ctx, ins, []any{3, "e"}, func(Row) error { return boom }, second("f")); !errors.Is(err, boom) || count() != 3 {
				t.Errorf("scan fails: %v, %d rows", err, count())
			}
			// fn fails.
			if err := d.TxFirst(ctx, ins, []any{3, "e"}, scan, func(Querier) error { return boom }); !errors.Is(err, boom) || count() != 3 {
				t.Errorf("fn fails: %v, %d rows", err, count())
			}
			// fn swallows the error of a statement: on PostgreSQL the
			// transaction is aborted and the commit says so (SQLite goes on).
			err = d.TxFirst(ctx, ins, []any{3, "e"}, scan, func(q Querier) error {
				_, _ = q.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (1, 'dup')`)
				return nil
			})
			if e == Postgres && (err == nil || count() != 3) {
				t.Errorf("swallowed error: %v, %d rows", err, count())
			}
			if e == SQLite && (err != nil || count() != 4) {
				t.Errorf("swallowed error on SQLite: %v, %d rows", err, count())
			}
			n := count()
			// A panic rolls back and goes on up (SQLite's group commit
			// turns it into the caller's error).
			var recovered any
			func() {
				defer func() { recovered = recover() }()
				err = d.TxFirst(ctx, ins, []any{5, "g"}, scan, func(Querier) error { panic("bad") })
			}()
			if (e == Postgres && recovered != "bad") || (e == SQLite && err == nil) {
				t.Errorf("panic: recovered %v, error %v", recovered, err)
			}
			if count() != n {
				t.Errorf("panic: %d rows, want %d", count(), n)
			}
			// A context cancelled in fn (SQLite's group commit runs what
			// it was given regardless).
			cctx, cancel := context.WithCancel(ctx)
			err = d.TxFirst(cctx, ins, []any{6, "h"}, scan, func(q Querier) error {
				cancel()
				_, err := q.ExecContext(cctx, `INSERT INTO t (id, v) VALUES (7, 'i')`)
				return err
			})
			if e == Postgres && (err == nil || count() != n) {
				t.Errorf("cancelled: %v, %d rows, want %d", err, count(), n)
			}
			// The pool's connection is usable and not in a transaction: a
			// change through Tx is visible to another connection at once.
			if err := d.Tx(ctx, func(q Querier) error {
				_, err := q.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (8, 'j')`)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if e == Postgres {
				other, err := Open(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer other.Close()
				var v string
				if err := other.R.QueryRowContext(ctx, `SELECT v FROM t WHERE id = 8`).Scan(&v); err != nil || v != "j" {
					t.Errorf("another connection reads %q, %v", v, err)
				}
				var open int
				if err := other.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&open); err != nil || open != 0 {
					t.Errorf("%d connections idle in a transaction, %v", open, err)
				}
			}
		})
	}
}
