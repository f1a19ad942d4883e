package incident

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
)

func componentsJSON(cs []ComponentChange) string {
	b, _ := json.Marshal(cs) // strings always marshal
	return string(b)
}

const incidentCols = `id, title, impact, status, created_at, updated_at, monitoring_at, resolved_at`

func scanIncident(r interface{ Scan(...any) error }) (*Incident, error) {
	in := &Incident{}
	var mon, res sql.NullTime
	if err := r.Scan(&in.ID, &in.Title, &in.Impact, &in.Status, &in.CreatedAt, &in.UpdatedAt, &mon, &res); err != nil {
		return nil, err
	}
	in.CreatedAt, in.UpdatedAt = in.CreatedAt.UTC(), in.UpdatedAt.UTC()
	in.MonitoringAt, in.ResolvedAt = timePtr(mon), timePtr(res)
	return in, nil
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

// Get returns incident id with its services, timeline and linked tickets.
// Incidents are public (the status page shows them).
func (s *Store) Get(ctx context.Context, id int64) (*Incident, error) {
	in, err := scanIncident(s.db.Reader().QueryRowContext(ctx, `SELECT `+incidentCols+` FROM incidents WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no incident %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("incident: get: %w", err)
	}
	if err := s.fill(ctx, []*Incident{in}); err != nil {
		return nil, err
	}
	return in, nil
}

// Filter selects incidents.
type Filter struct {
	Unresolved bool
	// Service, when set, keeps the incidents that affect it (a slug).
	Service string
	// Before, when set, keeps incidents with a smaller id (paging).
	Before int64
	Limit  int
}

// MaxList bounds one page of List.
const MaxList = 1000

// List returns incidents, newest first, filled.
func (s *Store) List(ctx context.Context, f Filter) ([]*Incident, error) {
	if f.Limit <= 0 || f.Limit > MaxList {
		f.Limit = MaxList
	}
	var where []string
	var args []any
	if f.Unresolved {
		where = append(where, `status <> 'resolved'`)
	}
	if f.Service != "" {
		args = append(args, f.Service)
		where = append(where, fmt.Sprintf(`id IN (SELECT ic.incident_id FROM incident_components ic JOIN services sv ON sv.id = ic.service_id WHERE sv.slug = $%d)`, len(args)))
	}
	if f.Before > 0 {
		args = append(args, f.Before)
		where = append(where, fmt.Sprintf(`id < $%d`, len(args)))
	}
	qs := `SELECT ` + incidentCols + ` FROM incidents`
	if len(where) > 0 {
		qs += ` WHERE ` + strings.Join(where, ` AND `)
	}
	qs += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, f.Limit)
	rows, err := s.db.Reader().QueryContext(ctx, qs, args...)
	if err != nil {
		return nil, fmt.Errorf("incident: list: %w", err)
	}
	ins, err := db.Collect(rows, scanIncident)
	if err != nil {
		return nil, fmt.Errorf("incident: list: %w", err)
	}
	if err := s.fill(ctx, ins); err != nil {
		return nil, err
	}
	return ins, nil
}

// fill loads the services, updates and tickets of ins.
func (s *Store) fill(ctx context.Context, ins []*Incident) error {
	if len(ins) == 0 {
		return nil
	}
	byID := make(map[int64]*Incident, len(ins))
	ids := make([]int64, len(ins))
	for i, in := range ins {
		byID[in.ID] = in
		ids[i] = in.ID
	}
	set := db.IDSet(ids)
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT ic.incident_id, ic.service_id, sv.slug, sv.name, sv.unit_id, ic.status, ic.worst, ic.started_at, ic.recovered_at
		FROM incident_components ic JOIN services sv ON sv.id = ic.service_id WHERE ic.incident_id IN `+set+` ORDER BY sv.name, sv.slug`)
	if err != nil {
		return fmt.Errorf("incident: components: %w", err)
	}
	err = each(rows, func(r *sql.Rows) error {
		var iid int64
		var c Component
		var rec sql.NullTime
		if err := r.Scan(&iid, &c.ServiceID, &c.Service, &c.Name, &c.UnitID, &c.Status, &c.Worst, &c.StartedAt, &rec); err != nil {
			return err
		}
		c.StartedAt, c.RecoveredAt = c.StartedAt.UTC(), timePtr(rec)
		byID[iid].Components = append(byID[iid].Components, c)
		return nil
	})
	if err != nil {
		return fmt.Errorf("incident: components: %w", err)
	}
	rows, err = s.db.Reader().QueryContext(ctx, `SELECT incident_id, id, status, body, components, created_at FROM incident_updates WHERE incident_id IN `+set+` ORDER BY id DESC`)
	if err != nil {
		return fmt.Errorf("incident: updates: %w", err)
	}
	err = each(rows, func(r *sql.Rows) error {
		var iid int64
		var u Update
		var cs string
		if err := r.Scan(&iid, &u.ID, &u.Status, &u.Body, &cs, &u.CreatedAt); err != nil {
			return err
		}
		u.CreatedAt = u.CreatedAt.UTC()
		if err := json.Unmarshal([]byte(cs), &u.Components); err != nil {
			return fmt.Errorf("update %d: %w", u.ID, err)
		}
		byID[iid].Updates = append(byID[iid].Updates, u)
		return nil
	})
	if err != nil {
		return fmt.Errorf("incident: updates: %w", err)
	}
	rows, err = s.db.Reader().QueryContext(ctx, `SELECT incident_id, ticket_id FROM incident_tickets WHERE incident_id IN `+set+` ORDER BY ticket_id`)
	if err != nil {
		return fmt.Errorf("incident: tickets: %w", err)
	}
	err = each(rows, func(r *sql.Rows) error {
		var iid, tid int64
		if err := r.Scan(&iid, &tid); err != nil {
			return err
		}
		byID[iid].Tickets = append(byID[iid].Tickets, tid)
		return nil
	})
	if err != nil {
		return fmt.Errorf("incident: tickets: %w", err)
	}
	return nil
}

func each(rows *sql.Rows, fn func(r *sql.Rows) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Outage is how long one service was affected by one incident.
type Outage struct {
	ServiceID int64
	Worst     string
	Start     time.Time
	End       *time.Time // nil: not recovered yet
}

// Outages returns the outages that were going on at some time after since.
func (s *Store) Outages(ctx context.Context, since time.Time) ([]Outage, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT service_id, worst, started_at, recovered_at FROM incident_components WHERE recovered_at IS NULL OR recovered_at >= $1`, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("incident: outages: %w", err)
	}
	os, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (Outage, error) {
		var o Outage
		var end sql.NullTime
		err := r.Scan(&o.ServiceID, &o.Worst, &o.Start, &end)
		o.Start, o.End = o.Start.UTC(), timePtr(end)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("incident: outages: %w", err)
	}
	return os, nil
}

// ActiveForService lists the unresolved incidents that affect service
// serviceID (the staff ticket page shows them).
func (s *Store) ActiveForService(ctx context.Context, serviceID int64) ([]*Incident, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT `+incidentCols+` FROM incidents WHERE status <> 'resolved'
		AND id IN (SELECT incident_id FROM incident_components WHERE service_id = $1) ORDER BY id DESC LIMIT 20`, serviceID)
	if err != nil {
		return nil, fmt.Errorf("incident: active: %w", err)
	}
	ins, err := db.Collect(rows, scanIncident)
	if err != nil {
		return nil, fmt.Errorf("incident: active: %w", err)
	}
	return ins, nil
}
