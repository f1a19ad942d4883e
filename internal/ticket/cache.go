package ticket

import (
	"context"
	"slices"
	"sync"
)

// readCacheSize bounds the tickets kept by the read cache (a few hundred
// bytes each).
const readCacheSize = 4096

// readCache keeps the tickets that Get read, for as long as nothing was
// written to the database since (db.DB.Generation): a helpdesk reads a
// ticket far more often than it changes it, and a read from memory costs a
// small fraction of a query. Any commit empties it; one by another process
// (the mailgate command) within db's checkpointer tick (50 ms). It works
// only on SQLite; on PostgreSQL, which other nodes write, every Get reads
// the database.
type readCache struct {
	max int

	mu  sync.Mutex
	gen uint64 // the generation of the entries of m
	m   map[int64]cachedTicket
}

type cachedTicket struct {
	t          Ticket
	watcherIDs []int64
}

func newReadCache(max int) *readCache {
	return &readCache{max: max, m: map[int64]cachedTicket{}}
}

// load returns ticket id as loadFull would for watcherID, from the cache
// when it is current.
func (c *readCache) load(ctx context.Context, s *Store, id, watcherID int64) (*Ticket, error) {
	gen, ok := s.db.Generation()
	if !ok {
		return s.loadFull(ctx, s.r, id, watcherID)
	}
	e, hit := c.get(gen, id)
	if !hit {
		t, watcherIDs, err := s.loadWatched(ctx, s.r, id)
		if err != nil {
			return nil, err
		}
		e = cachedTicket{t: *t, watcherIDs: watcherIDs}
		// Kept only if nothing was committed while it was read.
		if now, _ := s.db.Generation(); now == gen {
			c.put(gen, id, e)
		}
	}
	// A copy of its own for the caller.
	t := e.t
	t.WatcherList = slices.Clone(e.t.WatcherList)
	if e.t.Assignee != nil {
		a := *e.t.Assignee
		t.Assignee = &a
	}
	if e.t.SolvedAt != nil {
		at := *e.t.SolvedAt
		t.SolvedAt = &at
	}
	t.Watching = watcherID != 0 && slices.Contains(e.watcherIDs, watcherID)
	return &t, nil
}

func (c *readCache) get(gen uint64, id int64) (cachedTicket, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return cachedTicket{}, false
	}
	e, ok := c.m[id]
	return e, ok
}

func (c *readCache) put(gen uint64, id int64, e cachedTicket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case gen < c.gen:
		return // read before a newer generation was seen
	case gen > c.gen || len(c.m) >= c.max:
		clear(c.m)
		c.gen = gen
	}
	c.m[id] = e
}
