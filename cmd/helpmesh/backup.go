package main

import (
	"archive/tar"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/db"
)

// Backups (issue 16.14): "helpmesh backup FILE.tar" writes the database
// and then the attachments (the attachments directory) into one tar; the
// attachments are copied after the database, so every attachment it names
// is in the tar. SQLite is copied consistently with VACUUM INTO (safe while
// serve runs), PostgreSQL with pg_dump (backup_postgres.go). "helpmesh
// restore FILE.tar" unpacks one: into a data directory that has no
// database yet, or into an empty PostgreSQL database (--force: one that
// has tables, whose contents the backup's replace).

const backupDBName = "helpmesh.db"

func backupCmd(ctx context.Context, e env, args []string) error {
	cfg, rest, err := load(e, "backup", args, nil)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("%w: name one tar file to write", errUsage)
	}
	out := rest[0]
	if err := databaseExists(cfg); err != nil {
		return err
	}
	f, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// The database's copy waits in a directory beside the tar (where
	// there is room for it) until it is in the tar.
	tmp, err := os.MkdirTemp(filepath.Dir(out), ".helpmesh-backup-")
	if err != nil {
		f.Close()
		_ = os.Remove(out)
		return fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	werr := writeBackup(ctx, cfg, tmp, f)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(out)
		return werr
	}
	fmt.Fprintf(e.stdout, "backup written to %s\n", out)
	return nil
}

// writeBackup writes the database's copy (made in tmp) and then the
// attachments into w.
func writeBackup(ctx context.Context, cfg config.Config, tmp string, w io.Writer) error {
	tw := tar.NewWriter(w)
	copyPath, name := "", backupDBName
	var err error
	if cfg.IsPostgres() {
		copyPath, err = pgDump(ctx, cfg, tmp)
		name = backupPGName
	} else {
		copyPath, err = sqliteCopy(ctx, cfg, tmp)
	}
	if err != nil {
		return err
	}
	if err := addFile(tw, copyPath, name); err != nil {
		return err
	}
	blobs := cfg.AttachmentsDir()
	err = filepath.WalkDir(blobs, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == blobs {
				return filepath.SkipDir
			}
			return err
		}
		if de.IsDir() && p == filepath.Join(blobs, "tmp") {
			return filepath.SkipDir // uploads being received (blob.Dir.Stage)
		}
		if !de.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(blobs, p)
		if err != nil {
			return err
		}
		return addFile(tw, p, path.Join("blobs", filepath.ToSlash(rel)))
	})
	if err != nil {
		return fmt.Errorf("backup: attachments: %w", err)
	}
	return tw.Close()
}

// sqliteCopy copies the SQLite database consistently (VACUUM INTO) into
// dir and returns the copy's path.
func sqliteCopy(ctx context.Context, cfg config.Config, dir string) (string, error) {
	copyPath := filepath.Join(dir, backupDBName)
	d, err := db.Open(ctx, cfg.SQLitePath())
	if err != nil {
		return "", err
	}
	_, err = d.W.ExecContext(ctx, `VACUUM INTO $1`, copyPath)
	d.Close()
	if err != nil {
		return "", fmt.Errorf("backup: copy the database: %w", err)
	}
	return copyPath, nil
}

func addFile(tw *tar.Writer, src, name string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: fi.Size(), ModTime: fi.ModTime(), Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("backup: %s: %w", name, err)
	}
	return nil
}

func restoreCmd(ctx context.Context, e env, args []string) error {
	var force bool
	cfg, rest, err := load(e, "restore", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&force, "force", false, "PostgreSQL: restore into a database that has tables; the backup's contents replace theirs")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("%w: name the tar file of a backup", errUsage)
	}
	if cfg.IsPostgres() {
		// Both checks before anything is written.
		if _, err := pgTool(cfg.PGRestore, "pg_restore", "HELPMESH_PG_RESTORE"); err != nil {
			return err
		}
		n, err := pgTables(ctx, cfg)
		if err != nil {
			return err
		}
		if n > 0 && !force {
			return fmt.Errorf("%w: the database has %d tables: restore into an empty database, or pass --force to replace its contents with the backup's", errConfig, n)
		}
	} else if _, err := os.Stat(cfg.SQLitePath()); err == nil {
		return fmt.Errorf("%w: %s exists: restore into a data directory without a database", errConfig, cfg.SQLitePath())
	}
	f, err := os.Open(rest[0])
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	tmp, err := os.MkdirTemp(filepath.Dir(rest[0]), ".helpmesh-restore-")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(tmp)
	got, err := extractBackup(cfg, f, tmp)
	if err != nil {
		return err
	}
	if got.dump == "" && cfg.IsPostgres() {
		return fmt.Errorf("restore: the backup has no database (%s)", backupPGName)
	}
	if got.dump != "" {
		if err := pgRestore(ctx, cfg, got.dump); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "restored %d files: the database and the attachments (in %s)\n", got.files, cfg.AttachmentsDir())
	return nil
}

// restored is what extractBackup unpacked.
type restored struct {
	files int
	// dump is the path of the PostgreSQL dump, in the temporary
	// directory, for pg_restore; "" for SQLite.
	dump string
}

// extractBackup unpacks a backup: the SQLite database into cfg's data
// directory or the PostgreSQL dump into tmp, and the attachments into the
// attachments directory. A database of the other engine, or any other
// entry, is refused. An attachment that is there already is the same
// (they are named by their SHA-256) and is kept.
func extractBackup(cfg config.Config, r io.Reader, tmp string) (restored, error) {
	tr := tar.NewReader(r)
	var got restored
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, fmt.Errorf("restore: not a helpmesh backup: %w", err)
		}
		name := path.Clean(h.Name)
		var dst string
		switch {
		case h.Typeflag != tar.TypeReg:
			return got, fmt.Errorf("restore: %q is not a regular file", h.Name)
		case name == backupDBName && cfg.IsPostgres(), name == backupPGName && !cfg.IsPostgres():
			return got, fmt.Errorf("%w: the backup's database is %s: restore it with that engine configured (HELPMESH_DB)", errConfig, engineOf(name))
		case name == backupDBName:
			dst = cfg.SQLitePath()
		case name == backupPGName:
			dst = filepath.Join(tmp, backupPGName)
			got.dump = dst
		case strings.HasPrefix(name, "blobs/") && filepath.IsLocal(name):
			dst = filepath.Join(cfg.AttachmentsDir(), filepath.FromSlash(strings.TrimPrefix(name, "blobs/")))
		default:
			return got, fmt.Errorf("restore: %q does not belong in a helpmesh backup", h.Name)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return got, fmt.Errorf("restore: %w", err)
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if errors.Is(err, fs.ErrExist) && strings.HasPrefix(name, "blobs/") {
			got.files++
			continue
		}
		if err != nil {
			return got, fmt.Errorf("restore: %w", err)
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return got, fmt.Errorf("restore: %s: %w", name, err)
		}
		got.files++
	}
}

// engineOf names the engine of a backup's database entry.
func engineOf(name string) string {
	if name == backupPGName {
		return "PostgreSQL"
	}
	return "SQLite"
}
