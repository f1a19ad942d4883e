// Package dbtest gives tests fresh, migrated databases on both engines.
package dbtest

import (
	"context"
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
