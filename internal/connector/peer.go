// Package connector synchronises tickets of services in the `external`
// integration mode with the ticketing system of their provider (Request
// Tracker 5, Redmine 5, another helpmesh), and holds the kinds of peer
// that `helpmesh import` reads from.
//
// This file is the contract between the engine (the connectors table,
// the follower that pushes helpmesh's changes, the poller that pulls the
// peer's, links, the sync log, backoff) and the kinds of peer
// (subpackages rt5, redmine5, hmpeer). A kind only speaks its system's
// protocol; the engine decides what to send, when, and what a change
// that came back means. Peers never import the engine.
package connector

import (
	"context"
	"time"
)

// Ref names a ticket on the peer.
type Ref struct {
	RemoteID  string // RT ticket id, Redmine issue id, the peer helpmesh's ticket id
	RemoteURL string // a page a person can open
}

// Attachment is a file carried by a change, in full.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
}

// Person is an author or requester as the other side knows them.
type Person struct {
	Email string
	Name  string
}

// ChangeKind says what a Change carries.
type ChangeKind string

// Change kinds.
const (
	KindMessage  ChangeKind = "message"  // a public reply (RT correspondence, Redmine public note)
	KindNote     ChangeKind = "note"     // an internal note (RT comment, Redmine private note)
	KindStatus   ChangeKind = "status"   // Status holds helpmesh's status name
	KindPriority ChangeKind = "priority" // Priority holds helpmesh's priority name
)

// Ticket is a ticket as sent to a peer when it is created there, or as
// read from a peer by an import.
type Ticket struct {
	Subject   string
	Body      string // the first message, plain text
	Requester Person
	Status    string // helpmesh status name
	Priority  string // helpmesh priority name
	Created   time.Time
	Updated   time.Time
	// LocalID is helpmesh's ticket id when sent; empty when read.
	LocalID int64
	// Attachments of the first message.
	Attachments []Attachment
	// Ref and History are set when read from a peer (import): every
	// change after creation, oldest first.
	Ref     Ref
	History []Change
}

// Change is one change to a ticket, sent to a peer or read from it.
// Status and priority are always helpmesh's names: a peer kind maps them
// to and from its own (research/federation.md §3 has the mapping).
type Change struct {
	Kind        ChangeKind
	Body        string
	Author      Person
	Status      string
	Priority    string
	Attachments []Attachment
	At          time.Time
	// RemoteID identifies the change on the peer (RT transaction id,
	// Redmine journal id, the peer helpmesh's event id): the engine keeps
	// the ids it has applied, so a change read twice is applied once.
	RemoteID string
	// Ticket is the ticket the change belongs to (set by Poll).
	Ticket Ref
}

// Peer is one kind of ticketing system, configured with its URL and
// token. Errors are wrapped; an error that retrying cannot fix (401,
// 403, 404 of the ticket, a response that does not parse) wraps
// ErrPermanent, anything else (timeouts, 5xx, refused connections) is
// retried by the engine with backoff.
type Peer interface {
	// Create opens the ticket on the peer.
	Create(ctx context.Context, t Ticket) (Ref, error)
	// Push applies one change of helpmesh's to the peer's ticket.
	Push(ctx context.Context, ref Ref, c Change) error
	// Poll returns the changes made on the peer to the tickets in refs
	// since cursor (opaque; "" is "from now": the first call only
	// returns a cursor), oldest first, and the next cursor. Changes made
	// by the connector's own account are echoes of helpmesh's and are
	// left out here.
	Poll(ctx context.Context, cursor string, refs []Ref) (changes []Change, next string, err error)
}

// Fetcher is a peer that reads one ticket as it is now, for
// reconciliation (reconcile.go): its Status and Priority (helpmesh's
// names) and, in History, every change made to it on the peer by anyone
// but the connector's own account, oldest first, with the same RemoteIDs
// Poll gives them (so that a change polled before is not applied twice).
// A ticket the peer no longer has wraps ErrPermanent.
type Fetcher interface {
	Fetch(ctx context.Context, ref Ref) (Ticket, error)
}

// Source is a peer that `helpmesh import` copies tickets from.
type Source interface {
	// Tickets returns one page of tickets with their full history,
	// oldest first, and the cursor of the next page ("" at the end).
	// total is the number of tickets in all, or -1 when unknown.
	Tickets(ctx context.Context, cursor string) (page []Ticket, next string, total int, err error)
}

// errPermanent is the type of ErrPermanent.
type errPermanent struct{}

func (errPermanent) Error() string { return "the peer refused the request for good" }

// ErrPermanent marks an error that retrying cannot fix.
var ErrPermanent error = errPermanent{}
