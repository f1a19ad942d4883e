package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/db"
)

// Backups on PostgreSQL: "helpmesh backup" runs pg_dump (custom format)
// into the tar as helpmesh.pgdump, before the attachments; "helpmesh
// restore" gives it to pg_restore --clean --if-exists in one transaction,
// into an empty database unless --force.

// backupPGName is the pg_dump archive's name in a backup.
const backupPGName = "helpmesh.pgdump"

// pgTool is the path of a PostgreSQL client program: the one configured
// (variable) or name found on PATH.
func pgTool(configured, name, variable string) (string, error) {
	p := configured
	if p == "" {
		p = name
	}
	path, err := exec.LookPath(p)
	if err != nil {
		return "", fmt.Errorf("%w: %s not found (%v): install the PostgreSQL client programs (the server's major version or newer; Debian: postgresql-client) or name the program with %s",
			errConfig, name, err, variable)
	}
	return path, nil
}

// runPG runs a PostgreSQL client program against dsn. The password goes in
// PGPASSWORD, never on the command line (which every user of the machine
// may read), and the program's error output into the error.
func runPG(ctx context.Context, tool, dsn string, args ...string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("%w: HELPMESH_DB is not a URL: %v", errConfig, err)
	}
	env := os.Environ()
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
			u.User = url.User(u.User.Username())
		}
	}
	cmd := exec.CommandContext(ctx, tool, append(args, "--dbname="+u.String())...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(tool), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// pgDump writes a custom-format dump of cfg's database into dir and
// returns its path.
func pgDump(ctx context.Context, cfg config.Config, dir string) (string, error) {
	tool, err := pgTool(cfg.PGDump, "pg_dump", "HELPMESH_PG_DUMP")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, backupPGName)
	if err := runPG(ctx, tool, cfg.DB, "--format=custom", "--file="+out); err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	return out, nil
}

// pgRestore restores the dump at path into cfg's database: what the dump
// has replaces what the database has (--clean --if-exists), all or
// nothing (one transaction). Owners and grants are those of the role
// restoring.
func pgRestore(ctx context.Context, cfg config.Config, path string) error {
	tool, err := pgTool(cfg.PGRestore, "pg_restore", "HELPMESH_PG_RESTORE")
	if err != nil {
		return err
	}
	if err := runPG(ctx, tool, cfg.DB, "--clean", "--if-exists", "--no-owner", "--no-privileges",
		"--single-transaction", "--exit-on-error", path); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// pgTables counts the tables of cfg's database outside PostgreSQL's own
// schemas: 0 for an empty database.
func pgTables(ctx context.Context, cfg config.Config) (int, error) {
	d, err := db.Open(ctx, cfg.DB)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	var n int
	err = d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_catalog.pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND schemaname NOT LIKE 'pg_toast%'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("restore: look into the database: %w", err)
	}
	return n, nil
}
