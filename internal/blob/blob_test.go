package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
)

func TestDir(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "blobs")
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("hello, attachments")
	want := sha256.Sum256(content)
	sum, n, err := d.Put(ctx, bytes.NewReader(content), 100)
	if err != nil || sum != hex.EncodeToString(want[:]) || n != int64(len(content)) {
		t.Fatalf("put: %s %d %v", sum, n, err)
	}
	if _, err := os.Stat(filepath.Join(root, sum[:2], sum)); err != nil {
		t.Errorf("not stored by content address: %v", err)
	}
	// The same content twice is stored once.
	sum2, _, err := d.Put(ctx, bytes.NewReader(content), 100)
	if err != nil || sum2 != sum {
		t.Errorf("second put: %s %v", sum2, err)
	}
	f, err := d.Open(ctx, sum)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, content) {
		t.Errorf("read back %q", got)
	}
	// Exactly at the limit is fine; one byte over is TooLarge.
	if _, n, err := d.Put(ctx, strings.NewReader("12345"), 5); err != nil || n != 5 {
		t.Errorf("at the limit: %d %v", n, err)
	}
	if _, _, err := d.Put(ctx, strings.NewReader("123456"), 5); !apperr.Is(err, apperr.TooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	// Empty files are fine.
	if _, n, err := d.Put(ctx, strings.NewReader(""), 5); err != nil || n != 0 {
		t.Errorf("empty: %d %v", n, err)
	}
	// A failed upload leaves nothing: no temporary file, no blob.
	if _, _, err := d.Put(ctx, io.MultiReader(strings.NewReader("partial"), errReader{}), 100); err == nil {
		t.Error("a failing reader was stored")
	}
	if tmp, _ := os.ReadDir(filepath.Join(root, "tmp")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	partial := sha256.Sum256([]byte("partial"))
	if _, err := d.Open(ctx, hex.EncodeToString(partial[:])); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("a partial upload is readable: %v", err)
	}
	// Names that are not sums never reach the file system.
	for _, bad := range []string{"", "../../etc/passwd", strings.Repeat("z", 64), strings.Repeat("0", 63), strings.Repeat("0", 64)} {
		if _, err := d.Open(ctx, bad); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("Open(%q): %v", bad, err)
		}
	}
	// A leftover temporary file from a crash does not disturb anything.
	if err := os.WriteFile(filepath.Join(root, "tmp", "up-crashed"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDir(root); err != nil {
		t.Errorf("reopen after a crash: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestStageAndSweep(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "blobs")
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		filepath.WalkDir(root, func(_ string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				n++
			}
			return err
		})
		return n
	}
	// A staged blob is not readable until committed; discarded, it leaves
	// nothing.
	st, err := d.Stage(ctx, strings.NewReader("staged"), 100)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, st.Sum); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("a staged blob is readable: %v", err)
	}
	st.Discard()
	if n := count(); n != 0 {
		t.Errorf("a discarded blob left %d files", n)
	}
	kept, _, err := d.Put(ctx, strings.NewReader("kept"), 100)
	if err != nil {
		t.Fatal(err)
	}
	orphan, _, err := d.Put(ctx, strings.NewReader("orphan"), 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp", "up-crashed"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	var asked []string
	refs := func(_ context.Context, sums []string) (map[string]bool, error) {
		asked = append(asked, sums...)
		return map[string]bool{kept: true}, nil
	}
	// Within the grace period nothing goes.
	if n, err := d.Sweep(ctx, time.Now().Add(-time.Hour), refs); err != nil || n != 0 || count() != 3 {
		t.Errorf("sweep within the grace period: removed %d, %v, %d files left", n, err, count())
	}
	// Past it, the unreferenced blob and the crash's leftover go.
	if n, err := d.Sweep(ctx, time.Now().Add(time.Minute), refs); err != nil || n != 1 {
		t.Errorf("sweep: removed %d, %v", n, err)
	}
	if _, err := d.Open(ctx, orphan); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("the unreferenced blob is still there: %v", err)
	}
	if f, err := d.Open(ctx, kept); err != nil {
		t.Errorf("the referenced blob went: %v", err)
	} else {
		f.Close()
	}
	if n := count(); n != 1 {
		t.Errorf("%d files left, want the referenced blob only", n)
	}
	// Storing an old blob again gives it a new grace period.
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(filepath.Join(root, kept[:2], kept), old, old); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Put(ctx, strings.NewReader("kept"), 100); err != nil {
		t.Fatal(err)
	}
	none := func(context.Context, []string) (map[string]bool, error) { return nil, nil }
	if n, err := d.Sweep(ctx, time.Now().Add(-time.Hour), none); err != nil || n != 0 {
		t.Errorf("a blob stored again was swept: %d %v", n, err)
	}
	// A failing reference check removes nothing.
	fail := func(context.Context, []string) (map[string]bool, error) { return nil, errors.New("db down") }
	if n, err := d.Sweep(ctx, time.Now().Add(time.Minute), fail); err == nil || n != 0 || count() != 1 {
		t.Errorf("sweep with a failing check: %d %v", n, err)
	}
}
