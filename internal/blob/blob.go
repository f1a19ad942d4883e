// Package blob stores attachment contents by their SHA-256, so that the same
// file sent twice is kept once. Files are written to a temporary name and
// renamed into place: a crash never leaves a partial blob under a real name.
//
// A blob is stored before the row that references it is committed, so a
// refused request or a crash can leave blobs nobody references: Sweep
// removes them once they are older than a grace period.
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
	"sync"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
)

// Store keeps blobs.
type Store interface {
	// Put reads r to its end (at most limit bytes) and returns the hex
	// SHA-256 and size of what it stored. More than limit bytes is a
	// TooLarge error.
	Put(ctx context.Context, r io.Reader, limit int64) (sum string, size int64, err error)
	// Stage reads r as Put does but keeps the blob aside: it is stored
	// by Commit, and Discard (or a crash) leaves nothing. A request with
	// several files stages them all and commits only when all is valid.
	Stage(ctx context.Context, r io.Reader, limit int64) (*Staged, error)
	// Open returns the blob with the hex SHA-256 sum.
	Open(ctx context.Context, sum string) (io.ReadSeekCloser, error)
}

// Dir stores blobs as files under a directory, fanned out by the first two
// hex digits.
type Dir struct {
	root string
	// mu orders storing a blob against Sweep removing the same one: a
	// blob stored again while Sweep looks at it is either fresh when Sweep
	// checks its age, or stored anew after Sweep removed it.
	mu sync.Mutex
}

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
	st, err := d.Stage(ctx, r, limit)
	if err != nil {
		return "", 0, err
	}
	if err := st.Commit(); err != nil {
		return "", 0, err
	}
	return st.Sum, st.Size, nil
}

// Staged is a blob read to its end but not yet stored.
type Staged struct {
	Sum  string // hex SHA-256
	Size int64
	d    *Dir
	tmp  string // the temporary file; "" once committed or discarded
}

// Stage implements Store.
func (d *Dir) Stage(ctx context.Context, r io.Reader, limit int64) (*Staged, error) {
	f, err := os.CreateTemp(filepath.Join(d.root, "tmp"), "up-*")
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	st := &Staged{d: d, tmp: f.Name()}
	defer func() {
		if st.Sum == "" {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("blob: write: %w", err)
	}
	if n > limit {
		return nil, apperr.New(apperr.TooLarge, "file is larger than %d bytes", limit)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("blob: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("blob: close: %w", err)
	}
	st.Sum, st.Size = hex.EncodeToString(h.Sum(nil)), n
	return st, nil
}

// Commit stores the staged blob under its sum. A blob stored already is
// marked fresh, so that Sweep gives its new reference the grace period.
func (st *Staged) Commit() error {
	if st.tmp == "" {
		return errors.New("blob: commit of a blob committed or discarded already")
	}
	d := st.d
	dst := d.path(st.Sum)
	d.mu.Lock()
	defer d.mu.Unlock()
	defer st.Discard()
	now := time.Now()
	if err := os.Chtimes(dst, now, now); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	if err := os.Rename(st.tmp, dst); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	st.tmp = ""
	return nil
}

// Discard removes a staged blob that is not to be stored; after Commit it
// does nothing.
func (st *Staged) Discard() {
	if st.tmp != "" {
		os.Remove(st.tmp)
		st.tmp = ""
	}
}

// DiscardAll discards every staged blob of sts.
func DiscardAll(sts []*Staged) {
	for _, st := range sts {
		st.Discard()
	}
}

// Sweep removes the blobs last stored before cutoff that referenced does
// not name, and temporary files a crash left behind before cutoff. It
// returns how many blobs it removed. referenced is given the sums of a batch
// of candidates and answers those that are still in use. Sweep is safe to
// run at any time and to stop at any point: it removes only files nobody
// needs, each in one step.
func (d *Dir) Sweep(ctx context.Context, cutoff time.Time, referenced func(ctx context.Context, sums []string) (map[string]bool, error)) (int, error) {
	tmps, _ := os.ReadDir(filepath.Join(d.root, "tmp"))
	for _, e := range tmps {
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(cutoff) {
			os.Remove(filepath.Join(d.root, "tmp", e.Name()))
		}
	}
	fans, err := os.ReadDir(d.root)
	if err != nil {
		return 0, fmt.Errorf("blob: sweep: %w", err)
	}
	removed := 0
	for _, fan := range fans {
		if !fan.IsDir() || len(fan.Name()) != 2 {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(d.root, fan.Name()))
		if err != nil {
			return removed, fmt.Errorf("blob: sweep: %w", err)
		}
		var old []string
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && validSum(e.Name()) && fi.ModTime().Before(cutoff) {
				old = append(old, e.Name())
			}
		}
		if len(old) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		used, err := referenced(ctx, old)
		if err != nil {
			return removed, fmt.Errorf("blob: sweep: %w", err)
		}
		for _, sum := range old {
			if !used[sum] && d.removeIfOld(sum, cutoff) {
				removed++
			}
		}
	}
	return removed, nil
}

// removeIfOld removes blob sum if it was last stored before cutoff.
func (d *Dir) removeIfOld(sum string, cutoff time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	fi, err := os.Stat(d.path(sum))
	if err != nil || !fi.ModTime().Before(cutoff) {
		return false
	}
	return os.Remove(d.path(sum)) == nil
}

func validSum(sum string) bool {
	if len(sum) != 64 {
		return false
	}
	_, err := hex.DecodeString(sum)
	return err == nil
}

// Open implements Store.
func (d *Dir) Open(ctx context.Context, sum string) (io.ReadSeekCloser, error) {
	if !validSum(sum) {
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
