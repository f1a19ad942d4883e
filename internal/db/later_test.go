package db

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
)

func TestInsertSQL(t *testing.T) {
	if got, want := insertSQL("INSERT INTO t (a, b)", 2, 4), "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// The rows of LaterInsert are kept for the changes of a batch that hold,
// and only for those.
func TestLaterInsert(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.W.ExecContext(ctx, `CREATE VIRTUAL TABLE f USING fts5 (text)`); err != nil {
		t.Fatal(err)
	}
	if err := LaterInsert(ctx, d.W, `INSERT INTO f (rowid, text)`, 2, 1); err == nil {
		t.Error("a partial row was accepted")
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			err := d.Tx(ctx, func(q Querier) error {
				if err := LaterInsert(ctx, q, `INSERT INTO f (rowid, text)`, 2, 2*i+1, "word", 2*i+2, "other"); err != nil {
					return err
				}
				if i%4 == 0 {
					return errors.New("undo")
				}
				return nil
			})
			if (err != nil) != (i%4 == 0) {
				t.Errorf("change %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	var n int
	if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM f WHERE f MATCH 'word'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 30 {
		t.Errorf("%d rows match, want 30", n)
	}
	if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM f`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 60 {
		t.Errorf("%d rows, want 60", n)
	}
}
