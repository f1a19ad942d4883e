// Package live tells the open pages of this process that what they show
// has changed. It is a local follower of the event stream (package event):
// every node follows the whole stream for its own browsers, from the
// newest event at its start.
package live

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/helpmesh/helpmesh/internal/event"
)

// Units tells which unit each ticket is in now.
type Units interface {
	UnitsOf(ctx context.Context, ids []int64) (map[int64]int64, error)
}

// Hub keeps the subscriptions of this process's open pages.
type Hub struct {
	units Units

	mu      sync.Mutex
	tickets map[int64]map[*Sub]struct{}
	queues  map[int64]map[*Sub]struct{}
}

// Sub is one open page's subscription. C receives a value when something
// it shows changed; changes that come while one waits are merged.
type Sub struct {
	C        chan struct{}
	internal bool // sees internal notes
}

// NewHub returns a Hub that looks up tickets' units in units.
func NewHub(units Units) *Hub {
	return &Hub{units: units, tickets: map[int64]map[*Sub]struct{}{}, queues: map[int64]map[*Sub]struct{}{}}
}

// FollowerName is the hub's name in the event stream.
const FollowerName = "live"

// Follow subscribes the hub to l, as a follower local to this process.
func (h *Hub) Follow(l *event.Log) {
	l.Follow(FollowerName, h.tell, event.FollowOptions{Local: true, Batch: 256})
}

// Ticket subscribes to the changes of ticket id; internal tells whether
// the subscriber sees internal notes (a note is no change to the others).
// Call the returned function when the page is gone.
func (h *Hub) Ticket(id int64, internal bool) (*Sub, func()) {
	return h.add(h.tickets, id, internal)
}

// Queue subscribes to the changes of every ticket of unit id, and to
// tickets that come into it or leave it; queues are for staff, who see
// internal notes.
func (h *Hub) Queue(id int64) (*Sub, func()) {
	return h.add(h.queues, id, true)
}

func (h *Hub) add(m map[int64]map[*Sub]struct{}, id int64, internal bool) (*Sub, func()) {
	s := &Sub{C: make(chan struct{}, 1), internal: internal}
	h.mu.Lock()
	if m[id] == nil {
		m[id] = map[*Sub]struct{}{}
	}
	m[id][s] = struct{}{}
	h.mu.Unlock()
	return s, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(m[id], s)
		if len(m[id]) == 0 {
			delete(m, id)
		}
	}
}

// change is what tell reads of a ticket event: the unit it left, if any.
type change struct {
	Changes []struct {
		Field, Old string
	}
}

// tell is the hub's event.Handler.
func (h *Hub) tell(ctx context.Context, evs []event.Event) (event.Commit, error) {
	h.mu.Lock()
	idle := len(h.tickets) == 0 && len(h.queues) == 0
	h.mu.Unlock()
	if idle {
		return nil, nil
	}
	var ids []int64
	for _, e := range evs {
		if e.TicketID != 0 {
			ids = append(ids, e.TicketID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	units, err := h.units.UnitsOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range evs {
		if e.TicketID == 0 {
			continue
		}
		var c change
		_ = json.Unmarshal(e.Data, &c) // an unreadable event still tells that the ticket changed
		note := e.Type == event.TicketNote
		for s := range h.tickets[e.TicketID] {
			if !note || s.internal {
				s.poke()
			}
		}
		for s := range h.queues[units[e.TicketID]] {
			s.poke()
		}
		for _, ch := range c.Changes {
			if ch.Field == "unit_id" {
				if old, err := strconv.ParseInt(ch.Old, 10, 64); err == nil {
					for s := range h.queues[old] {
						s.poke()
					}
				}
			}
		}
	}
	return nil, nil
}

func (s *Sub) poke() {
	select {
	case s.C <- struct{}{}:
	default:
	}
}
