package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migrations live in migrations/<engine>/NNNN_name.sql. They are forward-only;
// each runs in one transaction with the row recording it.
//
//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func (d *DB) migrations() ([]migration, error) {
	dir := "migrations/" + string(d.Engine)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("db: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("db: migration %s: name must start with a number and _", name)
		}
		b, err := migrationFS.ReadFile(dir + "/" + name)
		if err != nil {
			return nil, fmt.Errorf("db: read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(name, ".sql"), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("db: two migrations numbered %d", ms[i].version)
		}
	}
	return ms, nil
}

// Migrate applies every migration not applied yet and returns their names.
// Several processes may call it at once: on PostgreSQL an advisory lock
// serialises them; on SQLite the writer lock does.
func (d *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := d.migrations()
	if err != nil {
		return nil, err
	}
	// CREATE TABLE IF NOT EXISTS is not safe against a concurrent create on
	// PostgreSQL (a unique violation in pg_type): take the lock first.
	err = d.Tx(ctx, func(q Querier) error {
		if err := d.migrationLock(ctx, q); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at TIMESTAMP NOT NULL)`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("db: create schema_migrations: %w", err)
	}
	if err := d.checkNotNewer(ctx, ms); err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range ms {
		err := d.Tx(ctx, func(q Querier) error {
			if err := d.migrationLock(ctx, q); err != nil {
				return err
			}
			var n int
			if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := q.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			if _, err := q.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, time.Now().UTC()); err != nil {
				return err
			}
			applied = append(applied, m.name)
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("db: migration %s: %w", m.name, err)
		}
	}
	return applied, nil
}

// ErrNewerSchema is returned by Migrate for a database migrated by a newer
// helpmesh: this binary does not know its tables and must not serve it.
var ErrNewerSchema = errors.New("db: the database was migrated by a newer helpmesh")

// checkNotNewer refuses a database holding a migration beyond the last one
// this binary has.
func (d *DB) checkNotNewer(ctx context.Context, ms []migration) error {
	if len(ms) == 0 {
		return nil
	}
	var newest int
	var name sql.NullString
	err := d.W.QueryRowContext(ctx, `SELECT version, name FROM schema_migrations ORDER BY version DESC LIMIT 1`).Scan(&newest, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("db: read schema_migrations: %w", err)
	}
	if last := ms[len(ms)-1]; newest > last.version {
		return fmt.Errorf("%w (its migration %s; this binary's last is %s): run the newer binary, or restore a backup taken before the upgrade", ErrNewerSchema, name.String, last.name)
	}
	return nil
}

// migrationLock serialises migrating processes on PostgreSQL for the rest
// of transaction q (on SQLite the writer lock does).
func (d *DB) migrationLock(ctx context.Context, q Querier) error {
	if d.Engine != Postgres {
		return nil
	}
	_, err := q.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7201)`)
	return err
}
