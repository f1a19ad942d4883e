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
	"github.com/helpmesh/helpmesh/internal/unit"
)

// Imported is what happened to one downtime of an import.
type Imported struct {
	GOCDBID string
	ID      int64
	Action  string // created, updated or unchanged
}

// ServiceSlugs are the slugs a GOCDB service may map to, in order: its
// host name, its host name with dots and underscores as dashes, its
// service type; each lowercased, kept if it is a valid slug.
func (e Endpoint) ServiceSlugs() []string {
	var out []string
	for _, s := range []string{e.Hostname, strings.NewReplacer(".", "-", "_", "-").Replace(e.Hostname), e.ServiceType} {
		s = strings.ToLower(strings.TrimSpace(s))
		if unit.CheckSlug("service", s) == nil && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// importEntry is a downtime checked and mapped, ready to write.
type importEntry struct {
	c   Change
	svs []*unit.Service
}

// ImportGOCDB writes the downtimes of a GOCDB document as changes, in one
// transaction: a downtime whose GOCDB ID is imported already is updated
// (GOCDB is its source), others are created. Every entry is checked
// before anything is written; the error of a refused import names each
// failing downtime. p must be the importer or work tickets of every
// service named.
func (s *Store) ImportGOCDB(ctx context.Context, p *auth.Principal, dts []Downtime) ([]Imported, error) {
	if len(dts) == 0 {
		return nil, apperr.Field("document", "holds no downtime")
	}
	if p.ReadOnly || !(p.IsPerson() || p.Actor == auth.ActorImporter) {
		return nil, apperr.New(apperr.Forbidden, "%s may not import downtimes", p.Label())
	}
	now := s.clock()
	var problems []string
	entries := make([]importEntry, 0, len(dts))
	var all []*unit.Service
	for _, dt := range dts {
		e, err := s.importEntry(ctx, dt, now)
		if err != nil {
			var ae *apperr.Error
			if !errors.As(err, &ae) {
				return nil, err
			}
			problems = append(problems, fmt.Sprintf("downtime %s: %s", dt.ID, ae.Error()))
			continue
		}
		entries = append(entries, e)
		all = append(all, e.svs...)
	}
	if len(problems) > 0 {
		more := ""
		if len(problems) > 20 {
			more = fmt.Sprintf("; and %d more", len(problems)-20)
			problems = problems[:20]
		}
		return nil, apperr.Rule("document", "%d of %d downtimes are refused, nothing was imported: %s%s", len(problems), len(dts), strings.Join(problems, "; "), more)
	}
	if p.Actor != auth.ActorImporter {
		if err := mayDeclare(p, all); err != nil {
			return nil, err
		}
	}
	var out []Imported
	err := s.db.Tx(ctx, func(q db.Querier) error {
		out = out[:0]
		for i := range entries {
			r, err := s.importOne(ctx, q, &entries[i], p, now)
			if err != nil {
				return fmt.Errorf("downtime %s: %w", entries[i].c.GOCDBID, err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		var ae *apperr.Error
		if errors.As(err, &ae) {
			ae = &apperr.Error{Kind: ae.Kind, Field: ae.Field, Message: err.Error()}
			return nil, fmt.Errorf("nothing was imported: %w", ae)
		}
		return nil, err
	}
	s.changed()
	return out, nil
}

// importEntry checks downtime dt and maps its services.
func (s *Store) importEntry(ctx context.Context, dt Downtime, now time.Time) (importEntry, error) {
	e := importEntry{c: Change{GOCDBID: dt.ID, Severity: dt.Severity, Classification: dt.Classification, TimeZone: "UTC",
		Start: dt.Start, End: dt.End, DeclaredAt: dt.Inserted, Status: Approved}}
	title, desc := SplitGOCDBDescription(dt.Description)
	if err := checkText(&e.c, Fields{Title: &title, Description: &desc}); err != nil {
		return e, err
	}
	if err := checkWindow(dt.Start, dt.End, dt.Inserted); err != nil {
		return e, err
	}
	if e.c.Classification != Scheduled && e.c.Classification != Unscheduled {
		e.c.Classification = classify(dt.Start, dt.Inserted)
	}
	if !now.Before(dt.End) {
		e.c.Status = Completed
	}
	for _, ep := range dt.Endpoints {
		var found *unit.Service
		for _, slug := range ep.ServiceSlugs() {
			sv, err := s.services.Service(ctx, slug)
			if apperr.Is(err, apperr.NotFound) {
				continue
			}
			if err != nil {
				return e, err
			}
			found = sv
			break
		}
		if found == nil {
			return e, apperr.Rule("services", "no service matches HOSTNAME %q or SERVICE_TYPE %q", ep.Hostname, ep.ServiceType)
		}
		if !slices.ContainsFunc(e.svs, func(sv *unit.Service) bool { return sv.ID == found.ID }) {
			e.svs = append(e.svs, found)
		}
	}
	return e, nil
}

// importOne creates or updates the change of one checked downtime in q.
func (s *Store) importOne(ctx context.Context, q db.Querier, e *importEntry, p *auth.Principal, now time.Time) (Imported, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM changes WHERE gocdb_id = $1`, e.c.GOCDBID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		by := p.UserID
		if !p.IsPerson() {
			by = 0
		}
		id, err := s.insert(ctx, q, &e.c, e.svs, by, now)
		return Imported{GOCDBID: e.c.GOCDBID, ID: id, Action: "created"}, err
	}
	if err != nil {
		return Imported{}, fmt.Errorf("change: import: %w", err)
	}
	old, err := s.get(ctx, q, id)
	if err != nil {
		return Imported{}, err
	}
	slugs := make([]string, len(e.svs))
	for i, sv := range e.svs {
		slugs[i] = sv.Slug
	}
	slices.Sort(slugs)
	same := old.Title == e.c.Title && old.Description == e.c.Description && old.Severity == e.c.Severity && old.Classification == e.c.Classification &&
		old.Start.Equal(e.c.Start) && old.End.Equal(e.c.End) && slices.Equal(old.Slugs(), slugs)
	if same {
		return Imported{GOCDBID: e.c.GOCDBID, ID: id, Action: "unchanged"}, nil
	}
	status := old.Status
	if status != Cancelled && status != Failed && e.c.Status == Completed {
		status = Completed
	}
	if err := s.checkOverlap(ctx, q, id, e.c.Start, e.svs, func(*unit.Service) time.Time { return e.c.End }); err != nil {
		return Imported{}, err
	}
	if _, err := q.ExecContext(ctx, `UPDATE changes SET title = $2, description = $3, severity = $4, classification = $5, status = $6, start_at = $7, end_at = $8, declared_at = $9, updated_at = $10 WHERE id = $1`,
		id, e.c.Title, e.c.Description, e.c.Severity, e.c.Classification, status, e.c.Start, e.c.End, e.c.DeclaredAt, now); err != nil {
		return Imported{}, fmt.Errorf("change: import: %w", err)
	}
	if err := s.writeServices(ctx, q, id, e.svs, e.c.End); err != nil {
		return Imported{}, err
	}
	return Imported{GOCDBID: e.c.GOCDBID, ID: id, Action: "updated"}, s.emitUpdated(ctx, q, id)
}
