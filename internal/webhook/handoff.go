package webhook

import "sync"

// The followers queue deliveries already claimed by this process (their
// locked_until set in the insert) and hand them to the worker once their
// transaction committed (event.FollowOptions.Committed), body and all:
// a fresh delivery then costs one insert and one update, not the claim's
// extra write and read. One the worker never sends (the process stopped)
// is claimed like any other once its lock expires.

// maxHanded bounds the deliveries waiting in memory for the worker; past
// it the followers queue them unclaimed, for the worker's claim.
const maxHanded = 4096

// handoff passes the deliveries from the followers to the worker.
type handoff struct {
	mu sync.Mutex
	// staged holds, per follower, what the Commit being run queued; it is
	// replaced at each batch, so that a Commit that rolled back leaves
	// nothing behind.
	staged map[string][]*claimed
	ready  []*claimed // committed, not yet taken by the worker
}

// room tells whether the followers may queue deliveries claimed.
func (h *handoff) room() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.ready)
	for _, cs := range h.staged {
		n += len(cs)
	}
	return n < maxHanded
}

// stage records what follower's current Commit queued claimed (nil at the
// start of each batch).
func (h *handoff) stage(follower string, cs []*claimed) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.staged == nil {
		h.staged = map[string][]*claimed{}
	}
	h.staged[follower] = cs
}

// committed makes follower's staged deliveries the worker's; it tells
// whether there are any.
func (h *handoff) committed(follower string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.staged[follower]
	delete(h.staged, follower)
	h.ready = append(h.ready, cs...)
	return len(cs) > 0
}

// take returns up to n committed deliveries for the worker.
func (h *handoff) take(n int) []*claimed {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := min(n, len(h.ready))
	cs := h.ready[:k:k]
	h.ready = h.ready[k:]
	if len(h.ready) == 0 {
		h.ready = nil
	}
	return cs
}

// committedFunc is the event.FollowOptions.Committed of follower: its
// deliveries to the worker, which it wakes when there are any.
func (s *Store) committedFunc(follower string) func() {
	return func() {
		if s.hand.committed(follower) {
			s.Wake()
		}
	}
}
