package db

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

func openBatchTestDB(tb testing.TB) *DB {
	tb.Helper()
	d, err := Open(context.Background(), filepath.Join(tb.TempDir(), "batch.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	if _, err := d.W.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, part INTEGER NOT NULL)`); err != nil {
		tb.Fatal(err)
	}
	return d
}

// TestGroupCommitIsolatesFailures runs many concurrent changes of two rows
// each; every third fails after its first row, one panics: the failed ones
// leave nothing, the others all of their rows, and each caller gets its own
// outcome.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	d := openBatchTestDB(t)
	ctx := context.Background()
	errBoom := errors.New("boom")
	const n = 300
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i] = d.Tx(ctx, func(q Querier) error {
				if _, err := q.ExecContext(ctx, `INSERT INTO t (k, part) VALUES ($1, 1)`, i); err != nil {
					return err
				}
				switch {
				case i == 7:
					panic("bad change")
				case i%3 == 0:
					return fmt.Errorf("change %d: %w", i, errBoom)
				}
				_, err := q.ExecContext(ctx, `INSERT INTO t (k, part) VALUES ($1, 2)`, i)
				return err
			})
		})
	}
	wg.Wait()
	for i, err := range results {
		var rows int
		if err := d.R.QueryRow(`SELECT COUNT(*) FROM t WHERE k = $1`, i).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		switch {
		case i == 7:
			if err == nil || rows != 0 {
				t.Errorf("change 7 panicked: err %v, %d rows", err, rows)
			}
		case i%3 == 0:
			if !errors.Is(err, errBoom) || rows != 0 {
				t.Errorf("change %d failed: err %v, %d rows (want boom, 0)", i, err, rows)
			}
		default:
			if err != nil || rows != 2 {
				t.Errorf("change %d: err %v, %d rows (want nil, 2)", i, err, rows)
			}
		}
	}
}

func TestGroupCommitCancelledBeforeStart(t *testing.T) {
	d := openBatchTestDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := d.Tx(ctx, func(q Querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO t (k, part) VALUES (1, 1)`)
		return err
	})
	if err == nil {
		t.Fatal("a cancelled change was run")
	}
	var rows int
	if err := d.R.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("rows %d, err %v", rows, err)
	}
}

// BenchmarkTx measures small write transactions (three inserts) from 8
// goroutines per core: with group commit on SQLite they share commits.
func BenchmarkTx(b *testing.B) {
	d := openBatchTestDB(b)
	ctx := context.Background()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			err := d.Tx(ctx, func(q Querier) error {
				for part := range 3 {
					if _, err := q.ExecContext(ctx, `INSERT INTO t (k, part) VALUES ($1, $2)`, 1, part); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
