// Package knownerror holds the known-error database (KEDB): problems with
// a known symptom and workaround, on catalogue services, linked to the
// tickets whose requesters were answered with the workaround. Every write
// appends known_error.updated to the event stream in its transaction.
package knownerror

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/plaintext"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// Statuses of a known error; open and workaround are active (shown to
// requesters of its services).
var Statuses = []string{"open", "workaround", "resolved", "retired"}

// Limits.
const (
	MaxTitle    = 200
	MaxText     = 10000
	MaxServices = 100
)

// KnownError is one entry of the KEDB.
type KnownError struct {
	ID         int64
	Title      string
	Symptom    string
	Workaround string
	RootCause  string
	Status     string
	Services   []string // slugs
	Tickets    []int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Fields are what a create sets and a patch may change (nil: unchanged).
type Fields struct {
	Title      *string
	Symptom    *string
	Workaround *string
	RootCause  *string
	Status     *string
	Services   *[]string
}

// Services finds catalogue services by slug (the unit store).
type Services interface {
	Service(ctx context.Context, slug string) (*unit.Service, error)
}

// Tickets is what linking a ticket needs (the ticket store).
type Tickets interface {
	Get(ctx context.Context, p *auth.Principal, id int64) (*ticket.Ticket, error)
	AddMessageTx(ctx context.Context, q db.Querier, p *auth.Principal, ticketID int64, nm ticket.NewMessage) (int64, error)
}

// Emit appends an event to the stream in the change's transaction q.
type Emit func(ctx context.Context, q db.Querier, typ string, ticketID int64, data any) error

// Store reads and writes known errors.
type Store struct {
	db       *db.DB
	services Services
	tickets  Tickets
	emit     Emit
	now      func() time.Time
	active   activeCache // ActiveByService's answer (active_cache.go)
}

// NewStore returns a Store on d.
func NewStore(d *db.DB, services Services, tickets Tickets, emit Emit) *Store {
	if emit == nil {
		emit = func(context.Context, db.Querier, string, int64, any) error { return nil }
	}
	return &Store{db: d, services: services, tickets: tickets, emit: emit, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// checked is a validated create or patch: the service ids resolved.
type checked struct {
	ke         KnownError
	serviceIDs []int64
	setSvcs    bool
}

// check applies f to base, validates the result, and checks that p works
// tickets of every service named.
func (s *Store) check(ctx context.Context, p *auth.Principal, base KnownError, f Fields) (checked, error) {
	if !p.IsPerson() || p.ReadOnly {
		return checked{}, apperr.New(apperr.Forbidden, "%s may not write known errors", p.Label())
	}
	c := checked{ke: base}
	var err error
	for _, t := range []struct {
		name     string
		in       *string
		out      *string
		max      int
		required bool
		multi    bool
	}{
		{"title", f.Title, &c.ke.Title, MaxTitle, true, false},
		{"symptom", f.Symptom, &c.ke.Symptom, MaxText, true, true},
		{"workaround", f.Workaround, &c.ke.Workaround, MaxText, true, true},
		{"root_cause", f.RootCause, &c.ke.RootCause, MaxText, false, true},
	} {
		if t.in == nil {
			continue
		}
		if *t.out, err = plaintext.Check(t.name, *t.in, t.max, t.required, t.multi); err != nil {
			return checked{}, err
		}
	}
	if f.Status != nil {
		if !slices.Contains(Statuses, *f.Status) {
			return checked{}, apperr.Field("status", "%q is not one of %s", *f.Status, strings.Join(Statuses, ", "))
		}
		c.ke.Status = *f.Status
	}
	names := c.ke.Services
	if f.Services != nil {
		names, c.setSvcs = *f.Services, true
		if len(names) == 0 || len(names) > MaxServices {
			return checked{}, apperr.Field("services", "name from 1 to %d services", MaxServices)
		}
	}
	for i, slug := range names {
		if err := unit.CheckSlug(fmt.Sprintf("services[%d]", i), slug); err != nil {
			return checked{}, err
		}
		if slices.Index(names, slug) != i {
			return checked{}, apperr.Field("services", "%q is named twice", slug)
		}
		sv, err := s.services.Service(ctx, slug)
		if apperr.Is(err, apperr.NotFound) {
			return checked{}, apperr.Field(fmt.Sprintf("services[%d]", i), "no service %q", slug)
		}
		if err != nil {
			return checked{}, err
		}
		if !p.StaffOf(sv.UnitID) {
			return checked{}, apperr.New(apperr.Forbidden, "only the staff of service %s's unit may write its known errors", slug)
		}
		c.serviceIDs = append(c.serviceIDs, sv.ID)
	}
	c.ke.Services = names
	return c, nil
}

// EventData is the data of a known_error.updated event.
type EventData struct {
	ID       int64    `json:"id"`
	Title    string   `json:"title"`
	Status   string   `json:"status"`
	Services []string `json:"services"`
	TicketID int64    `json:"ticket_id,omitempty"`
}

func (s *Store) writeServices(ctx context.Context, q db.Querier, id int64, ids []int64) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM known_error_services WHERE known_error_id = $1`, id); err != nil {
		return fmt.Errorf("knownerror: services: %w", err)
	}
	for _, sid := range ids {
		if _, err := q.ExecContext(ctx, `INSERT INTO known_error_services (known_error_id, service_id) VALUES ($1, $2)`, id, sid); err != nil {
			return fmt.Errorf("knownerror: services: %w", err)
		}
	}
	return nil
}

// Create adds a known error; title, symptom, workaround and services are
// required, status is open by default.
func (s *Store) Create(ctx context.Context, p *auth.Principal, f Fields) (*KnownError, error) {
	for name, v := range map[string]*string{"title": f.Title, "symptom": f.Symptom, "workaround": f.Workaround} {
		if v == nil {
			return nil, apperr.Field(name, "is required")
		}
	}
	if f.Services == nil {
		return nil, apperr.Field("services", "is required")
	}
	c, err := s.check(ctx, p, KnownError{Status: "open"}, f)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var id int64
	err = s.db.Tx(ctx, func(q db.Querier) error {
		id, err = s.db.InsertID(ctx, q, `INSERT INTO known_errors (title, symptom, workaround, root_cause, status, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
			c.ke.Title, c.ke.Symptom, c.ke.Workaround, c.ke.RootCause, c.ke.Status, p.UserID, now)
		if err != nil {
			return fmt.Errorf("knownerror: create: %w", err)
		}
		if err := s.writeServices(ctx, q, id, c.serviceIDs); err != nil {
			return err
		}
		return s.emit(ctx, q, "known_error.updated", 0, EventData{ID: id, Title: c.ke.Title, Status: c.ke.Status, Services: c.ke.Services})
	})
	s.active.forget()
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// Update changes a known error; p must work tickets of one of its services
// (and of every service it names).
func (s *Store) Update(ctx context.Context, p *auth.Principal, id int64, f Fields) (*KnownError, error) {
	old, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.mayWrite(ctx, p, old); err != nil {
		return nil, err
	}
	c, err := s.check(ctx, p, *old, f)
	if err != nil {
		return nil, err
	}
	err = s.db.Tx(ctx, func(q db.Querier) error {
		if _, err := q.ExecContext(ctx, `UPDATE known_errors SET title = $2, symptom = $3, workaround = $4, root_cause = $5, status = $6, updated_at = $7 WHERE id = $1`,
			id, c.ke.Title, c.ke.Symptom, c.ke.Workaround, c.ke.RootCause, c.ke.Status, s.now()); err != nil {
			return fmt.Errorf("knownerror: update: %w", err)
		}
		if c.setSvcs {
			if err := s.writeServices(ctx, q, id, c.serviceIDs); err != nil {
				return err
			}
		}
		return s.emit(ctx, q, "known_error.updated", 0, EventData{ID: id, Title: c.ke.Title, Status: c.ke.Status, Services: c.ke.Services})
	})
	s.active.forget()
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// mayWrite tells whether p works tickets of one of ke's services.
func (s *Store) mayWrite(ctx context.Context, p *auth.Principal, ke *KnownError) error {
	if p.IsPerson() && !p.ReadOnly {
		for _, slug := range ke.Services {
			sv, err := s.services.Service(ctx, slug)
			if err != nil {
				return err
			}
			if p.StaffOf(sv.UnitID) {
				return nil
			}
		}
	}
	return apperr.New(apperr.Forbidden, "only the staff of a service of known error %d may change it", ke.ID)
}

// LinkTicket links ticket tid to known error id and answers its requester
// with the workaround, in one transaction. p must work the ticket.
func (s *Store) LinkTicket(ctx context.Context, p *auth.Principal, id, tid int64, src ticket.Source) (*KnownError, error) {
	ke, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	t, err := s.tickets.Get(ctx, p, tid)
	if apperr.Is(err, apperr.NotFound) {
		return nil, apperr.Field("ticket_id", "no ticket %d", tid)
	}
	if err != nil {
		return nil, err
	}
	if !p.IsPerson() || p.ReadOnly || !p.StaffOf(t.UnitID) {
		return nil, apperr.New(apperr.Forbidden, "only the staff of ticket %d's unit may link it", tid)
	}
	body := fmt.Sprintf("This is a known problem: %s\n\nWorkaround:\n%s", ke.Title, ke.Workaround)
	err = s.db.Tx(ctx, func(q db.Querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO known_error_tickets (known_error_id, ticket_id, created_at) VALUES ($1, $2, $3)`, id, tid, s.now())
		if db.IsUniqueViolation(err) {
			return apperr.New(apperr.Conflict, "ticket %d is linked to known error %d already", tid, id)
		}
		if err != nil {
			return fmt.Errorf("knownerror: link: %w", err)
		}
		if _, err := s.tickets.AddMessageTx(ctx, q, p, tid, ticket.NewMessage{Body: body, Source: src}); err != nil {
			return err
		}
		return s.emit(ctx, q, "known_error.updated", tid, EventData{ID: id, Title: ke.Title, Status: ke.Status, Services: ke.Services, TicketID: tid})
	})
	s.active.forget()
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

const cols = `id, title, symptom, workaround, root_cause, status, created_at, updated_at`

func scan(r interface{ Scan(...any) error }) (*KnownError, error) {
	ke := &KnownError{}
	err := r.Scan(&ke.ID, &ke.Title, &ke.Symptom, &ke.Workaround, &ke.RootCause, &ke.Status, &ke.CreatedAt, &ke.UpdatedAt)
	ke.CreatedAt, ke.UpdatedAt = ke.CreatedAt.UTC(), ke.UpdatedAt.UTC()
	return ke, err
}

// Get returns known error id. Known errors are readable by anyone signed
// in (requesters see them on the new-ticket form).
func (s *Store) Get(ctx context.Context, id int64) (*KnownError, error) {
	ke, err := scan(s.db.Reader().QueryRowContext(ctx, `SELECT `+cols+` FROM known_errors WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no known error %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("knownerror: get: %w", err)
	}
	if err := s.fill(ctx, []*KnownError{ke}); err != nil {
		return nil, err
	}
	return ke, nil
}

// Filter selects known errors.
type Filter struct {
	Service string // a slug
	Q       string // words in the title, symptom or workaround
	Status  string
	// Active keeps the known errors that are open or have a workaround.
	Active bool
	Limit  int
}

// List returns known errors, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]*KnownError, error) {
	var where []string
	var args []any
	if f.Service != "" {
		args = append(args, f.Service)
		where = append(where, fmt.Sprintf(`id IN (SELECT kes.known_error_id FROM known_error_services kes JOIN services sv ON sv.id = kes.service_id WHERE sv.slug = $%d)`, len(args)))
	}
	if f.Status != "" {
		args = append(args, f.Status)
		where = append(where, fmt.Sprintf(`status = $%d`, len(args)))
	}
	if f.Active {
		where = append(where, `status IN ('open', 'workaround')`)
	}
	for _, w := range strings.Fields(strings.ToLower(f.Q)) {
		w = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(w)
		args = append(args, "%"+w+"%")
		n := len(args)
		where = append(where, fmt.Sprintf(`(LOWER(title) LIKE $%d ESCAPE '\' OR LOWER(symptom) LIKE $%d ESCAPE '\' OR LOWER(workaround) LIKE $%d ESCAPE '\')`, n, n, n))
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 500
	}
	qs := `SELECT ` + cols + ` FROM known_errors`
	if len(where) > 0 {
		qs += ` WHERE ` + strings.Join(where, ` AND `)
	}
	rows, err := s.db.Reader().QueryContext(ctx, qs+fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, f.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("knownerror: list: %w", err)
	}
	kes, err := db.Collect(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("knownerror: list: %w", err)
	}
	if err := s.fill(ctx, kes); err != nil {
		return nil, err
	}
	return kes, nil
}

// fill loads the services and tickets of kes.
func (s *Store) fill(ctx context.Context, kes []*KnownError) error {
	if len(kes) == 0 {
		return nil
	}
	by := map[int64]*KnownError{}
	ids := make([]int64, len(kes))
	for i, ke := range kes {
		by[ke.ID] = ke
		ke.Services, ke.Tickets = []string{}, []int64{}
		ids[i] = ke.ID
	}
	set := db.IDSet(ids)
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT kes.known_error_id, sv.slug FROM known_error_services kes JOIN services sv ON sv.id = kes.service_id WHERE kes.known_error_id IN `+set+` ORDER BY sv.slug`)
	if err != nil {
		return fmt.Errorf("knownerror: services: %w", err)
	}
	type pair struct {
		id  int64
		val string
	}
	ps, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (pair, error) {
		var p pair
		return p, r.Scan(&p.id, &p.val)
	})
	if err != nil {
		return fmt.Errorf("knownerror: services: %w", err)
	}
	for _, p := range ps {
		by[p.id].Services = append(by[p.id].Services, p.val)
	}
	rows, err = s.db.Reader().QueryContext(ctx, `SELECT known_error_id, ticket_id FROM known_error_tickets WHERE known_error_id IN `+set+` ORDER BY ticket_id`)
	if err != nil {
		return fmt.Errorf("knownerror: tickets: %w", err)
	}
	ts, err := db.Collect(rows, func(r interface{ Scan(...any) error }) ([2]int64, error) {
		var v [2]int64
		return v, r.Scan(&v[0], &v[1])
	})
	if err != nil {
		return fmt.Errorf("knownerror: tickets: %w", err)
	}
	for _, t := range ts {
		by[t[0]].Tickets = append(by[t[0]].Tickets, t[1])
	}
	return nil
}
