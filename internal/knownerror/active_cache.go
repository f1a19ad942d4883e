package knownerror

import (
	"context"
	"sync"
	"time"
)

// activeTTL bounds how long ActiveByService's answer is kept: this
// Store's own writes drop it at once, those of another process or node
// are seen within activeTTL (as the unit store's lookups).
const activeTTL = time.Second

// activeCache keeps the answer of ActiveByService, which the new-ticket
// form reads at every view. A read that began before a write does not
// store its (older) answer: gen moves at every write.
type activeCache struct {
	mu  sync.Mutex
	gen uint64
	by  map[string][]*KnownError
	at  time.Time
}

// forget drops the answer after a write.
func (c *activeCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.by = nil
}

// get returns the kept answer when young enough, and the generation a new
// answer must be stored with.
func (c *activeCache) get() (map[string][]*KnownError, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by != nil && time.Since(c.at) < activeTTL {
		return c.by, c.gen, true
	}
	return nil, c.gen, false
}

// put keeps by, unless a write came after gen.
func (c *activeCache) put(by map[string][]*KnownError, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.by, c.at = by, time.Now()
	}
}

// ActiveByService returns the active known errors (open, or with a
// workaround) by the slug of each of their services: the new-ticket form
// shows them under the service. The answer is shared between callers
// (kept up to activeTTL): they must not change it.
func (s *Store) ActiveByService(ctx context.Context) (map[string][]*KnownError, error) {
	by, gen, ok := s.active.get()
	if ok {
		return by, nil
	}
	kes, err := s.List(ctx, Filter{Active: true})
	if err != nil {
		return nil, err
	}
	by = map[string][]*KnownError{}
	for _, ke := range kes {
		for _, slug := range ke.Services {
			by[slug] = append(by[slug], ke)
		}
	}
	s.active.put(by, gen)
	return by, nil
}
