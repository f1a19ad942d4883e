// Package incident holds service incidents (DESIGN.md "Known errors,
// changes, incidents, status page"): one incident over several services,
// each with its own impact and its own recovery, a timeline of updates, and
// the tickets linked to it, which staff may answer together when it is
// resolved. Every write appends incident.created or incident.updated to the
// event stream in its transaction.
package incident

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

// Impacts of an incident (Statuspage's, "none" for updates that only inform).
var Impacts = []string{"none", "minor", "major", "critical"}

// Statuses of an incident, in the order they usually follow.
const (
	Investigating = "investigating"
	Identified    = "identified"
	Monitoring    = "monitoring"
	Resolved      = "resolved"
)

// Statuses lists the statuses of an incident.
var Statuses = []string{Investigating, Identified, Monitoring, Resolved}

// Component statuses (Statuspage's; under_maintenance comes from changes).
const (
	Operational         = "operational"
	DegradedPerformance = "degraded_performance"
	PartialOutage       = "partial_outage"
	MajorOutage         = "major_outage"
	UnderMaintenance    = "under_maintenance"
)

// OutageStatuses are the states an incident puts a service in.
var OutageStatuses = []string{DegradedPerformance, PartialOutage, MajorOutage}

// Severity orders component statuses: higher is worse.
func Severity(status string) int {
	switch status {
	case DegradedPerformance:
		return 1
	case PartialOutage:
		return 2
	case MajorOutage:
		return 3
	}
	return 0
}

// Limits on what an incident holds.
const (
	MaxTitle      = 200
	MaxBody       = 10000
	MaxComponents = 200
)

// Component is one service an incident affects.
type Component struct {
	ServiceID   int64
	Service     string // slug
	Name        string
	UnitID      int64  // the unit that provides the service
	Status      string // now: operational once it recovered
	Worst       string // the worst it reached
	StartedAt   time.Time
	RecoveredAt *time.Time
}

// ComponentChange sets the state of one service.
type ComponentChange struct {
	Service string `json:"service"`
	Status  string `json:"status"`
}

// Update is one entry of an incident's timeline.
type Update struct {
	ID         int64
	Status     string
	Body       string
	Components []ComponentChange
	CreatedAt  time.Time
}

// Incident is a disruption of one or more services.
type Incident struct {
	ID           int64
	Title        string
	Impact       string
	Status       string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	MonitoringAt *time.Time
	ResolvedAt   *time.Time
	Components   []Component
	Updates      []Update // newest first
	Tickets      []int64
}

// NewIncident is what opens an incident.
type NewIncident struct {
	Title      string
	Impact     string
	Status     string // investigating by default
	Body       string
	Components []ComponentChange
}

// NewUpdate is one more entry of the timeline. Components change the
// services named (operational: that service recovered); a resolved update
// recovers every service still affected. AnswerTickets, on a resolved
// update, posts its body as a public reply to every open linked ticket of
// the author's units.
type NewUpdate struct {
	Status        string
	Body          string
	Components    []ComponentChange
	AnswerTickets bool
	Source        ticket.Source
}

// Services finds catalogue services by slug (the unit store).
type Services interface {
	Service(ctx context.Context, slug string) (*unit.Service, error)
}

// Tickets is what linking and answering tickets needs (the ticket store).
type Tickets interface {
	Get(ctx context.Context, p *auth.Principal, id int64) (*ticket.Ticket, error)
	AddMessageTx(ctx context.Context, q db.Querier, p *auth.Principal, ticketID int64, nm ticket.NewMessage) (int64, error)
}

// Emit appends an event to the stream in the change's transaction q.
type Emit func(ctx context.Context, q db.Querier, typ string, data any) error

// Options configures a Store.
type Options struct {
	Services Services
	Tickets  Tickets
	Emit     Emit
	// Changed, when set, is called after each committed write (the status
	// page drops what it cached).
	Changed func()
	Now     func() time.Time
}

// Store reads and writes incidents.
type Store struct {
	db   *db.DB
	opts Options
}

// NewStore returns a Store on d.
func NewStore(d *db.DB, opts Options) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Emit == nil {
		opts.Emit = func(context.Context, db.Querier, string, any) error { return nil }
	}
	return &Store{db: d, opts: opts}
}

func (s *Store) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

func (s *Store) changed() {
	if s.opts.Changed != nil {
		s.opts.Changed()
	}
}

func checkEnum(field, v string, allowed []string) error {
	if !slices.Contains(allowed, v) {
		return apperr.Field(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	return nil
}

// resolved is a component change with its service looked up.
type resolved struct {
	ComponentChange
	sv *unit.Service
}

// resolveComponents checks the changes: known services, each once, a
// status from allowed, and p working tickets of each service's unit.
func (s *Store) resolveComponents(ctx context.Context, p *auth.Principal, cs []ComponentChange, allowed []string) ([]resolved, error) {
	if len(cs) > MaxComponents {
		return nil, apperr.Field("components", "names more than %d services", MaxComponents)
	}
	out := make([]resolved, 0, len(cs))
	seen := map[string]bool{}
	for i, c := range cs {
		f := fmt.Sprintf("components[%d]", i)
		if err := unit.CheckSlug(f+".service", c.Service); err != nil {
			return nil, err
		}
		if seen[c.Service] {
			return nil, apperr.Field(f+".service", "%q is named twice", c.Service)
		}
		seen[c.Service] = true
		if err := checkEnum(f+".status", c.Status, allowed); err != nil {
			return nil, err
		}
		sv, err := s.opts.Services.Service(ctx, c.Service)
		if apperr.Is(err, apperr.NotFound) {
			return nil, apperr.Field(f+".service", "no service %q", c.Service)
		}
		if err != nil {
			return nil, err
		}
		if !p.StaffOf(sv.UnitID) {
			return nil, apperr.New(apperr.Forbidden, "only the staff of service %s's unit may declare its incidents", c.Service)
		}
		out = append(out, resolved{c, sv})
	}
	return out, nil
}

// Create opens an incident. p must work tickets of every service it names.
func (s *Store) Create(ctx context.Context, p *auth.Principal, n NewIncident) (*Incident, error) {
	if !p.IsPerson() || p.ReadOnly {
		return nil, apperr.New(apperr.Forbidden, "%s may not declare incidents", p.Label())
	}
	var err error
	if n.Title, err = plaintext.Check("title", n.Title, MaxTitle, true, false); err != nil {
		return nil, err
	}
	if n.Body, err = plaintext.Check("body", n.Body, MaxBody, true, true); err != nil {
		return nil, err
	}
	if err := checkEnum("impact", n.Impact, Impacts); err != nil {
		return nil, err
	}
	if n.Status == "" {
		n.Status = Investigating
	}
	if err := checkEnum("status", n.Status, Statuses[:3]); err != nil {
		return nil, err
	}
	if len(n.Components) == 0 {
		return nil, apperr.Field("components", "name at least one affected service")
	}
	cs, err := s.resolveComponents(ctx, p, n.Components, OutageStatuses)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var id int64
	err = s.db.Tx(ctx, func(q db.Querier) error {
		var monitoring any
		if n.Status == Monitoring {
			monitoring = now
		}
		id, err = s.db.InsertID(ctx, q, `INSERT INTO incidents (title, impact, status, created_by, created_at, updated_at, monitoring_at) VALUES ($1, $2, $3, $4, $5, $5, $6)`,
			n.Title, n.Impact, n.Status, p.UserID, now, monitoring)
		if err != nil {
			return fmt.Errorf("incident: create: %w", err)
		}
		for _, c := range cs {
			if _, err := q.ExecContext(ctx, `INSERT INTO incident_components (incident_id, service_id, status, worst, started_at) VALUES ($1, $2, $3, $3, $4)`,
				id, c.sv.ID, c.Status, now); err != nil {
				return fmt.Errorf("incident: create: %w", err)
			}
		}
		if err := s.insertUpdate(ctx, q, id, p, n.Status, n.Body, n.Components, now); err != nil {
			return err
		}
		return s.opts.Emit(ctx, q, "incident.created", eventData(id, n.Title, n.Status, n.Impact, n.Components))
	})
	if err != nil {
		return nil, err
	}
	s.changed()
	return s.Get(ctx, id)
}

func (s *Store) insertUpdate(ctx context.Context, q db.Querier, id int64, p *auth.Principal, status, body string, cs []ComponentChange, now time.Time) error {
	if cs == nil {
		cs = []ComponentChange{}
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO incident_updates (incident_id, status, body, components, author_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, status, body, componentsJSON(cs), p.UserID, now); err != nil {
		return fmt.Errorf("incident: update: %w", err)
	}
	return nil
}

// EventData is the data of an incident event.
type EventData struct {
	ID         int64             `json:"id"`
	Title      string            `json:"title"`
	Status     string            `json:"status"`
	Impact     string            `json:"impact"`
	Components []ComponentChange `json:"components"`
}

func eventData(id int64, title, status, impact string, cs []ComponentChange) EventData {
	if cs == nil {
		cs = []ComponentChange{}
	}
	return EventData{ID: id, Title: title, Status: status, Impact: impact, Components: cs}
}

// mayUpdate tells whether p works tickets of one of the incident's services.
func mayUpdate(p *auth.Principal, in *Incident) bool {
	for _, c := range in.Components {
		if p.StaffOf(c.UnitID) {
			return true
		}
	}
	return false
}

// AddUpdate adds an entry to the timeline of incident id. p must work
// tickets of one of its services, and of every service the update names.
func (s *Store) AddUpdate(ctx context.Context, p *auth.Principal, id int64, u NewUpdate) (*Incident, error) {
	if !p.IsPerson() || p.ReadOnly {
		return nil, apperr.New(apperr.Forbidden, "%s may not update incidents", p.Label())
	}
	var err error
	if u.Body, err = plaintext.Check("body", u.Body, MaxBody, true, true); err != nil {
		return nil, err
	}
	if err := checkEnum("status", u.Status, Statuses); err != nil {
		return nil, err
	}
	if u.AnswerTickets && u.Status != Resolved {
		return nil, apperr.Field("answer_tickets", "linked tickets are answered only by the update that resolves the incident")
	}
	if u.Source == "" {
		u.Source = ticket.FromAPI
	}
	cs, err := s.resolveComponents(ctx, p, u.Components, append([]string{Operational}, OutageStatuses...))
	if err != nil {
		return nil, err
	}
	in, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !mayUpdate(p, in) {
		return nil, apperr.New(apperr.Forbidden, "only the staff of an affected service's unit may update incident %d", id)
	}
	now := s.now()
	err = s.db.Tx(ctx, func(q db.Querier) error {
		var status string
		if err := q.QueryRowContext(ctx, `SELECT status FROM incidents WHERE id = $1`, id).Scan(&status); err != nil {
			return fmt.Errorf("incident: update: %w", err)
		}
		if status == Resolved {
			return apperr.New(apperr.Conflict, "incident %d is resolved", id)
		}
		if err := s.applyComponents(ctx, q, id, cs, now); err != nil {
			return err
		}
		if u.Status == Resolved {
			if _, err := q.ExecContext(ctx, `UPDATE incident_components SET status = 'operational', recovered_at = $2 WHERE incident_id = $1 AND recovered_at IS NULL`, id, now); err != nil {
				return fmt.Errorf("incident: resolve: %w", err)
			}
		}
		if _, err := q.ExecContext(ctx, `UPDATE incidents SET status = $2, updated_at = $3,
			monitoring_at = CASE WHEN $2 = 'monitoring' AND monitoring_at IS NULL THEN $3 ELSE monitoring_at END,
			resolved_at = CASE WHEN $2 = 'resolved' THEN $3 ELSE NULL END WHERE id = $1`, id, u.Status, now); err != nil {
			return fmt.Errorf("incident: update: %w", err)
		}
		if err := s.insertUpdate(ctx, q, id, p, u.Status, u.Body, u.Components, now); err != nil {
			return err
		}
		if u.AnswerTickets {
			if err := s.answerTickets(ctx, q, p, in, u); err != nil {
				return err
			}
		}
		return s.opts.Emit(ctx, q, "incident.updated", eventData(id, in.Title, u.Status, in.Impact, u.Components))
	})
	if err != nil {
		return nil, err
	}
	s.changed()
	return s.Get(ctx, id)
}

// applyComponents writes the component changes of an update: a service
// not yet affected joins the incident, operational recovers one.
func (s *Store) applyComponents(ctx context.Context, q db.Querier, id int64, cs []resolved, now time.Time) error {
	for _, c := range cs {
		var worst string
		err := q.QueryRowContext(ctx, `SELECT worst FROM incident_components WHERE incident_id = $1 AND service_id = $2`, id, c.sv.ID).Scan(&worst)
		switch {
		case errors.Is(err, sql.ErrNoRows) && c.Status == Operational:
			return apperr.Field("components", "service %q is not affected by incident %d", c.Service, id)
		case errors.Is(err, sql.ErrNoRows):
			_, err = q.ExecContext(ctx, `INSERT INTO incident_components (incident_id, service_id, status, worst, started_at) VALUES ($1, $2, $3, $3, $4)`, id, c.sv.ID, c.Status, now)
		case err != nil:
		case c.Status == Operational:
			_, err = q.ExecContext(ctx, `UPDATE incident_components SET status = 'operational', recovered_at = COALESCE(recovered_at, $3) WHERE incident_id = $1 AND service_id = $2`, id, c.sv.ID, now)
		default:
			if Severity(c.Status) > Severity(worst) {
				worst = c.Status
			}
			_, err = q.ExecContext(ctx, `UPDATE incident_components SET status = $3, worst = $4, recovered_at = NULL WHERE incident_id = $1 AND service_id = $2`, id, c.sv.ID, c.Status, worst)
		}
		if err != nil {
			return fmt.Errorf("incident: component %s: %w", c.Service, err)
		}
	}
	return nil
}

// answerTickets posts the resolving update as a public reply to every
// linked ticket that is still open and that p works.
func (s *Store) answerTickets(ctx context.Context, q db.Querier, p *auth.Principal, in *Incident, u NewUpdate) error {
	if s.opts.Tickets == nil {
		return nil
	}
	rows, err := q.QueryContext(ctx, `SELECT t.id, COALESCE(t.unit_id, 0), t.status FROM incident_tickets it JOIN tickets t ON t.id = it.ticket_id WHERE it.incident_id = $1 ORDER BY t.id`, in.ID)
	if err != nil {
		return fmt.Errorf("incident: linked tickets: %w", err)
	}
	type linked struct {
		id, unit int64
		status   string
	}
	ts, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (linked, error) {
		var l linked
		return l, r.Scan(&l.id, &l.unit, &l.status)
	})
	if err != nil {
		return fmt.Errorf("incident: linked tickets: %w", err)
	}
	body := fmt.Sprintf("Incident resolved: %s\n\n%s", in.Title, u.Body)
	for _, t := range ts {
		if !ticket.Status(t.status).Open() || !p.StaffOf(t.unit) {
			continue
		}
		if _, err := s.opts.Tickets.AddMessageTx(ctx, q, p, t.id, ticket.NewMessage{Body: body, Source: u.Source}); err != nil {
			return fmt.Errorf("incident: answering ticket %d: %w", t.id, err)
		}
	}
	return nil
}

// LinkTicket links ticket tid, of one of the incident's services, to
// incident id. p must see the ticket and work tickets of its unit.
func (s *Store) LinkTicket(ctx context.Context, p *auth.Principal, id, tid int64) error {
	if s.opts.Tickets == nil {
		return apperr.New(apperr.Forbidden, "tickets cannot be linked here")
	}
	in, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	t, err := s.opts.Tickets.Get(ctx, p, tid)
	if apperr.Is(err, apperr.NotFound) {
		return apperr.Field("ticket_id", "no ticket %d", tid)
	}
	if err != nil {
		return err
	}
	if !p.IsPerson() || p.ReadOnly || !p.StaffOf(t.UnitID) {
		return apperr.New(apperr.Forbidden, "only the staff of ticket %d's unit may link it", tid)
	}
	if !slices.ContainsFunc(in.Components, func(c Component) bool { return c.ServiceID == t.ServiceID && t.ServiceID != 0 }) {
		return apperr.Field("ticket_id", "ticket %d is not about a service incident %d affects", tid, id)
	}
	err = s.db.Tx(ctx, func(q db.Querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO incident_tickets (incident_id, ticket_id, created_at) VALUES ($1, $2, $3)`, id, tid, s.now())
		if db.IsUniqueViolation(err) {
			return apperr.New(apperr.Conflict, "ticket %d is linked to incident %d already", tid, id)
		}
		if err != nil {
			return fmt.Errorf("incident: link ticket: %w", err)
		}
		return nil
	})
	if err == nil {
		s.changed()
	}
	return err
}
