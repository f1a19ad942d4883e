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
	"github.com/helpmesh/helpmesh/internal/db"
)

const cols = `id, COALESCE(gocdb_id, ''), title, description, severity, classification, status, risk, plan, rollback, start_at, end_at, time_zone, declared_at, created_at, updated_at`

func scan(r interface{ Scan(...any) error }) (*Change, error) {
	c := &Change{}
	err := r.Scan(&c.ID, &c.GOCDBID, &c.Title, &c.Description, &c.Severity, &c.Classification, &c.Status, &c.Risk, &c.Plan, &c.Rollback,
		&c.Start, &c.End, &c.TimeZone, &c.DeclaredAt, &c.CreatedAt, &c.UpdatedAt)
	for _, t := range []*time.Time{&c.Start, &c.End, &c.DeclaredAt, &c.CreatedAt, &c.UpdatedAt} {
		*t = t.UTC()
	}
	return c, err
}

// Get returns change id. Changes are readable by anyone signed in (the
// status page shows them to everyone).
func (s *Store) Get(ctx context.Context, id int64) (*Change, error) {
	return s.get(ctx, s.db.Reader(), id)
}

func (s *Store) get(ctx context.Context, q db.Querier, id int64) (*Change, error) {
	c, err := scan(q.QueryRowContext(ctx, `SELECT `+cols+` FROM changes WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no change %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("change: get: %w", err)
	}
	if err := fill(ctx, q, []*Change{c}); err != nil {
		return nil, err
	}
	return c, nil
}

// Filter selects changes.
type Filter struct {
	Service string // a slug
	Status  string
	// From and To keep the changes whose window meets [From, To).
	From, To time.Time
	// Open keeps the changes that are neither final nor over.
	Open  bool
	Limit int
}

// List returns changes, latest start first.
func (s *Store) List(ctx context.Context, f Filter) ([]*Change, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Service != "" {
		where = append(where, `id IN (SELECT cs.change_id FROM change_services cs JOIN services sv ON sv.id = cs.service_id WHERE sv.slug = `+arg(f.Service)+`)`)
	}
	if f.Status != "" {
		where = append(where, `status = `+arg(f.Status))
	}
	if !f.From.IsZero() {
		where = append(where, `end_at > `+arg(f.From.UTC()))
	}
	if !f.To.IsZero() {
		where = append(where, `start_at < `+arg(f.To.UTC()))
	}
	if f.Open {
		where = append(where, `status IN ('planned', 'approved', 'in_progress')`)
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 500
	}
	qs := `SELECT ` + cols + ` FROM changes`
	if len(where) > 0 {
		qs += ` WHERE ` + strings.Join(where, ` AND `)
	}
	return s.query(ctx, s.db.Reader(), qs+fmt.Sprintf(` ORDER BY start_at DESC, id DESC LIMIT %d`, f.Limit), args...)
}

func (s *Store) query(ctx context.Context, q db.Querier, qs string, args ...any) ([]*Change, error) {
	rows, err := q.QueryContext(ctx, qs, args...)
	if err != nil {
		return nil, fmt.Errorf("change: list: %w", err)
	}
	cs, err := db.Collect(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("change: list: %w", err)
	}
	if err := fill(ctx, q, cs); err != nil {
		return nil, err
	}
	return cs, nil
}

// fill loads the services and approvals of cs.
func fill(ctx context.Context, q db.Querier, cs []*Change) error {
	if len(cs) == 0 {
		return nil
	}
	by := map[int64]*Change{}
	ids := make([]int64, len(cs))
	for i, c := range cs {
		by[c.ID] = c
		c.Services, c.Approvals = []Service{}, []Approval{}
		ids[i] = c.ID
	}
	set := db.IDSet(ids)
	rows, err := q.QueryContext(ctx, `SELECT cs.change_id, sv.id, sv.slug, cs.end_at FROM change_services cs JOIN services sv ON sv.id = cs.service_id WHERE cs.change_id IN `+set+` ORDER BY sv.slug`)
	if err != nil {
		return fmt.Errorf("change: services: %w", err)
	}
	type row struct {
		change int64
		sv     Service
	}
	svs, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (row, error) {
		var v row
		err := r.Scan(&v.change, &v.sv.ID, &v.sv.Slug, &v.sv.End)
		v.sv.End = v.sv.End.UTC()
		return v, err
	})
	if err != nil {
		return fmt.Errorf("change: services: %w", err)
	}
	for _, v := range svs {
		by[v.change].Services = append(by[v.change].Services, v.sv)
	}
	rows, err = q.QueryContext(ctx, `SELECT ca.change_id, ca.user_id, u.name, ca.approved_at FROM change_approvals ca JOIN users u ON u.id = ca.user_id WHERE ca.change_id IN `+set+` ORDER BY ca.approved_at, ca.user_id`)
	if err != nil {
		return fmt.Errorf("change: approvals: %w", err)
	}
	type arow struct {
		change int64
		a      Approval
	}
	as, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (arow, error) {
		var v arow
		err := r.Scan(&v.change, &v.a.UserID, &v.a.Name, &v.a.At)
		v.a.At = v.a.At.UTC()
		return v, err
	})
	if err != nil {
		return fmt.Errorf("change: approvals: %w", err)
	}
	for _, v := range as {
		by[v.change].Approvals = append(by[v.change].Approvals, v.a)
	}
	return nil
}

// RecentWindow is how far back the staff ticket page shows changes.
const RecentWindow = 7 * 24 * time.Hour

// ForService returns the open changes of service slug and those that
// ended in the last seven days (the staff ticket page's panel), soonest
// first.
func (s *Store) ForService(ctx context.Context, slug string) ([]*Change, error) {
	now := s.clock()
	open, err := s.List(ctx, Filter{Service: slug, Open: true, Limit: 20})
	if err != nil {
		return nil, err
	}
	recent, err := s.List(ctx, Filter{Service: slug, From: now.Add(-RecentWindow), Limit: 20})
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	var out []*Change
	for _, c := range append(open, recent...) {
		if !seen[c.ID] && c.Status != Cancelled {
			seen[c.ID] = true
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b *Change) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// Phase is where c stands at now for the status page: "scheduled" before
// its window, "in_progress" within it (or while marked in progress),
// "completed" after it.
func (c *Change) Phase(now time.Time) string {
	switch {
	case c.Status == Completed || c.Status == Failed:
		return "completed"
	case c.Status == InProgress:
		return "in_progress"
	case now.Before(c.Start):
		return "scheduled"
	case now.Before(c.End):
		return "in_progress"
	}
	return "completed"
}

// Active tells whether c's window holds at now for service (by id): the
// change is live and the service has not ended early.
func (c *Change) Active(now time.Time, serviceID int64) bool {
	if c.Phase(now) != "in_progress" {
		return false
	}
	for _, sv := range c.Services {
		if sv.ID == serviceID {
			return now.Before(sv.End)
		}
	}
	return false
}

// Window is c's window in its own time zone, for people: "4 Mar 2026
// 11:00 – 15:00 CET (Europe/Amsterdam)", the end with its date when it
// falls on another day.
func (c *Change) Window() string {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	s, e := c.Start.In(loc), c.End.In(loc)
	end := e.Format("15:04")
	if s.YearDay() != e.YearDay() || s.Year() != e.Year() {
		end = e.Format("2 Jan 2006 15:04")
	}
	w := s.Format("2 Jan 2006 15:04") + " – " + end + " " + e.Format("MST")
	if c.TimeZone != "UTC" {
		w += " (" + c.TimeZone + ")"
	}
	return w
}
