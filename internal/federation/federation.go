// Package federation is helpmesh's side of the helpmesh to helpmesh
// federation (the TMF621 profile of package tmf621; the HTTP is package
// fedapi). Serving: the accounts an administrator registered as peers act
// as auth.Peer on the tickets they opened here; they read and change
// those tickets, read the catch-up feed of their changes and subscribe to
// the hub, which pushes signed deliveries to them. Receiving: deliveries
// pushed by the helpmesh peers this instance subscribed to are verified,
// remembered by webhook-id and handed to the connector engine once.
package federation

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/blob"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/tmf621"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// Units finds the unit a peer names.
type Units interface {
	Unit(ctx context.Context, slug string) (*unit.Unit, error)
}

// URLChecker refuses callback URLs that HELPMESH_OUTBOUND_ALLOW and the
// public Internet do not allow.
type URLChecker interface {
	CheckURL(ctx context.Context, raw string) error
}

// Poster sends a delivery (outbound.Poster).
type Poster interface {
	Post(ctx context.Context, url string, header map[string]string, body []byte) (int, error)
}

// Options configures a Store.
type Options struct {
	Tickets *ticket.Store
	Users   *user.Store
	Units   Units
	Events  *event.Log
	Checker URLChecker
	Poster  Poster
	// BaseURL is this instance's public URL (for the href of tickets).
	BaseURL string
	// Blobs stores the files of notes peers add and reads the files the
	// feed carries; MaxFile bounds one file a peer sends (default 10 MiB,
	// the instance's attachment limit). Without Blobs, notes carry no
	// files.
	Blobs   blob.Store
	MaxFile int64
	// BackoffBase is the first retry delay of a delivery (doubling).
	BackoffBase time.Duration
	// Poll is how often the sender looks for due deliveries when nothing
	// woke it (default 250 ms).
	Poll time.Duration
	// Apply applies a delivery pushed by a peer this instance subscribed
	// to (connector name, the delivery): the engine reads that peer's feed
	// and applies what it has not yet. An error leaves the delivery
	// unacknowledged (503), so that the peer pushes it again. Nil: nothing
	// is applied.
	Apply func(ctx context.Context, connector string, d tmf621.Delivery) error
	Now   func() time.Time
	Log   *slog.Logger
}

// Store serves and receives federation.
type Store struct {
	db   *db.DB
	opts Options
	kick chan struct{}
}

// New returns the Store on d.
func New(d *db.DB, o Options) *Store {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = 5 * time.Second
	}
	if o.MaxFile <= 0 {
		o.MaxFile = 10 << 20
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	return &Store{db: d, opts: o, kick: make(chan struct{}, 1)}
}

func (s *Store) now() time.Time { return s.opts.Now().UTC() }

// MaxPeerName bounds a peer's name.
const MaxPeerName = 100

// RegisterPeer makes the account userID a peer named name (its history
// label is "peer <name>"); administrators only.
func (s *Store) RegisterPeer(ctx context.Context, admin *auth.Principal, userID int64, name string) error {
	if !admin.IsAdmin() {
		return apperr.New(apperr.Forbidden, "only administrators register peers")
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > MaxPeerName {
		return apperr.Field("name", "is required, at most %d characters", MaxPeerName)
	}
	if userID <= 0 {
		return apperr.Field("user_id", "is required")
	}
	if _, err := s.opts.Users.Get(ctx, userID); err != nil {
		return err
	}
	err := s.db.Tx(ctx, func(q db.Querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO federation_peers (user_id, name, created_at) VALUES ($1, $2, $3)`, userID, name, s.now())
		return err
	})
	if db.IsUniqueViolation(err) {
		return apperr.New(apperr.Conflict, "the account or the name %q is a peer already", name)
	}
	if err != nil {
		return fmt.Errorf("federation: register peer: %w", err)
	}
	return nil
}

// Peer returns the peer principal of the account p authenticated as:
// auth.Peer named as registered, acting as that account (its messages'
// author), linked to the tickets it opened here. An account that is not
// a peer is Forbidden.
func (s *Store) Peer(ctx context.Context, p *auth.Principal) (*auth.Principal, error) {
	if !p.IsPerson() || p.UserID == 0 {
		return nil, apperr.New(apperr.Forbidden, "federation is for peer accounts")
	}
	var name string
	err := s.db.Reader().QueryRowContext(ctx, `SELECT name FROM federation_peers WHERE user_id = $1`, p.UserID).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.Forbidden, "this account is not registered as a federation peer")
	}
	if err != nil {
		return nil, fmt.Errorf("federation: peer: %w", err)
	}
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT ticket_id FROM federation_tickets WHERE peer_id = $1`, p.UserID)
	if err != nil {
		return nil, fmt.Errorf("federation: peer: %w", err)
	}
	ids, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("federation: peer: %w", err)
	}
	pp := auth.Peer(name, ids...)
	pp.UserID, pp.Email, pp.ReadOnly = p.UserID, p.Email, p.ReadOnly
	return pp, nil
}

// linked tells whether ticket id is one the peer opened.
func linked(peer *auth.Principal, id int64) bool {
	for _, t := range peer.TicketIDs() {
		if t == id {
			return true
		}
	}
	return false
}

// newSecret returns a whsec_ secret for a hub subscription.
func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// Invalid turns tmf621's validation errors into apperr's Invalid.
func Invalid(err error) error {
	if errors.Is(err, tmf621.ErrInvalid) {
		return apperr.New(apperr.Invalid, "%s", strings.TrimPrefix(err.Error(), tmf621.ErrInvalid.Error()+": "))
	}
	return err
}
