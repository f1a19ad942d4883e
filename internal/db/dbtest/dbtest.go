// Package dbtest gives tests fresh, migrated databases on both engines.
package dbtest

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// Open opens and migrates the database dsn and closes it when the test ends.
func Open(t testing.TB, dsn string) *db.DB {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

// Engines runs fn in two subtests: on a fresh SQLite database in
// t.TempDir(), and on a fresh PostgreSQL database (testenv: skipped without
// the test cluster, a failure under CI=true).
func Engines(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, Open(t, filepath.Join(t.TempDir(), "helpmesh.db"))) })
	t.Run("postgres", func(t *testing.T) { fn(t, Open(t, testenv.PostgresDSN(t))) })
}

// LockSQLite makes d's writer wait at most 200 ms for a lock, then takes
// the write lock of the SQLite file at path on a connection of its own, as
// another process would, and returns the function that lets it go.
func LockSQLite(t testing.TB, d *db.DB, path string) (unlock func()) {
	t.Helper()
	ctx := context.Background()
	if _, err := d.W.ExecContext(ctx, `PRAGMA busy_timeout = 200`); err != nil {
		t.Fatal(err)
	}
	// It waits for the writer of d to finish what it is doing (the
	// followers and timers write in the background).
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := other.Conn(ctx)
	if err != nil {
		other.Close()
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		conn.Close()
		other.Close()
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
			t.Error(err)
		}
		conn.Close()
		other.Close()
	}
}
