// Package connectortest holds a peer in memory for the tests of the
// connector engine and of whole instances.
package connectortest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/helpmesh/helpmesh/internal/connector"
)

// Peer is a connector.Peer in memory. Its changes are a list; the cursor
// is the index of the next one. Set its switches with Set.
type Peer struct {
	mu sync.Mutex
	// Down makes every call fail as a refused connection would
	// (retryable).
	Down bool
	// Permanent makes Push refuse for good (connector.ErrPermanent).
	Permanent bool
	// Replay makes Poll ignore the cursor and answer every change again.
	Replay bool
	// Statuses, when set, is the peer's coarse status of each of
	// helpmesh's (see Mapped).
	Statuses map[string]string

	calls   int
	created []connector.Ticket
	pushed  []connector.Change
	changes []connector.Change
	// fields are each ticket's status and priority as last set by a
	// creation, a push or a change (Fetch), by remote id.
	fields map[string]*connector.Ticket
}

// field returns the fields of remote ticket id, under p's lock.
func (p *Peer) field(id string) *connector.Ticket {
	if p.fields == nil {
		p.fields = map[string]*connector.Ticket{}
	}
	if p.fields[id] == nil {
		p.fields[id] = &connector.Ticket{}
	}
	return p.fields[id]
}

// set records the status or priority c sets on remote ticket id.
func (p *Peer) set(id string, c connector.Change) {
	switch c.Kind {
	case connector.KindStatus:
		p.field(id).Status = c.Status
	case connector.KindPriority:
		p.field(id).Priority = c.Priority
	}
}

// Fetch implements connector.Fetcher: ref's status and priority as last
// set, and the changes made to it with Add.
func (p *Peer) Fetch(ctx context.Context, ref connector.Ref) (connector.Ticket, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.Down {
		return connector.Ticket{}, ErrDown
	}
	t := *p.field(ref.RemoteID)
	t.Ref = ref
	for _, c := range p.changes {
		if c.Ticket.RemoteID == ref.RemoteID {
			t.History = append(t.History, c)
		}
	}
	return t, nil
}

// ErrDown is the error of a Peer that is down.
var ErrDown = errors.New("connectortest: connection refused")

// Kind returns a constructor of the kind that always gives p.
func (p *Peer) Kind() func(connector.Config) (connector.Peer, error) {
	return func(connector.Config) (connector.Peer, error) { return p, nil }
}

// Set changes p's switches under its lock.
func (p *Peer) Set(fn func(p *Peer)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(p)
}

// Create implements connector.Peer: the remote ids are 101, 102, ...
func (p *Peer) Create(ctx context.Context, t connector.Ticket) (connector.Ref, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.Down {
		return connector.Ref{}, ErrDown
	}
	p.created = append(p.created, t)
	id := strconv.Itoa(100 + len(p.created))
	p.field(id).Status, p.field(id).Priority = t.Status, t.Priority
	return connector.Ref{RemoteID: id, RemoteURL: "https://peer.example/t/" + id}, nil
}

// Push implements connector.Peer.
func (p *Peer) Push(ctx context.Context, ref connector.Ref, c connector.Change) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	switch {
	case p.Down:
		return ErrDown
	case p.Permanent:
		return fmt.Errorf("connectortest: 422: %w", connector.ErrPermanent)
	}
	c.Ticket = ref
	p.pushed = append(p.pushed, c)
	p.set(ref.RemoteID, c)
	return nil
}

// Poll implements connector.Peer.
func (p *Peer) Poll(ctx context.Context, cursor string, refs []connector.Ref) ([]connector.Change, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.Down {
		return nil, "", ErrDown
	}
	n, err := strconv.Atoi(cursor)
	if err != nil || p.Replay || n > len(p.changes) {
		n = 0
	}
	return slices.Clone(p.changes[n:]), strconv.Itoa(len(p.changes)), nil
}

// Add makes a change on the peer, with the next remote id (tx-1, tx-2...).
func (p *Peer) Add(c connector.Change) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.RemoteID = "tx-" + strconv.Itoa(len(p.changes)+1)
	p.changes = append(p.changes, c)
	p.set(c.Ticket.RemoteID, c)
}

// Created returns the tickets created on the peer.
func (p *Peer) Created() []connector.Ticket {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.created)
}

// Pushed returns the changes pushed to the peer, in order.
func (p *Peer) Pushed() []connector.Change {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.pushed)
}

// Calls counts the calls made to the peer.
func (p *Peer) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// Mapped is a Peer with coarse statuses: it implements
// connector.StatusMapper with p.Statuses.
type Mapped struct{ *Peer }

// PeerStatus implements connector.StatusMapper.
func (m Mapped) PeerStatus(s string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.Statuses[s]; ok {
		return v
	}
	return s
}
