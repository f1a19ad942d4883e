// Package webhook keeps the webhooks that subscribe to the event stream
// and delivers their events (DESIGN.md, "Webhooks").
//
// The follower "webhooks" of the event stream matches each event to the
// webhooks that want it and inserts one delivery per (event, webhook) in
// the transaction that moves its position: each is queued exactly once,
// crash or not. The deliveries are the log shown to administrators and the
// queue a worker sends from: due ones are claimed (FOR UPDATE SKIP LOCKED
// on PostgreSQL), sent with Standard Webhooks signatures, and each attempt
// is recorded on its row; a failure is retried with exponential backoff
// under the same webhook-id until MaxAttempts, then the delivery is dead.
// The HTTP request itself is made by a Poster (package outbound), so this
// package needs no net/http.
package webhook

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
)

// AllEvents subscribes a webhook to every event type.
const AllEvents = "*"

// Webhook is one subscription.
type Webhook struct {
	ID     int64
	URL    string
	Events []string // event types, or ["*"]
	// UnitID scopes the webhook to the events of one unit's tickets; 0
	// means every event (administrators only).
	UnitID    int64
	CreatedAt time.Time
	// Secret is the signing key, whsec_ + base64; set only in the answer
	// to Create.
	Secret string
	// secret is the key, for the sender.
	secret string
	// Format is "" for a webhook, the chat service's for a unit's chat
	// (see Chat).
	Format string
}

// NewWebhook is what Create takes.
type NewWebhook struct {
	URL    string
	Events []string
	UnitID int64
}

// URLChecker checks an outbound URL against the allow-list (package
// outbound).
type URLChecker interface {
	CheckURL(ctx context.Context, raw string) error
}

// TicketUnits tells the unit each ticket is in (package ticket).
type TicketUnits interface {
	UnitsOf(ctx context.Context, ids []int64) (map[int64]int64, error)
}

// Poster sends one request: body by POST to url with the headers. It
// returns the answer's status code, or an error when no answer came.
type Poster interface {
	Post(ctx context.Context, url string, header map[string]string, body []byte) (int, error)
}

// Options configures a Store.
type Options struct {
	Checker URLChecker
	Units   TicketUnits
	// Briefs and BaseURL (the instance's public URL) make the chat posts.
	Briefs  TicketBriefs
	BaseURL string
	Poster  Poster
	Log     *slog.Logger
	Now     func() time.Time
	// BackoffBase is the wait before the first retry (default 30s); it
	// doubles at each attempt up to BackoffMax (default 2h).
	BackoffBase, BackoffMax time.Duration
	// MaxAttempts is how many times a delivery is tried before it is dead
	// (default 12: about eleven hours with the default backoff).
	MaxAttempts int
	// Workers send at once (default 4); Poll is how often the worker looks
	// for due deliveries queued by other nodes or due for a retry (default
	// 1s).
	Workers int
	Poll    time.Duration
}

// Store keeps webhooks and their deliveries.
type Store struct {
	db   *db.DB
	opts Options
	wake chan struct{}
	hand handoff // fresh deliveries from the followers to the worker
}

// NewStore returns the webhook store of d.
func NewStore(d *db.DB, opts Options) *Store {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 30 * time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 2 * time.Hour
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 12
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	return &Store{db: d, opts: opts, wake: make(chan struct{}, 1)}
}

func (s *Store) now() time.Time { return s.opts.Now().UTC() }

// CanManage tells whether p may create, see and delete a webhook scoped
// to unitID (0: unscoped): administrators for all, a unit's admins for
// their unit's.
func CanManage(p *auth.Principal, unitID int64) bool {
	if unitID == 0 {
		return p.IsAdmin()
	}
	return p.CanManageUnit(unitID)
}

// checkEvents validates a subscription's event types and returns them
// sorted without duplicates.
func checkEvents(evs []string) ([]string, error) {
	if len(evs) == 0 {
		return nil, apperr.Field("events", `must list event types, or be ["*"] for all`)
	}
	if slices.Contains(evs, AllEvents) {
		if len(evs) != 1 {
			return nil, apperr.Field("events", `"*" stands alone: it means every type`)
		}
		return []string{AllEvents}, nil
	}
	out := make([]string, 0, len(evs))
	for _, t := range evs {
		if !slices.Contains(event.Types, t) {
			if len(t) > 64 {
				t = t[:64]
			}
			return nil, apperr.Field("events", "%q is not an event type (one of %s, or \"*\")", t, strings.Join(event.Types, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// newSecret returns a signing secret: whsec_ and the base64 of 32 random
// bytes.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// Create checks and stores a webhook for p, and returns it with its
// secret (shown this once).
func (s *Store) Create(ctx context.Context, p *auth.Principal, nw NewWebhook) (*Webhook, error) {
	if !CanManage(p, nw.UnitID) {
		if nw.UnitID == 0 {
			return nil, apperr.New(apperr.Forbidden, "only administrators may create a webhook for every event; a unit's admins give their unit")
		}
		return nil, apperr.New(apperr.Forbidden, "only administrators and the unit's admins may create its webhooks")
	}
	evs, err := checkEvents(nw.Events)
	if err != nil {
		return nil, err
	}
	if s.opts.Checker == nil {
		return nil, fmt.Errorf("webhook: no URL checker")
	}
	if err := s.opts.Checker.CheckURL(ctx, nw.URL); err != nil {
		return nil, apperr.Field("url", "%v", err)
	}
	w := &Webhook{URL: nw.URL, Events: evs, UnitID: nw.UnitID, CreatedAt: s.now(), Secret: newSecret()}
	var unit, by any
	if nw.UnitID != 0 {
		unit = nw.UnitID
	}
	if p.UserID != 0 {
		by = p.UserID
	}
	err = s.db.Tx(ctx, func(q db.Querier) error {
		id, err := s.db.InsertID(ctx, q, `INSERT INTO webhooks (url, events, unit_id, secret, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			w.URL, strings.Join(evs, " "), unit, w.Secret, by, w.CreatedAt)
		w.ID = id
		return err
	})
	if db.IsForeignKeyViolation(err) {
		return nil, apperr.Field("unit", "no such unit")
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: create: %w", err)
	}
	return w, nil
}

const webhookColumns = `id, url, events, COALESCE(unit_id, 0), secret, created_at, format`

func scanWebhook(r interface{ Scan(...any) error }) (*Webhook, error) {
	w := &Webhook{}
	var evs string
	if err := r.Scan(&w.ID, &w.URL, &evs, &w.UnitID, &w.secret, &w.CreatedAt, &w.Format); err != nil {
		return nil, err
	}
	w.Events = strings.Fields(evs)
	w.CreatedAt = w.CreatedAt.UTC()
	return w, nil
}

// all returns every webhook, for the follower and the sender.
func (s *Store) all(ctx context.Context) ([]*Webhook, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("webhook: list: %w", err)
	}
	ws, err := db.Collect(rows, scanWebhook)
	if err != nil {
		return nil, fmt.Errorf("webhook: list: %w", err)
	}
	return ws, nil
}

// List returns the webhooks p may manage, oldest first.
func (s *Store) List(ctx context.Context, p *auth.Principal) ([]*Webhook, error) {
	ws, err := s.all(ctx)
	if err != nil {
		return nil, err
	}
	out := ws[:0]
	for _, w := range ws {
		if w.Format == "" && CanManage(p, w.UnitID) {
			out = append(out, w)
		}
	}
	return out, nil
}

// Get returns webhook id if p may manage it; otherwise it is not found.
func (s *Store) Get(ctx context.Context, p *auth.Principal, id int64) (*Webhook, error) {
	w, err := scanWebhook(s.db.Reader().QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1 AND format = ''`, id))
	if errors.Is(err, sql.ErrNoRows) || err == nil && !CanManage(p, w.UnitID) {
		return nil, apperr.New(apperr.NotFound, "no webhook %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: get %d: %w", id, err)
	}
	return w, nil
}

// Delete removes webhook id and its delivery log, if p may manage it.
func (s *Store) Delete(ctx context.Context, p *auth.Principal, id int64) error {
	if _, err := s.Get(ctx, p, id); err != nil {
		return err
	}
	err := s.db.Tx(ctx, func(q db.Querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = $1`, id); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM webhooks WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("webhook: delete %d: %w", id, err)
	}
	return nil
}
