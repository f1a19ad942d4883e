package event

import (
	"context"
	"maps"
	"sync"
)

// Counter is a follower local to this process that counts the events it
// sees by type, for /metrics: how much of each kind of change the
// instance makes.
type Counter struct {
	mu sync.Mutex
	n  map[string]int64
}

// CounterName is a Counter's name in the stream.
const CounterName = "metrics"

// NewCounter returns a Counter that follows l.
func NewCounter(l *Log) *Counter {
	c := &Counter{n: map[string]int64{}}
	l.Follow(CounterName, c.tell, FollowOptions{Local: true, Batch: 512})
	return c
}

func (c *Counter) tell(ctx context.Context, evs []Event) (Commit, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range evs {
		c.n[e.Type]++
	}
	return nil, nil
}

// Counts returns the events seen by type since this process started.
func (c *Counter) Counts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}
