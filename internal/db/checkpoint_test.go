package db

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCheckpointKeepsLogShort: with the writer's automatic checkpoint off,
// the checkpointer (and the writer's short step between batches) copies
// the log into the database file and lets it start over, while commits
// and reads keep coming; nothing written is lost.
func TestCheckpointKeepsLogShort(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "helpmesh.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.W.ExecContext(ctx, `CREATE TABLE ckpt (id INTEGER PRIMARY KEY, v BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Short reads, as helpmesh's are: a reader that holds
				// its snapshot for longer than restartWait (a count of
				// the whole table on a loaded machine) keeps the log from
				// ever starting over, by design.
				var n int
				if err := d.R.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM ckpt`).Scan(&n); err != nil && !strings.Contains(err.Error(), "no such table") {
					t.Error(err)
					return
				}
			}
		})
	}
	// About 6 pages per commit: 36,000 frames or more unless the log
	// starts over.
	const commits = 6000
	blob := make([]byte, 20000)
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for i := w; i < commits; i += 4 {
				if err := d.Tx(ctx, func(q Querier) error {
					_, err := q.ExecContext(ctx, `INSERT INTO ckpt (id, v) VALUES ($1, $2)`, i+1, blob)
					return err
				}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	var busy, frames, copied int
	if err := d.W.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
		t.Fatal(err)
	}
	// The log started over while commits and reads kept coming. How often
	// depends on how often readers let it (on a loaded machine, less):
	// the bound on its length is loose, the restart is not.
	if n := d.ckpt.restarts.Load(); n == 0 {
		t.Errorf("the log never started over in %d commits (%d frames now)", commits, frames)
	}
	if frames > maxLogFrames*3 {
		t.Errorf("the log holds %d frames after %d commits", frames, commits)
	}
	// A checkpoint happens within ckptIdle even without further commits.
	time.Sleep(ckptIdle + 3*ckptTick)
	var n int
	if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM ckpt`).Scan(&n); err != nil || n != commits {
		t.Fatalf("rows = %d, %v; want %d", n, err, commits)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM ckpt`).Scan(&n); err != nil || n != commits {
		t.Fatalf("after reopening, rows = %d, %v; want %d", n, err, commits)
	}
}
