// Package change holds changes and downtimes (DESIGN.md "Known errors,
// changes, incidents, status page, relations"; research/operations.md §A):
// a window on catalogue services, stored in UTC with the time zone it was
// declared in, warning or outage, scheduled or unscheduled from the notice
// given, with its plan, rollback, approvals and status. The GOCDB rules
// apply: declared at most 48 h after its start, the end after the start,
// once started only shortened (per service too), no two windows of one
// service overlapping. Every write appends change.created or
// change.updated in its transaction; Remind appends change.reminder 24 h
// and 1 h before the start, once each.
package change

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
	"github.com/helpmesh/helpmesh/internal/unit"
)

// Severities, classifications and statuses.
var (
	Severities = []string{"warning", "outage"}
	Statuses   = []string{"planned", "approved", "in_progress", "completed", "cancelled", "failed"}
)

// Status values named by the rules.
const (
	Planned    = "planned"
	Approved   = "approved"
	InProgress = "in_progress"
	Completed  = "completed"
	Cancelled  = "cancelled"
	Failed     = "failed"

	Scheduled   = "scheduled"
	Unscheduled = "unscheduled"
)

// next lists the statuses each status may move to.
var next = map[string][]string{
	Planned:    {Approved, Cancelled},
	Approved:   {InProgress, Cancelled},
	InProgress: {Completed, Failed},
}

// The GOCDB rules (research/operations.md §A).
const (
	// ScheduledNotice is the notice that makes a change scheduled.
	ScheduledNotice = 24 * time.Hour
	// MaxRetro is how long after its start a change may be declared.
	MaxRetro = 48 * time.Hour
)

// Limits.
const (
	MaxTitle    = 200
	MaxText     = 10000
	MaxServices = 100
	MaxWindow   = 366 * 24 * time.Hour
)

// Change is one change or downtime.
type Change struct {
	ID             int64
	GOCDBID        string // the GOCDB downtime ID when imported
	Title          string
	Description    string
	Severity       string
	Classification string
	Status         string
	Risk           string
	Plan           string
	Rollback       string
	Start, End     time.Time // UTC
	TimeZone       string    // the IANA zone it was declared in
	DeclaredAt     time.Time
	Services       []Service
	Approvals      []Approval
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Service is one service of a change, with its own end (earlier than the
// change's after an early end).
type Service struct {
	ID   int64
	Slug string
	End  time.Time
}

// Slugs returns the slugs of c's services.
func (c *Change) Slugs() []string {
	out := make([]string, len(c.Services))
	for i, sv := range c.Services {
		out[i] = sv.Slug
	}
	return out
}

// Approval is who approved a change, and when.
type Approval struct {
	UserID int64
	Name   string
	At     time.Time
}

// Fields are what a declaration sets and a patch may change (nil:
// unchanged).
type Fields struct {
	Title, Description, Severity, Risk, Plan, Rollback, Status, TimeZone *string
	Start, End                                                           *time.Time
	Services                                                             *[]string
}

// Services finds catalogue services by slug (the unit store).
type Services interface {
	Service(ctx context.Context, slug string) (*unit.Service, error)
}

// Emit appends an event to the stream in the change's transaction q.
type Emit func(ctx context.Context, q db.Querier, typ string, ticketID int64, data any) error

// Event types this package appends (package event has the first two).
const (
	EventCreated  = "change.created"
	EventUpdated  = "change.updated"
	EventReminder = "change.reminder"
)

// Options configures a Store.
type Options struct {
	Services Services
	Emit     Emit
	// Now is the clock (tests give a fake one); time.Now by default.
	Now func() time.Time
	// Changed, when set, is called after every committed write (the
	// status page drops its cache on this node at once; other nodes
	// follow the events).
	Changed func()
}

// Store reads and writes changes.
type Store struct {
	db       *db.DB
	services Services
	emit     Emit
	now      func() time.Time
	changed  func()
}

// NewStore returns a Store on d.
func NewStore(d *db.DB, o Options) *Store {
	if o.Emit == nil {
		o.Emit = func(context.Context, db.Querier, string, int64, any) error { return nil }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Changed == nil {
		o.Changed = func() {}
	}
	return &Store{db: d, services: o.Services, emit: o.Emit, now: o.Now, changed: o.Changed}
}

// clock returns the time now, in UTC to the second (the precision of
// GOCDB and of the windows).
func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Second) }

// checked is a validated declaration or patch.
type checked struct {
	c        Change
	services []*unit.Service
	setSvcs  bool
}

// checkText validates the text fields of f onto c. Markup is kept as text
// (it is shown escaped).
func checkText(c *Change, f Fields) error {
	var err error
	for _, t := range []struct {
		name     string
		in       *string
		out      *string
		max      int
		required bool
		multi    bool
	}{
		{"title", f.Title, &c.Title, MaxTitle, true, false},
		{"description", f.Description, &c.Description, MaxText, true, true},
		{"risk", f.Risk, &c.Risk, MaxText, false, true},
		{"plan", f.Plan, &c.Plan, MaxText, false, true},
		{"rollback", f.Rollback, &c.Rollback, MaxText, false, true},
	} {
		if t.in == nil {
			continue
		}
		if *t.out, err = plaintext.Text(t.name, *t.in, t.max, t.required, t.multi); err != nil {
			return err
		}
	}
	if f.Severity != nil {
		if !slices.Contains(Severities, *f.Severity) {
			return apperr.Field("severity", "%q is not one of %s", *f.Severity, strings.Join(Severities, ", "))
		}
		c.Severity = *f.Severity
	}
	if f.TimeZone != nil {
		if err := CheckTimeZone(*f.TimeZone); err != nil {
			return err
		}
		c.TimeZone = *f.TimeZone
	}
	return nil
}

// CheckTimeZone validates an IANA time zone name.
func CheckTimeZone(tz string) error {
	if tz == "" || len(tz) > 64 || strings.ContainsAny(tz, "\\\x00") || strings.Contains(tz, "..") {
		return apperr.Field("time_zone", "%q is not a time zone name like Europe/Amsterdam or UTC", tz)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return apperr.Field("time_zone", "%q is not a known time zone", tz)
	}
	return nil
}

// resolve finds the services named, each once.
func (s *Store) resolve(ctx context.Context, names []string) ([]*unit.Service, error) {
	if len(names) == 0 || len(names) > MaxServices {
		return nil, apperr.Field("services", "name from 1 to %d services", MaxServices)
	}
	out := make([]*unit.Service, 0, len(names))
	for i, slug := range names {
		field := fmt.Sprintf("services[%d]", i)
		if err := unit.CheckSlug(field, slug); err != nil {
			return nil, err
		}
		if slices.Index(names, slug) != i {
			return nil, apperr.Field("services", "%q is named twice", slug)
		}
		sv, err := s.services.Service(ctx, slug)
		if apperr.Is(err, apperr.NotFound) {
			return nil, apperr.Rule(field, "no service %q", slug)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sv)
	}
	return out, nil
}

// checkWindow applies the window rules of a declaration made at declared
// (now for the API, the GOCDB insert date for an import).
func checkWindow(start, end, declared time.Time) error {
	switch {
	case !end.After(start):
		return apperr.Rule("end", "must be after the start (%s)", start.Format(time.RFC3339))
	case end.Sub(start) > MaxWindow:
		return apperr.Rule("end", "a window may last at most %d days", int(MaxWindow.Hours()/24))
	case declared.Sub(start) > MaxRetro:
		return apperr.Rule("start", "is more than 48 hours before the declaration (%s): downtimes are declared at most 48 hours after they start", declared.Format(time.RFC3339))
	}
	return nil
}

// classify tells whether a window starting at start declared at declared
// is scheduled (24 h of notice or more) or unscheduled.
func classify(start, declared time.Time) string {
	if start.Sub(declared) >= ScheduledNotice {
		return Scheduled
	}
	return Unscheduled
}

// mayDeclare checks that p works tickets of every service's unit.
func mayDeclare(p *auth.Principal, svs []*unit.Service) error {
	if !p.IsPerson() || p.ReadOnly {
		return apperr.New(apperr.Forbidden, "%s may not declare changes", p.Label())
	}
	for _, sv := range svs {
		if !p.StaffOf(sv.UnitID) {
			return apperr.New(apperr.Forbidden, "only the staff of service %s's unit may declare its changes", sv.Slug)
		}
	}
	return nil
}

// Create declares a change: title, description, services, start, end and
// severity are required; time_zone is UTC unless given; status is
// planned, classification from the notice given.
func (s *Store) Create(ctx context.Context, p *auth.Principal, f Fields) (*Change, error) {
	for name, v := range map[string]*string{"title": f.Title, "description": f.Description, "severity": f.Severity} {
		if v == nil {
			return nil, apperr.Field(name, "is required")
		}
	}
	switch {
	case f.Services == nil:
		return nil, apperr.Field("services", "is required")
	case f.Start == nil:
		return nil, apperr.Field("start", "is required (RFC 3339)")
	case f.End == nil:
		return nil, apperr.Field("end", "is required (RFC 3339)")
	case f.Status != nil && *f.Status != Planned:
		return nil, apperr.Field("status", "a change is declared planned; approve it afterwards")
	}
	c := Change{Status: Planned, TimeZone: "UTC"}
	if err := checkText(&c, f); err != nil {
		return nil, err
	}
	svs, err := s.resolve(ctx, *f.Services)
	if err != nil {
		return nil, err
	}
	if err := mayDeclare(p, svs); err != nil {
		return nil, err
	}
	now := s.clock()
	c.Start, c.End, c.DeclaredAt = f.Start.UTC().Truncate(time.Second), f.End.UTC().Truncate(time.Second), now
	if err := checkWindow(c.Start, c.End, now); err != nil {
		return nil, err
	}
	c.Classification = classify(c.Start, now)
	var id int64
	err = s.db.Tx(ctx, func(q db.Querier) error {
		id, err = s.insert(ctx, q, &c, svs, p.UserID, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.changed()
	return s.Get(ctx, id)
}

// insert writes a new change c on svs in q and appends change.created.
func (s *Store) insert(ctx context.Context, q db.Querier, c *Change, svs []*unit.Service, by int64, now time.Time) (int64, error) {
	if err := s.checkOverlap(ctx, q, 0, c.Start, svs, func(*unit.Service) time.Time { return c.End }); err != nil {
		return 0, err
	}
	var creator any
	if by != 0 {
		creator = by
	}
	var gocdb any
	if c.GOCDBID != "" {
		gocdb = c.GOCDBID
	}
	r24, r1 := reminded(nil, c.Start, now, 24*time.Hour), reminded(nil, c.Start, now, time.Hour)
	id, err := s.db.InsertID(ctx, q, `INSERT INTO changes (gocdb_id, title, description, severity, classification, status, risk, plan, rollback, start_at, end_at, time_zone, declared_at, created_by, created_at, updated_at, reminded_24h_at, reminded_1h_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17)`,
		gocdb, c.Title, c.Description, c.Severity, c.Classification, c.Status, c.Risk, c.Plan, c.Rollback, c.Start, c.End, c.TimeZone, c.DeclaredAt, creator, now, r24, r1)
	if db.IsUniqueViolation(err) {
		return 0, apperr.New(apperr.Conflict, "GOCDB downtime %s is imported already", c.GOCDBID)
	}
	if err != nil {
		return 0, fmt.Errorf("change: create: %w", err)
	}
	c.ID = id
	if err := s.writeServices(ctx, q, id, svs, c.End); err != nil {
		return 0, err
	}
	c.Services = services(svs, c.End)
	return id, s.emit(ctx, q, EventCreated, 0, eventData(c, ""))
}

// reminded returns the reminded_*_at value of a change starting at start,
// now, for the reminder lead before it: unset while the reminder is ahead,
// else what it was (or now: the declaration or the move told already).
func reminded(old *time.Time, start, now time.Time, lead time.Duration) any {
	if start.Sub(now) > lead {
		return nil
	}
	if old != nil {
		return *old
	}
	return now
}

func services(svs []*unit.Service, end time.Time) []Service {
	out := make([]Service, len(svs))
	for i, sv := range svs {
		out[i] = Service{ID: sv.ID, Slug: sv.Slug, End: end}
	}
	return out
}

func (s *Store) writeServices(ctx context.Context, q db.Querier, id int64, svs []*unit.Service, end time.Time) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM change_services WHERE change_id = $1`, id); err != nil {
		return fmt.Errorf("change: services: %w", err)
	}
	for _, sv := range svs {
		if _, err := q.ExecContext(ctx, `INSERT INTO change_services (change_id, service_id, end_at) VALUES ($1, $2, $3)`, id, sv.ID, end); err != nil {
			return fmt.Errorf("change: services: %w", err)
		}
	}
	return nil
}

// checkOverlap refuses a window from start to end(service) on svs that
// overlaps another live (not cancelled) change of one of them; self is the
// change being changed. On PostgreSQL the services' rows are locked first,
// so that two declarations on one service cannot both pass.
func (s *Store) checkOverlap(ctx context.Context, q db.Querier, self int64, start time.Time, svs []*unit.Service, end func(*unit.Service) time.Time) error {
	if s.db.Engine == db.Postgres {
		ids := make([]int64, len(svs))
		for i, sv := range svs {
			ids[i] = sv.ID
		}
		slices.Sort(ids)
		for _, id := range ids {
			if _, err := q.ExecContext(ctx, `SELECT id FROM services WHERE id = $1 FOR UPDATE`, id); err != nil {
				return fmt.Errorf("change: lock service: %w", err)
			}
		}
	}
	for _, sv := range svs {
		var other int64
		var title string
		var os, oe time.Time
		err := q.QueryRowContext(ctx, `SELECT c.id, c.title, c.start_at, cs.end_at FROM change_services cs JOIN changes c ON c.id = cs.change_id
			WHERE cs.service_id = $1 AND c.id <> $2 AND c.status <> 'cancelled' AND c.start_at < $3 AND cs.end_at > $4 ORDER BY c.start_at LIMIT 1`,
			sv.ID, self, end(sv), start).Scan(&other, &title, &os, &oe)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("change: overlap: %w", err)
		}
		return apperr.New(apperr.Conflict, "service %s has change %d (%q) from %s to %s, which overlaps this window; shorten or cancel it, or choose another window",
			sv.Slug, other, title, os.UTC().Format(time.RFC3339), oe.UTC().Format(time.RFC3339))
	}
	return nil
}

// mayWrite checks that p works tickets of a service of c.
func (s *Store) mayWrite(ctx context.Context, p *auth.Principal, c *Change) error {
	ok, err := s.onAService(ctx, p, c, p.StaffOf)
	if err == nil && !ok {
		err = apperr.New(apperr.Forbidden, "only the staff of a service of change %d may change it", c.ID)
	}
	return err
}

// mayApprove checks that p is an admin or a unit admin of a service of c.
func (s *Store) mayApprove(ctx context.Context, p *auth.Principal, c *Change) error {
	ok, err := s.onAService(ctx, p, c, p.CanManageUnit)
	if err == nil && !ok {
		err = apperr.New(apperr.Forbidden, "only an administrator of a unit of change %d's services may approve it", c.ID)
	}
	return err
}

// onAService tells whether p, a person who may write, has right on the
// unit of one of c's services.
func (s *Store) onAService(ctx context.Context, p *auth.Principal, c *Change, right func(unitID int64) bool) (bool, error) {
	if !p.IsPerson() || p.ReadOnly {
		return false, nil
	}
	for _, cs := range c.Services {
		sv, err := s.services.Service(ctx, cs.Slug)
		if err != nil {
			return false, err
		}
		if right(sv.UnitID) {
			return true, nil
		}
	}
	return false, nil
}

// Update changes a change. Before its start everything may change but the
// start may not move into the past; once started the start stays, the end
// may only come earlier (not before now) and the services stay; statuses
// move planned → approved → in_progress → completed or failed, and
// planned or approved → cancelled before the start. Completing or failing a change before
// its end ends it (and its services) now.
func (s *Store) Update(ctx context.Context, p *auth.Principal, id int64, f Fields) (*Change, error) {
	old, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.mayWrite(ctx, p, old); err != nil {
		return nil, err
	}
	c := *old
	if err := checkText(&c, f); err != nil {
		return nil, err
	}
	now := s.clock()
	started := !now.Before(old.Start)
	if f.Start != nil {
		c.Start = f.Start.UTC().Truncate(time.Second)
	}
	if f.End != nil {
		c.End = f.End.UTC().Truncate(time.Second)
	}
	svs, err := s.currentServices(ctx, old)
	if err != nil {
		return nil, err
	}
	setSvcs := f.Services != nil && !slices.Equal(*f.Services, old.Slugs())
	if setSvcs {
		if svs, err = s.resolve(ctx, *f.Services); err != nil {
			return nil, err
		}
		if err := mayDeclare(p, svs); err != nil {
			return nil, err
		}
	}
	final := slices.Contains([]string{Completed, Cancelled, Failed}, old.Status)
	switch {
	case final && (f.Start != nil || f.End != nil || setSvcs):
		return nil, apperr.New(apperr.Conflict, "change %d is %s: its window and services no longer change", id, old.Status)
	case started && !c.Start.Equal(old.Start):
		return nil, apperr.New(apperr.Conflict, "change %d started at %s: its start no longer moves (only its end may come earlier)", id, old.Start.Format(time.RFC3339))
	case started && c.End.After(old.End):
		return nil, apperr.New(apperr.Conflict, "change %d has started: it may only be shortened, not extended past %s (declare another change for the extra time)", id, old.End.Format(time.RFC3339))
	case started && c.End.Before(now) && !c.End.Equal(old.End):
		return nil, apperr.Rule("end", "may not be set in the past; to end it now, give the time now")
	case started && setSvcs:
		return nil, apperr.New(apperr.Conflict, "change %d has started: its services no longer change (end one early instead)", id)
	case !started && c.Start.Before(now):
		return nil, apperr.Rule("start", "may not move into the past")
	case !c.End.After(c.Start):
		return nil, apperr.Rule("end", "must be after the start (%s)", c.Start.Format(time.RFC3339))
	case c.End.Sub(c.Start) > MaxWindow:
		return nil, apperr.Rule("end", "a window may last at most %d days", int(MaxWindow.Hours()/24))
	}
	if f.Status != nil && *f.Status != old.Status {
		if err := s.checkTransition(ctx, p, old, *f.Status, now); err != nil {
			return nil, err
		}
		c.Status = *f.Status
		if (c.Status == Completed || c.Status == Failed) && c.End.After(now) {
			c.End = now
		}
	}
	if !c.Start.Equal(old.Start) {
		c.Classification = classify(c.Start, now)
	}
	err = s.db.Tx(ctx, func(q db.Querier) error {
		if c.Status != Cancelled && (!c.Start.Equal(old.Start) || c.End.After(old.End) || setSvcs) {
			if err := s.checkOverlap(ctx, q, id, c.Start, svs, func(*unit.Service) time.Time { return c.End }); err != nil {
				return err
			}
		}
		r24, r1, err := s.remindedAt(ctx, q, id)
		if err != nil {
			return err
		}
		if !c.Start.Equal(old.Start) {
			r24, r1 = asTime(reminded(r24, c.Start, now, 24*time.Hour)), asTime(reminded(r1, c.Start, now, time.Hour))
		}
		if _, err := q.ExecContext(ctx, `UPDATE changes SET title = $2, description = $3, severity = $4, classification = $5, status = $6, risk = $7, plan = $8, rollback = $9,
			start_at = $10, end_at = $11, time_zone = $12, updated_at = $13, reminded_24h_at = $14, reminded_1h_at = $15 WHERE id = $1`,
			id, c.Title, c.Description, c.Severity, c.Classification, c.Status, c.Risk, c.Plan, c.Rollback, c.Start, c.End, c.TimeZone, now, nullTime(r24), nullTime(r1)); err != nil {
			return fmt.Errorf("change: update: %w", err)
		}
		if setSvcs {
			if err := s.writeServices(ctx, q, id, svs, c.End); err != nil {
				return err
			}
		} else if !c.End.Equal(old.End) {
			// Every service ends with the change, at the latest.
			if _, err := q.ExecContext(ctx, `UPDATE change_services SET end_at = $2 WHERE change_id = $1 AND (end_at > $2 OR end_at = $3)`, id, c.End, old.End); err != nil {
				return fmt.Errorf("change: services: %w", err)
			}
		}
		if c.Status == Approved && old.Status == Planned {
			if err := s.addApproval(ctx, q, id, p.UserID, now); err != nil {
				return err
			}
		}
		return s.emitUpdated(ctx, q, id)
	})
	if err != nil {
		return nil, err
	}
	s.changed()
	return s.Get(ctx, id)
}

func asTime(v any) *time.Time {
	if t, ok := v.(time.Time); ok {
		return &t
	}
	return nil
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

// remindedAt reads when change id's reminders were appended.
func (s *Store) remindedAt(ctx context.Context, q db.Querier, id int64) (*time.Time, *time.Time, error) {
	var r24, r1 sql.NullTime
	if err := q.QueryRowContext(ctx, `SELECT reminded_24h_at, reminded_1h_at FROM changes WHERE id = $1`, id).Scan(&r24, &r1); err != nil {
		return nil, nil, fmt.Errorf("change: reminders: %w", err)
	}
	var a, b *time.Time
	if r24.Valid {
		a = &r24.Time
	}
	if r1.Valid {
		b = &r1.Time
	}
	return a, b, nil
}

// currentServices looks up the catalogue services of c.
func (s *Store) currentServices(ctx context.Context, c *Change) ([]*unit.Service, error) {
	out := make([]*unit.Service, 0, len(c.Services))
	for _, cs := range c.Services {
		sv, err := s.services.Service(ctx, cs.Slug)
		if err != nil {
			return nil, err
		}
		out = append(out, sv)
	}
	return out, nil
}

// checkTransition checks that c may move to status to now, by p.
func (s *Store) checkTransition(ctx context.Context, p *auth.Principal, c *Change, to string, now time.Time) error {
	if !slices.Contains(Statuses, to) {
		return apperr.Field("status", "%q is not one of %s", to, strings.Join(Statuses, ", "))
	}
	if !slices.Contains(next[c.Status], to) {
		allowed := "none: it is final"
		if n := next[c.Status]; len(n) > 0 {
			allowed = strings.Join(n, ", ")
		}
		return apperr.New(apperr.Conflict, "change %d is %s and may not become %s (allowed: %s)", c.ID, c.Status, to, allowed)
	}
	switch to {
	case Approved:
		return s.mayApprove(ctx, p, c)
	case InProgress:
		if now.Before(c.Start) {
			return apperr.New(apperr.Conflict, "change %d starts at %s: it may not be in progress before", c.ID, c.Start.Format(time.RFC3339))
		}
	case Cancelled:
		if !now.Before(c.Start) {
			return apperr.New(apperr.Conflict, "change %d started at %s: it is no longer cancelled but ended (completed or failed, or shortened to now)", c.ID, c.Start.Format(time.RFC3339))
		}
	}
	return nil
}

func (s *Store) addApproval(ctx context.Context, q db.Querier, id, userID int64, now time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO change_approvals (change_id, user_id, approved_at) VALUES ($1, $2, $3)`, id, userID, now)
	if db.IsUniqueViolation(err) {
		return apperr.New(apperr.Conflict, "you approved change %d already", id)
	}
	if err != nil {
		return fmt.Errorf("change: approve: %w", err)
	}
	return nil
}

// Approve records p's approval of change id; a planned change becomes
// approved. p must be an administrator or a unit admin of one of its
// services' units.
func (s *Store) Approve(ctx context.Context, p *auth.Principal, id int64) (*Change, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.mayApprove(ctx, p, c); err != nil {
		return nil, err
	}
	if c.Status != Planned && c.Status != Approved {
		return nil, apperr.New(apperr.Conflict, "change %d is %s: only planned or approved changes take approvals", id, c.Status)
	}
	now := s.clock()
	err = s.db.Tx(ctx, func(q db.Querier) error {
		if err := s.addApproval(ctx, q, id, p.UserID, now); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `UPDATE changes SET status = $2, updated_at = $3 WHERE id = $1`, id, Approved, now); err != nil {
			return fmt.Errorf("change: approve: %w", err)
		}
		return s.emitUpdated(ctx, q, id)
	})
	if err != nil {
		return nil, err
	}
	s.changed()
	return s.Get(ctx, id)
}

// EndService ends change id for service slug now, before its other
// services (GOCDB #358). The change must have started and not ended for
// that service; when every service has ended, the change is completed.
func (s *Store) EndService(ctx context.Context, p *auth.Principal, id int64, slug string) (*Change, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.mayWrite(ctx, p, c); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(c.Services, func(cs Service) bool { return cs.Slug == slug })
	if i < 0 {
		return nil, apperr.New(apperr.NotFound, "change %d is not on service %q", id, slug)
	}
	now := s.clock()
	switch {
	case c.Status == Cancelled || c.Status == Completed || c.Status == Failed:
		return nil, apperr.New(apperr.Conflict, "change %d is %s", id, c.Status)
	case now.Before(c.Start):
		return nil, apperr.New(apperr.Conflict, "change %d starts at %s: remove the service from it instead of ending it early", id, c.Start.Format(time.RFC3339))
	case !c.Services[i].End.After(now):
		return nil, apperr.New(apperr.Conflict, "change %d ended for service %s at %s", id, slug, c.Services[i].End.Format(time.RFC3339))
	}
	err = s.db.Tx(ctx, func(q db.Querier) error {
		if _, err := q.ExecContext(ctx, `UPDATE change_services SET end_at = $3 WHERE change_id = $1 AND service_id = $2`, id, c.Services[i].ID, now); err != nil {
			return fmt.Errorf("change: end service: %w", err)
		}
		var left int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM change_services WHERE change_id = $1 AND end_at > $2`, id, now).Scan(&left); err != nil {
			return fmt.Errorf("change: end service: %w", err)
		}
		if left == 0 {
			if _, err := q.ExecContext(ctx, `UPDATE changes SET status = $2, end_at = $3, updated_at = $3 WHERE id = $1`, id, Completed, now); err != nil {
				return fmt.Errorf("change: end service: %w", err)
			}
		} else if _, err := q.ExecContext(ctx, `UPDATE changes SET updated_at = $2 WHERE id = $1`, id, now); err != nil {
			return fmt.Errorf("change: end service: %w", err)
		}
		return s.emitUpdated(ctx, q, id)
	})
	if err != nil {
		return nil, err
	}
	s.changed()
	return s.Get(ctx, id)
}

// emitUpdated appends change.updated with change id as q sees it.
func (s *Store) emitUpdated(ctx context.Context, q db.Querier, id int64) error {
	c, err := s.get(ctx, q, id)
	if err != nil {
		return err
	}
	return s.emit(ctx, q, EventUpdated, 0, eventData(c, ""))
}

// EventData is the data of change.created, change.updated and
// change.reminder events (fixed: subscriptions are mailed from it).
type EventData struct {
	ID             int64    `json:"id"`
	Title          string   `json:"title"`
	Services       []string `json:"services"`
	Start          string   `json:"start"`
	End            string   `json:"end"`
	TimeZone       string   `json:"time_zone"`
	Severity       string   `json:"severity"`
	Classification string   `json:"classification"`
	Status         string   `json:"status"`
	Lead           string   `json:"lead,omitempty"` // "24h" or "1h", change.reminder only
}

func eventData(c *Change, lead string) EventData {
	return EventData{ID: c.ID, Title: c.Title, Services: c.Slugs(), Start: c.Start.UTC().Format(time.RFC3339), End: c.End.UTC().Format(time.RFC3339),
		TimeZone: c.TimeZone, Severity: c.Severity, Classification: c.Classification, Status: c.Status, Lead: lead}
}
