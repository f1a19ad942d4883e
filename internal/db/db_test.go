package db

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/helpmesh/helpmesh/internal/testenv"
)

func dsnFor(t *testing.T, e Engine) string {
	if e == Postgres {
		return testenv.PostgresDSN(t)
	}
	return filepath.Join(t.TempDir(), "sub", "helpmesh.db")
}

// TestMigrate: migrations apply once, concurrently started processes do not
// trip over each other, and the error helpers recognise each engine's
// constraint violations.
func TestMigrate(t *testing.T) {
	for _, e := range []Engine{SQLite, Postgres} {
		t.Run(string(e), func(t *testing.T) {
			ctx := context.Background()
			dsn := dsnFor(t, e)
			// Three "processes" migrate the same fresh database at once.
			var wg sync.WaitGroup
			applied := make([][]string, 3)
			errs := make([]error, 3)
			for i := range 3 {
				wg.Go(func() {
					d, err := Open(ctx, dsn)
					if err != nil {
						errs[i] = err
						return
					}
					defer d.Close()
					applied[i], errs[i] = d.Migrate(ctx)
				})
			}
			wg.Wait()
			d, err := Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if d.Engine != e {
				t.Errorf("engine %s", d.Engine)
			}
			ms, err := d.migrations()
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for i := range 3 {
				if errs[i] != nil {
					t.Errorf("migrate %d: %v", i, errs[i])
				}
				total += len(applied[i])
			}
			if total != len(ms) {
				t.Errorf("%d migrations applied in all, want each of %d once", total, len(ms))
			}
			again, err := d.Migrate(ctx)
			if err != nil || len(again) != 0 {
				t.Errorf("migrate again: %v %v", again, err)
			}
			var n int
			if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(ms) {
				t.Errorf("schema_migrations: %d %v", n, err)
			}
			if err := d.Ping(ctx); err != nil {
				t.Error(err)
			}
			// Constraint violations are recognised.
			_, err = d.W.ExecContext(ctx, `INSERT INTO users (email, name, role, team, password_hash, created_at, updated_at) VALUES ('a@x', 'a', 'user', '', '', $1, $1)`, "2020-01-01 00:00:00")
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.W.ExecContext(ctx, `INSERT INTO users (email, name, role, team, password_hash, created_at, updated_at) VALUES ('a@x', 'a', 'user', '', '', $1, $1)`, "2020-01-01 00:00:00")
			if !IsUniqueViolation(err) || IsForeignKeyViolation(err) {
				t.Errorf("unique violation not recognised: %v", err)
			}
			_, err = d.W.ExecContext(ctx, `INSERT INTO unit_members (unit_id, user_id, role) VALUES (999, 999, 'member')`)
			if !IsForeignKeyViolation(err) || IsUniqueViolation(err) {
				t.Errorf("foreign key violation not recognised: %v", err)
			}
			// Tx rolls back on error.
			boom := errors.New("boom")
			err = d.Tx(ctx, func(q Querier) error {
				if _, err := q.ExecContext(ctx, `DELETE FROM users`); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Errorf("Tx: %v", err)
			}
			if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil || n != 1 {
				t.Errorf("rolled-back delete took effect: %d users", n)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, ""); err == nil {
		t.Error("empty DSN opened")
	}
	if _, err := Open(ctx, "postgres://nobody:secret@127.0.0.1:1/x?connect_timeout=2"); err == nil {
		t.Error("unreachable PostgreSQL opened")
	} else if strings.Contains(err.Error(), "secret") {
		t.Errorf("the password is in the error: %v", err)
	}
	if IsUniqueViolation(nil) || IsForeignKeyViolation(nil) {
		t.Error("nil is a violation")
	}
}

// TestColumn: Column collects one column of every row on both engines and
// passes a query's error on.
func TestColumn(t *testing.T) {
	for _, e := range []Engine{SQLite, Postgres} {
		t.Run(string(e), func(t *testing.T) {
			ctx := context.Background()
			d, err := Open(ctx, dsnFor(t, e))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			got, err := Column[string](d.R.QueryContext(ctx, `SELECT 'a' UNION ALL SELECT 'b' UNION ALL SELECT 'é🖨'`))
			if err != nil || strings.Join(got, ",") != "a,b,é🖨" {
				t.Errorf("Column = %q, %v", got, err)
			}
			none, err := Column[int64](d.R.QueryContext(ctx, `SELECT 1 WHERE 1 = 0`))
			if err != nil || len(none) != 0 {
				t.Errorf("no rows: %v, %v", none, err)
			}
			if _, err := Column[int64](d.R.QueryContext(ctx, `SELECT nonsense FROM nowhere`)); err == nil {
				t.Error("a failing query gave no error")
			}
			if _, err := Column[int64](d.R.QueryContext(ctx, `SELECT 'x'`)); err == nil {
				t.Error("text scanned into int64 gave no error")
			}
		})
	}
}
