package subscription

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/plaintext"
)

// Audiences of an announcement.
const (
	AudienceRequesters  = "requesters"  // people with tickets on its services lately
	AudienceSubscribers = "subscribers" // confirmed subscribers of its services
)

// DefaultRequesterWindow: the requesters of a service are the people with
// a ticket on it updated in the last 90 days.
const DefaultRequesterWindow = 90 * 24 * time.Hour

// Limits of an announcement.
const (
	MaxTitle = 200
	MaxBody  = 20000
)

// Announcement is a message from staff to the requesters and subscribers
// of services, mailed once to each and archived on the status page.
type Announcement struct {
	ID        int64
	Title     string
	Body      string
	Services  []string // slugs
	Audience  []string
	CreatedAt time.Time
	// Recipients is how many mails it made, Sent how many of them went out
	// (Options.Progress).
	Recipients, Sent int
}

// NewAnnouncement is what staff write.
type NewAnnouncement struct {
	Title    string
	Body     string
	Services []string
	Audience []string
}

// EventData is the data of announcement.created.
type EventData struct {
	ID       int64    `json:"id"`
	Title    string   `json:"title"`
	Body     string   `json:"body"`
	Services []string `json:"services"`
	Audience []string `json:"audience"`
}

// Announce checks and stores an announcement by p, an administrator or an
// admin of the unit of every service named, and appends its event in the
// same transaction: the mail gateway then mails its audience.
func (s *Store) Announce(ctx context.Context, p *auth.Principal, n NewAnnouncement) (*Announcement, error) {
	if !p.IsPerson() || p.ReadOnly {
		return nil, apperr.New(apperr.Forbidden, "%s may not send announcements", p.Label())
	}
	a := &Announcement{}
	if len(n.Services) == 0 {
		return nil, apperr.Field("services", "name at least one service")
	}
	svs, err := s.resolve(ctx, "services", n.Services)
	if err != nil {
		return nil, err
	}
	for _, sv := range svs {
		if !p.CanManageUnit(sv.UnitID) {
			return nil, apperr.New(apperr.Forbidden, "only administrators of the unit of %s may announce to its users", sv.Slug)
		}
		a.Services = append(a.Services, sv.Slug)
	}
	if a.Title, err = plaintext.Check("title", n.Title, MaxTitle, true, false); err != nil {
		return nil, err
	}
	if a.Body, err = plaintext.Check("body", n.Body, MaxBody, true, true); err != nil {
		return nil, err
	}
	if len(n.Audience) == 0 {
		return nil, apperr.Field("audience", "name requesters, subscribers or both")
	}
	for i, au := range n.Audience {
		if au != AudienceRequesters && au != AudienceSubscribers {
			return nil, apperr.Field(fmt.Sprintf("audience[%d]", i), "%q is not requesters or subscribers", au)
		}
		if !slices.Contains(a.Audience, au) {
			a.Audience = append(a.Audience, au)
		}
	}
	slices.Sort(a.Audience)
	a.CreatedAt = s.now()
	var by any
	if p.UserID != 0 {
		by = p.UserID
	}
	err = s.db.Tx(ctx, func(q db.Querier) error {
		id, err := s.db.InsertID(ctx, q, `INSERT INTO announcements (title, body, audience, created_by, created_at) VALUES ($1, $2, $3, $4, $5)`,
			a.Title, a.Body, strings.Join(a.Audience, ","), by, a.CreatedAt)
		if err != nil {
			return fmt.Errorf("subscription: announce: %w", err)
		}
		a.ID = id
		for _, sv := range svs {
			if _, err := q.ExecContext(ctx, `INSERT INTO announcement_services (announcement_id, service_id) VALUES ($1, $2)`, id, sv.ID); err != nil {
				return fmt.Errorf("subscription: announce: %w", err)
			}
		}
		return s.opts.Emit(ctx, q, event.AnnouncementCreated, EventData{ID: id, Title: a.Title, Body: a.Body, Services: a.Services, Audience: a.Audience})
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Announcement returns announcement id with its progress.
func (s *Store) Announcement(ctx context.Context, id int64) (*Announcement, error) {
	as, err := s.announcements(ctx, `a.id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, apperr.New(apperr.NotFound, "no such announcement")
	}
	a := as[0]
	if s.opts.Progress != nil {
		if a.Recipients, a.Sent, err = s.opts.Progress(ctx, a.ID); err != nil {
			return nil, fmt.Errorf("subscription: announcement %d: %w", id, err)
		}
	}
	return a, nil
}

// Announcements returns the newest announcements, before id before (0:
// from the newest), at most limit.
func (s *Store) Announcements(ctx context.Context, before int64, limit int) ([]*Announcement, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	return s.announcements(ctx, `a.id < $1 ORDER BY a.id DESC LIMIT `+strconv.Itoa(max(1, limit)), before)
}

func (s *Store) announcements(ctx context.Context, where string, args ...any) ([]*Announcement, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT a.id, a.title, a.body, a.audience, a.created_at FROM announcements a WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("subscription: announcements: %w", err)
	}
	as, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (*Announcement, error) {
		a := &Announcement{}
		var audience string
		if err := r.Scan(&a.ID, &a.Title, &a.Body, &audience, &a.CreatedAt); err != nil {
			return nil, err
		}
		a.Audience = strings.Split(audience, ",")
		a.CreatedAt = a.CreatedAt.UTC()
		a.Services = []string{}
		return a, nil
	})
	if err != nil {
		return nil, fmt.Errorf("subscription: announcements: %w", err)
	}
	if len(as) == 0 {
		return as, nil
	}
	byID := map[int64]*Announcement{}
	ids := make([]string, len(as))
	for i, a := range as {
		byID[a.ID] = a
		ids[i] = strconv.FormatInt(a.ID, 10) // numbers from the database
	}
	rows, err = s.db.Reader().QueryContext(ctx, `SELECT x.announcement_id, sv.slug FROM announcement_services x JOIN services sv ON sv.id = x.service_id
		WHERE x.announcement_id IN (`+strings.Join(ids, ", ")+`) ORDER BY sv.slug`)
	if err != nil {
		return nil, fmt.Errorf("subscription: announcements: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var slug string
		if err := rows.Scan(&id, &slug); err != nil {
			return nil, fmt.Errorf("subscription: announcements: %w", err)
		}
		byID[id].Services = append(byID[id].Services, slug)
	}
	return as, rows.Err()
}

// Requesters returns the addresses of the enabled users with a ticket on
// any of the services (slugs) updated within RequesterWindow, each once.
func (s *Store) Requesters(ctx context.Context, services []string) ([]string, error) {
	if len(services) == 0 {
		return nil, nil
	}
	args := []any{s.now().Add(-s.opts.RequesterWindow)}
	in := make([]string, len(services))
	for i, slug := range services {
		args = append(args, slug)
		in[i] = "$" + strconv.Itoa(len(args))
	}
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT DISTINCT u.email FROM tickets t
		JOIN users u ON u.id = t.requester_id JOIN services sv ON sv.id = t.service_id
		WHERE sv.slug IN (`+strings.Join(in, ", ")+`) AND t.updated_at > $1 AND NOT u.disabled ORDER BY u.email`, args...)
	addrs, err := db.Column[string](rows, err)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("subscription: requesters: %w", err)
	}
	return addrs, nil
}
