// Package blob stores attachment contents by their SHA-256, so that the same
// file sent twice is kept once. Files are written to a temporary name and
// renamed into place: a crash never leaves a partial blob under a real name.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/helpmesh/helpmesh/internal/apperr"
)

// Store keeps blobs.
type Store interface {
	// Put reads r to its end (at most limit bytes) and returns the hex
	// SHA-256 and size of what it stored. More than limit bytes is a
	// TooLarge error.
	Put(ctx context.Context, r io.Reader, limit int64) (sum string, size int64, err error)
	// Open returns the blob with the hex SHA-256 sum.
	Open(ctx context.Context, sum string) (io.ReadSeekCloser, error)
}

// Dir stores blobs as files under a directory, fanned out by the first two
// hex digits.
type Dir struct{ root string }

// NewDir returns a Dir rooted at root, creating it.
func NewDir(root string) (*Dir, error) {
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 0o750); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &Dir{root: root}, nil
}

func (d *Dir) path(sum string) string { return filepath.Join(d.root, sum[:2], sum) }

// Put implements Store.
func (d *Dir) Put(ctx context.Context, r io.Reader, limit int64) (string, int64, error) {
	f, err := os.CreateTemp(filepath.Join(d.root, "tmp"), "up-*")
	if err != nil {
		return "", 0, fmt.Errorf("blob: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, limit+1))
	if err != nil {
		return "", 0, fmt.Errorf("blob: write: %w", err)
	}
	if n > limit {
		return "", 0, apperr.New(apperr.TooLarge, "file is larger than %d bytes", limit)
	}
	if err := f.Sync(); err != nil {
		return "", 0, fmt.Errorf("blob: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", 0, fmt.Errorf("blob: close: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	dst := d.path(sum)
	if _, err := os.Stat(dst); err == nil {
		return sum, n, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return "", 0, fmt.Errorf("blob: %w", err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return "", 0, fmt.Errorf("blob: %w", err)
	}
	return sum, n, nil
}

// Open implements Store.
func (d *Dir) Open(ctx context.Context, sum string) (io.ReadSeekCloser, error) {
	if len(sum) != 64 {
		return nil, apperr.New(apperr.NotFound, "no such file")
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return nil, apperr.New(apperr.NotFound, "no such file")
	}
	f, err := os.Open(d.path(sum))
	if errors.Is(err, os.ErrNotExist) {
		return nil, apperr.New(apperr.NotFound, "no such file")
	}
	if err != nil {
		return nil, fmt.Errorf("blob: open: %w", err)
	}
	return f, nil
}
