// Package subscription holds the subscriptions to service updates by mail
// made on the public status page, and the announcements staff send to the
// requesters and subscribers of services.
//
// A subscription is asked for with an address and services (all, or some);
// it mails nothing until its address confirms it through a signed link that
// works once (Confirm). Each mail to a subscriber carries a signed
// unsubscribe link (Unsubscribe). Requests are throttled: one confirmation
// mail per address per Options.Throttle, and Options.PerIP requests per
// hour from one client address, so that nobody can mail-bomb another
// address through the form. Who is told of an incident, change or
// announcement is decided by package notify, which reads Subscribers and
// Requesters here; package mail composes and delivers.
package subscription

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// Defaults of Options.
const (
	DefaultThrottle   = 10 * time.Minute
	DefaultPerIP      = 10
	DefaultConfirmTTL = 48 * time.Hour
	// forgetUnconfirmed: a request never confirmed is deleted this long
	// after its link expired.
	forgetUnconfirmed = 7 * 24 * time.Hour
	// MaxServices bounds the services of one request or announcement.
	MaxServices = 100
)

// Services is the catalogue (the unit store).
type Services interface {
	Service(ctx context.Context, slug string) (*unit.Service, error)
	Services(ctx context.Context) ([]*unit.Service, error)
}

// Confirmation is the mail that asks an address to confirm its
// subscription: Token goes into the confirmation link.
type Confirmation struct {
	To    string
	All   bool
	Names []string // the services' names when not All
	Token string
}

// Emit appends an event to the stream in the change's transaction q.
type Emit func(ctx context.Context, q db.Querier, typ string, data any) error

// Options configure a Store. Services and Secret are required.
type Options struct {
	Services Services
	// Secret signs the confirmation and unsubscribe links.
	Secret []byte
	// Confirm queues the confirmation mail in the request's transaction q
	// (the mail gateway's outbox).
	Confirm func(ctx context.Context, q db.Querier, c Confirmation) error
	// Emit appends announcement.created (announcement.go).
	Emit Emit
	// Progress tells how many mails an announcement made and how many of
	// them were sent (the outbox); without it both are 0.
	Progress func(ctx context.Context, announcementID int64) (recipients, sent int, err error)
	// Throttle: one confirmation mail per address per Throttle.
	Throttle time.Duration
	// PerIP: requests from one client address per hour.
	PerIP int
	// ConfirmTTL: how long a confirmation link works.
	ConfirmTTL time.Duration
	// RequesterWindow: an announcement's requesters are the people with
	// tickets on its services updated within this time (default 90 days).
	RequesterWindow time.Duration
	Now             func() time.Time
}

// Store reads and writes subscriptions and announcements.
type Store struct {
	db   *db.DB
	opts Options
}

// NewStore returns a Store on d.
func NewStore(d *db.DB, opts Options) (*Store, error) {
	if opts.Services == nil || len(opts.Secret) == 0 {
		return nil, errors.New("subscription: Services and Secret are required")
	}
	if opts.Confirm == nil {
		opts.Confirm = func(context.Context, db.Querier, Confirmation) error { return nil }
	}
	if opts.Emit == nil {
		opts.Emit = func(context.Context, db.Querier, string, any) error { return nil }
	}
	if opts.Throttle <= 0 {
		opts.Throttle = DefaultThrottle
	}
	if opts.PerIP <= 0 {
		opts.PerIP = DefaultPerIP
	}
	if opts.ConfirmTTL <= 0 {
		opts.ConfirmTTL = DefaultConfirmTTL
	}
	if opts.RequesterWindow <= 0 {
		opts.RequesterWindow = DefaultRequesterWindow
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{db: d, opts: opts}, nil
}

func (s *Store) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// Subscription is one address's subscription.
type Subscription struct {
	ID          int64
	Email       string
	All         bool
	Services    []string // slugs, when not All
	ConfirmedAt *time.Time
	RequestedAt time.Time
}

// Subscriber is a confirmed address told of a service, with the token of
// its unsubscribe link.
type Subscriber struct {
	Addr        string
	Unsubscribe string
}

// resolve checks slugs and returns the services, each once.
func (s *Store) resolve(ctx context.Context, field string, slugs []string) ([]*unit.Service, error) {
	if len(slugs) > MaxServices {
		return nil, apperr.Field(field, "names more than %d services", MaxServices)
	}
	var out []*unit.Service
	seen := map[string]bool{}
	for i, slug := range slugs {
		if err := unit.CheckSlug(fmt.Sprintf("%s[%d]", field, i), slug); err != nil {
			return nil, err
		}
		if seen[slug] {
			continue
		}
		seen[slug] = true
		sv, err := s.opts.Services.Service(ctx, slug)
		if apperr.Is(err, apperr.NotFound) {
			return nil, apperr.Field(field, "no service %q", slug)
		}
		if err != nil {
			return nil, fmt.Errorf("subscription: service %s: %w", slug, err)
		}
		out = append(out, sv)
	}
	return out, nil
}

// Request asks for a subscription of email to services (none: all), from
// client address ip, and queues the confirmation mail. An address that
// had a confirmation mail within Throttle gets no other (the answer is the
// same, so that the form tells nobody what is subscribed); a client
// address over PerIP requests in the last hour is RateLimited.
func (s *Store) Request(ctx context.Context, email string, services []string, ip string) error {
	addr, err := user.NormalizeEmail(email)
	if err != nil {
		return err
	}
	svs, err := s.resolve(ctx, "services", services)
	if err != nil {
		return err
	}
	ip = strings.TrimSpace(ip)
	if len(ip) > 64 {
		ip = ip[:64]
	}
	now := s.now()
	nonce, err := randomHex()
	if err != nil {
		return err
	}
	unsub, err := randomHex()
	if err != nil {
		return err
	}
	ids := make([]string, len(svs))
	names := make([]string, len(svs))
	for i, sv := range svs {
		ids[i], names[i] = strconv.FormatInt(sv.ID, 10), sv.Name
	}
	all := len(svs) == 0
	return s.db.Tx(ctx, func(q db.Querier) error {
		// Requests never confirmed are forgotten a week after their link
		// expired.
		if _, err := q.ExecContext(ctx, `DELETE FROM subscriptions WHERE confirmed_at IS NULL AND requested_at < $1`, now.Add(-s.opts.ConfirmTTL-forgetUnconfirmed)); err != nil {
			return fmt.Errorf("subscription: request: %w", err)
		}
		if ip != "" {
			var n int
			if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM subscriptions WHERE request_ip = $1 AND requested_at > $2`, ip, now.Add(-time.Hour)).Scan(&n); err != nil {
				return fmt.Errorf("subscription: request: %w", err)
			}
			if n >= s.opts.PerIP {
				return apperr.New(apperr.RateLimited, "too many subscription requests from this address; try again in an hour")
			}
		}
		var id int64
		var requested time.Time
		var nonceNow string
		err := q.QueryRowContext(ctx, `SELECT id, requested_at, confirm_nonce FROM subscriptions WHERE email = $1`, addr).Scan(&id, &requested, &nonceNow)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			id, err = s.db.InsertID(ctx, q, `INSERT INTO subscriptions (email, pending_all, pending_services, confirm_nonce, unsubscribe_nonce, requested_at, request_ip)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, addr, all, strings.Join(ids, ","), nonce, unsub, now, ip)
			if err != nil {
				return fmt.Errorf("subscription: request: %w", err)
			}
		case err != nil:
			return fmt.Errorf("subscription: request: %w", err)
		case nonceNow != "" && now.Sub(requested) < s.opts.Throttle:
			return nil // a confirmation mail went out lately: no other
		default:
			if _, err := q.ExecContext(ctx, `UPDATE subscriptions SET pending_all = $1, pending_services = $2, confirm_nonce = $3, requested_at = $4, request_ip = $5 WHERE id = $6`,
				all, strings.Join(ids, ","), nonce, now, ip, id); err != nil {
				return fmt.Errorf("subscription: request: %w", err)
			}
		}
		return s.opts.Confirm(ctx, q, Confirmation{To: addr, All: all, Names: names, Token: s.sign(confirmPurpose, id, nonce)})
	})
}

// Confirm confirms the subscription of a confirmation token: what its
// request asked for replaces what the address had. The token works once
// and for ConfirmTTL.
func (s *Store) Confirm(ctx context.Context, token string) (*Subscription, error) {
	id, nonce, ok := s.verify(confirmPurpose, token)
	if !ok {
		return nil, invalidLink
	}
	now := s.now()
	var sub *Subscription
	err := s.db.Tx(ctx, func(q db.Querier) error {
		var stored, pending string
		var pendingAll bool
		var requested time.Time
		err := q.QueryRowContext(ctx, `SELECT confirm_nonce, pending_all, pending_services, requested_at FROM subscriptions WHERE id = $1`, id).Scan(&stored, &pendingAll, &pending, &requested)
		if errors.Is(err, sql.ErrNoRows) {
			return invalidLink
		}
		if err != nil {
			return fmt.Errorf("subscription: confirm: %w", err)
		}
		if stored == "" || subtle.ConstantTimeCompare([]byte(stored), []byte(nonce)) != 1 || now.Sub(requested) > s.opts.ConfirmTTL {
			return invalidLink
		}
		if _, err := q.ExecContext(ctx, `UPDATE subscriptions SET all_services = $1, confirmed_at = $2, confirm_nonce = '', pending_services = '' WHERE id = $3`,
			pendingAll, now, id); err != nil {
			return fmt.Errorf("subscription: confirm: %w", err)
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM subscription_services WHERE subscription_id = $1`, id); err != nil {
			return fmt.Errorf("subscription: confirm: %w", err)
		}
		for _, sid := range strings.Split(pending, ",") {
			if sid == "" || pendingAll {
				continue
			}
			// A service removed since is skipped.
			if _, err := q.ExecContext(ctx, `INSERT INTO subscription_services (subscription_id, service_id) SELECT $1, id FROM services WHERE id = $2`, id, sid); err != nil {
				return fmt.Errorf("subscription: confirm: %w", err)
			}
		}
		subs, err := s.list(ctx, q, `s.id = $1`, id)
		if err != nil {
			return err
		}
		if len(subs) == 1 {
			sub = subs[0]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sub, nil
}

// invalidLink is the answer to a link that is forged, used, expired or
// of a subscription that is gone.
var invalidLink = apperr.New(apperr.NotFound, "this link is not valid (any more)")

// Unsubscribe ends the subscription of an unsubscribe token and returns
// its address. A link of a subscription already ended is NotFound.
func (s *Store) Unsubscribe(ctx context.Context, token string) (string, error) {
	id, nonce, ok := s.verify(unsubscribePurpose, token)
	if !ok {
		return "", invalidLink
	}
	var email string
	err := s.db.Tx(ctx, func(q db.Querier) error {
		var stored string
		err := q.QueryRowContext(ctx, `SELECT email, unsubscribe_nonce FROM subscriptions WHERE id = $1`, id).Scan(&email, &stored)
		if errors.Is(err, sql.ErrNoRows) {
			return invalidLink
		}
		if err != nil {
			return fmt.Errorf("subscription: unsubscribe: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(stored), []byte(nonce)) != 1 {
			return invalidLink
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM subscriptions WHERE id = $1`, id); err != nil {
			return fmt.Errorf("subscription: unsubscribe: %w", err)
		}
		return nil
	})
	return email, err
}

// Subscribers returns the confirmed subscribers of any of the services
// (slugs), each once, with their unsubscribe tokens.
func (s *Store) Subscribers(ctx context.Context, services []string) ([]Subscriber, error) {
	args := []any{}
	in := make([]string, len(services))
	for i, slug := range services {
		args = append(args, slug)
		in[i] = "$" + strconv.Itoa(len(args))
	}
	where := `s.all_services`
	if len(services) > 0 {
		where += ` OR s.id IN (SELECT ss.subscription_id FROM subscription_services ss JOIN services sv ON sv.id = ss.service_id WHERE sv.slug IN (` + strings.Join(in, ", ") + `))`
	}
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT s.id, s.email, s.unsubscribe_nonce FROM subscriptions s
		WHERE s.confirmed_at IS NOT NULL AND (`+where+`) ORDER BY s.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("subscription: subscribers: %w", err)
	}
	out, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (Subscriber, error) {
		var id int64
		var sub Subscriber
		var nonce string
		if err := r.Scan(&id, &sub.Addr, &nonce); err != nil {
			return sub, err
		}
		sub.Unsubscribe = s.sign(unsubscribePurpose, id, nonce)
		return sub, nil
	})
	if err != nil {
		return nil, fmt.Errorf("subscription: subscribers: %w", err)
	}
	return out, nil
}

// List returns the subscriptions (confirmed or not) for p: an
// administrator sees all, or those of service; a unit admin those of a
// service of their unit, which they must name. Subscriptions to all
// services count for every service.
func (s *Store) List(ctx context.Context, p *auth.Principal, service string) ([]*Subscription, error) {
	if service == "" {
		if !p.IsAdmin() {
			return nil, apperr.New(apperr.Forbidden, "name a service of a unit you administer (?service=)")
		}
		return s.list(ctx, s.db.Reader(), `TRUE`)
	}
	svs, err := s.resolve(ctx, "service", []string{service})
	if err != nil {
		return nil, err
	}
	if !p.CanManageUnit(svs[0].UnitID) {
		return nil, apperr.New(apperr.Forbidden, "only administrators of the unit of %s see its subscribers", service)
	}
	return s.list(ctx, s.db.Reader(), `s.all_services OR s.id IN (SELECT subscription_id FROM subscription_services WHERE service_id = $1)`, svs[0].ID)
}

// Counts returns, per service slug, its confirmed subscribers, and
// apart those of all services (who count for every service).
func (s *Store) Counts(ctx context.Context) (map[string]int, int, error) {
	var all int
	if err := s.db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM subscriptions WHERE confirmed_at IS NOT NULL AND all_services`).Scan(&all); err != nil {
		return nil, 0, fmt.Errorf("subscription: counts: %w", err)
	}
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT sv.slug, COUNT(*) FROM subscription_services ss
		JOIN subscriptions s ON s.id = ss.subscription_id JOIN services sv ON sv.id = ss.service_id
		WHERE s.confirmed_at IS NOT NULL AND NOT s.all_services GROUP BY sv.slug`)
	if err != nil {
		return nil, 0, fmt.Errorf("subscription: counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var slug string
		var n int
		if err := rows.Scan(&slug, &n); err != nil {
			return nil, 0, fmt.Errorf("subscription: counts: %w", err)
		}
		out[slug] = n
	}
	return out, all, rows.Err()
}

func (s *Store) list(ctx context.Context, q db.Querier, where string, args ...any) ([]*Subscription, error) {
	rows, err := q.QueryContext(ctx, `SELECT s.id, s.email, s.all_services, s.confirmed_at, s.requested_at FROM subscriptions s WHERE `+where+` ORDER BY s.email LIMIT 10000`, args...)
	if err != nil {
		return nil, fmt.Errorf("subscription: list: %w", err)
	}
	subs, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (*Subscription, error) {
		sub := &Subscription{}
		var confirmed sql.NullTime
		if err := r.Scan(&sub.ID, &sub.Email, &sub.All, &confirmed, &sub.RequestedAt); err != nil {
			return nil, err
		}
		if confirmed.Valid {
			t := confirmed.Time.UTC()
			sub.ConfirmedAt = &t
		}
		sub.RequestedAt = sub.RequestedAt.UTC()
		return sub, nil
	})
	if err != nil {
		return nil, fmt.Errorf("subscription: list: %w", err)
	}
	if len(subs) == 0 {
		return subs, nil
	}
	byID := map[int64]*Subscription{}
	for _, sub := range subs {
		byID[sub.ID] = sub
	}
	rows, err = q.QueryContext(ctx, `SELECT ss.subscription_id, sv.slug FROM subscription_services ss JOIN services sv ON sv.id = ss.service_id
		JOIN subscriptions s ON s.id = ss.subscription_id WHERE `+where+` ORDER BY sv.slug`, args...)
	if err != nil {
		return nil, fmt.Errorf("subscription: list: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var slug string
		if err := rows.Scan(&id, &slug); err != nil {
			return nil, fmt.Errorf("subscription: list: %w", err)
		}
		if sub := byID[id]; sub != nil && !slices.Contains(sub.Services, slug) {
			sub.Services = append(sub.Services, slug)
		}
	}
	return subs, rows.Err()
}

// Purposes of signed links.
const (
	confirmPurpose     = "confirm"
	unsubscribePurpose = "unsubscribe"
)

// sign returns the link token id.nonce.mac of purpose.
func (s *Store) sign(purpose string, id int64, nonce string) string {
	body := strconv.FormatInt(id, 10) + "." + nonce
	return body + "." + s.mac(purpose, body)
}

func (s *Store) mac(purpose, body string) string {
	h := hmac.New(sha256.New, s.opts.Secret)
	h.Write([]byte("subscription " + purpose + "\x00" + body))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
}

// verify checks a token of purpose and returns its id and nonce.
func (s *Store) verify(purpose, token string) (int64, string, bool) {
	if len(token) > 200 {
		return 0, "", false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return 0, "", false
	}
	id, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || id <= 0 || parts[1] == "" {
		return 0, "", false
	}
	want := s.mac(purpose, parts[0]+"."+parts[1])
	if !hmac.Equal([]byte(want), []byte(parts[2])) {
		return 0, "", false
	}
	return id, parts[1], true
}

func randomHex() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("subscription: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}
