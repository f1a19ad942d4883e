package user

import (
	"maps"
	"sync"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
)

// principalCache remembers the principal of recently seen API tokens for a
// short time, so that a request costs no database query to authenticate.
// Entries are keyed by the token's hash and handed out as copies.
type principalCache struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[string]cachedPrincipal
}

type cachedPrincipal struct {
	p            auth.Principal
	until        time.Time  // end of the cache entry
	tokenExpires *time.Time // the token's own expiry
}

func newPrincipalCache(ttl time.Duration, max int) *principalCache {
	return &principalCache{ttl: ttl, max: max, m: map[string]cachedPrincipal{}}
}

func (c *principalCache) get(hash string, now time.Time) *auth.Principal {
	if c.ttl <= 0 {
		return nil
	}
	c.mu.Lock()
	e, ok := c.m[hash]
	if ok && (!now.Before(e.until) || (e.tokenExpires != nil && !e.tokenExpires.After(now))) {
		delete(c.m, hash)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	p := e.p
	p.Units = maps.Clone(e.p.Units)
	return &p
}

func (c *principalCache) put(hash string, p *auth.Principal, tokenExpires *time.Time, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	e := cachedPrincipal{p: *p, until: now.Add(c.ttl), tokenExpires: tokenExpires}
	e.p.Units = maps.Clone(p.Units)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, old := range c.m {
			if !now.Before(old.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[hash] = e
}

func (c *principalCache) clear() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}
