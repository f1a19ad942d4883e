package db

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// checkpointer copies SQLite's write-ahead log back into the database file
// on a connection of its own, so that the writer does not: with SQLite's
// automatic checkpoint, the commit that crosses the threshold copies about
// a thousand pages and syncs the file while every change waiting behind it
// waits too. Here the copy runs beside the writer (a PASSIVE checkpoint
// blocks neither the writer nor readers); then the writer, between two
// batches, checkpoints the few frames it appended meanwhile (finish). Only
// a checkpoint that leaves nothing behind lets the next write start the
// log over, so without that last step the log would grow for as long as
// writes keep coming.
//
// On each turn it also looks whether another connection committed since
// the last (PRAGMA data_version) and then calls changed: that is how the
// read caches of this process learn of another process's writes (the
// mailgate command's) and of writes that bypass the batcher.
type checkpointer struct {
	conn    *sql.DB
	gen     func() uint64 // the batcher's commit count
	finish  func()        // asks the writer to checkpoint between batches
	changed func()        // another connection committed
	stop    chan struct{}
	done    sync.WaitGroup
	// restarts counts the times the log was seen to start over (its
	// length fell between two checkpoints).
	restarts atomic.Int64
}

// Checkpoint pacing: a look every ckptTick; a checkpoint after
// ckptCommits commits, or every ckptIdle when anything may have been
// written outside the batcher.
const (
	ckptTick    = 50 * time.Millisecond
	ckptCommits = 64
	ckptIdle    = time.Second
)

func newCheckpointer(path, pragmas string, gen func() uint64, finish, changed func()) (*checkpointer, error) {
	conn, err := sql.Open("sqlite", "file:"+path+"?"+pragmas)
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite checkpointer: %w", err)
	}
	conn.SetMaxOpenConns(1)
	conn.SetConnMaxIdleTime(0)
	conn.SetConnMaxLifetime(0)
	c := &checkpointer{conn: conn, gen: gen, finish: finish, changed: changed, stop: make(chan struct{})}
	c.done.Add(1)
	go c.loop()
	return c, nil
}

func (c *checkpointer) loop() {
	defer c.done.Done()
	t := time.NewTicker(ckptTick)
	defer t.Stop()
	last, at := c.gen(), time.Now()
	version := int64(-1)
	var lastLog int64
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			var v int64
			if err := c.conn.QueryRowContext(context.Background(), `PRAGMA data_version`).Scan(&v); err == nil {
				if version >= 0 && v != version {
					c.changed()
				}
				version = v
			}
			g := c.gen()
			if g-last < ckptCommits && now.Sub(at) < ckptIdle {
				continue
			}
			last, at = g, now
			// A failure (the database is busy, say) is retried at the next
			// turn; the log only grows meanwhile.
			var busy, log, copied int64
			if err := c.conn.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &copied); err == nil {
				if log < lastLog {
					c.restarts.Add(1)
				}
				lastLog = log
				c.finish()
			}
		}
	}
}

func (c *checkpointer) close() error {
	close(c.stop)
	c.done.Wait()
	return c.conn.Close()
}
