package main

import (
	"archive/tar"
	"context"
	"errors"
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

// Backups (issue 16.14): "helpmesh backup FILE.tar" writes a consistent
// copy of the SQLite database (VACUUM INTO, safe while serve runs) and then
// the attachments (the blobs directory) into one tar; the attachments are
// copied after the database, so every attachment it names is in the tar.
// "helpmesh restore FILE.tar" unpacks one into a data directory that has no
// database yet. On PostgreSQL the tar holds the attachments and the
// database is backed up with pg_dump (see the README).

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
	werr := writeBackup(ctx, e, cfg, f)
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

func writeBackup(ctx context.Context, e env, cfg config.Config, w io.Writer) error {
	tw := tar.NewWriter(w)
	if cfg.IsPostgres() {
		fmt.Fprintln(e.stderr, "helpmesh backup: the tar holds the attachments only; back up the PostgreSQL database with\n  pg_dump --format=custom --file=helpmesh.dump \"$HELPMESH_DB\"\nand restore it with pg_restore --dbname=\"$HELPMESH_DB\" helpmesh.dump")
	} else {
		tmp, err := os.MkdirTemp(filepath.Dir(cfg.SQLitePath()), ".backup-")
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		defer os.RemoveAll(tmp)
		copyPath := filepath.Join(tmp, backupDBName)
		d, err := db.Open(ctx, cfg.SQLitePath())
		if err != nil {
			return err
		}
		_, err = d.W.ExecContext(ctx, `VACUUM INTO $1`, copyPath)
		d.Close()
		if err != nil {
			return fmt.Errorf("backup: copy the database: %w", err)
		}
		if err := addFile(tw, copyPath, backupDBName); err != nil {
			return err
		}
	}
	blobs := filepath.Join(cfg.DataDir, "blobs")
	err := filepath.WalkDir(blobs, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == blobs {
				return filepath.SkipDir
			}
			return err
		}
		if !de.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(cfg.DataDir, p)
		if err != nil {
			return err
		}
		return addFile(tw, p, filepath.ToSlash(rel))
	})
	if err != nil {
		return fmt.Errorf("backup: attachments: %w", err)
	}
	return tw.Close()
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
	cfg, rest, err := load(e, "restore", args, nil)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("%w: name the tar file of a backup", errUsage)
	}
	if !cfg.IsPostgres() {
		if _, err := os.Stat(cfg.SQLitePath()); err == nil {
			return fmt.Errorf("%w: %s exists: restore into a data directory without a database", errConfig, cfg.SQLitePath())
		}
	}
	f, err := os.Open(rest[0])
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	n, err := extractBackup(cfg, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "restored %d files into %s\n", n, cfg.DataDir)
	return nil
}

// extractBackup unpacks the database and attachments of a backup into
// cfg's data directory; any other entry is refused.
func extractBackup(cfg config.Config, r io.Reader) (int, error) {
	tr := tar.NewReader(r)
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("restore: not a helpmesh backup: %w", err)
		}
		name := path.Clean(h.Name)
		var dst string
		switch {
		case h.Typeflag != tar.TypeReg:
			return n, fmt.Errorf("restore: %q is not a regular file", h.Name)
		case name == backupDBName && !cfg.IsPostgres():
			dst = cfg.SQLitePath()
		case strings.HasPrefix(name, "blobs/") && filepath.IsLocal(name):
			dst = filepath.Join(cfg.DataDir, filepath.FromSlash(name))
		default:
			return n, fmt.Errorf("restore: %q does not belong in a helpmesh backup", h.Name)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return n, fmt.Errorf("restore: %w", err)
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return n, fmt.Errorf("restore: %w", err)
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return n, fmt.Errorf("restore: %s: %w", name, err)
		}
		n++
	}
}
