package db

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSQLiteFileIsPrivate: a new database file, and the write-ahead log
// SQLite makes beside it, are readable by their owner only.
func TestSQLiteFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "helpmesh.db")
	d, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), m)
		}
	}
}

// TestMigrateRefusesNewerSchema: a database holding a migration this
// binary does not have is refused with ErrNewerSchema, on both engines.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	for _, e := range []Engine{SQLite, Postgres} {
		t.Run(string(e), func(t *testing.T) {
			ctx := context.Background()
			d, err := Open(ctx, dsnFor(t, e))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := d.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Migrate(ctx); err != nil {
				t.Fatalf("migrating an up-to-date database again: %v", err)
			}
			if _, err := d.W.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_from_the_future', $1)`, time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
			_, err = d.Migrate(ctx)
			if !errors.Is(err, ErrNewerSchema) {
				t.Fatalf("Migrate on a newer database: %v, want ErrNewerSchema", err)
			}
			t.Log(err)
		})
	}
}
