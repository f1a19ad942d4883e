package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/change"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// Fetcher fetches a document by URL, at most max bytes; the app gives one
// whose requests go only where HELPMESH_OUTBOUND_ALLOW allows.
type Fetcher interface {
	Get(ctx context.Context, url string, max int64) ([]byte, error)
}

// changeReq is the body of a declaration (required fields checked by the
// store) and of a PATCH (absent fields unchanged). start and end are RFC
// 3339 strings, parsed here so that a bad one names its field.
type changeReq struct {
	Title       *string   `json:"title"`
	Description *string   `json:"description"`
	Services    *[]string `json:"services"`
	Start       *string   `json:"start"`
	End         *string   `json:"end"`
	TimeZone    *string   `json:"time_zone"`
	Severity    *string   `json:"severity"`
	Risk        *string   `json:"risk"`
	Plan        *string   `json:"plan"`
	Rollback    *string   `json:"rollback"`
	Status      *string   `json:"status"`
}

func (r changeReq) fields() (change.Fields, error) {
	f := change.Fields{Title: r.Title, Description: r.Description, Services: r.Services, TimeZone: r.TimeZone, Severity: r.Severity,
		Risk: r.Risk, Plan: r.Plan, Rollback: r.Rollback, Status: r.Status}
	for _, t := range []struct {
		name string
		in   *string
		out  **time.Time
	}{{"start", r.Start, &f.Start}, {"end", r.End, &f.End}} {
		if t.in == nil {
			continue
		}
		v, err := time.Parse(time.RFC3339, *t.in)
		if err != nil || v.Year() < 2000 || v.Year() > 9999 {
			return f, apperr.Field(t.name, "%q is not an RFC 3339 time like 2026-03-04T10:00:00+01:00", *t.in)
		}
		*t.out = &v
	}
	return f, nil
}

type changeServiceDTO struct {
	Service string    `json:"service"`
	End     time.Time `json:"end"`
}

type changeApprovalDTO struct {
	UserID     int64     `json:"user_id"`
	Name       string    `json:"name"`
	ApprovedAt time.Time `json:"approved_at"`
}

type changeDTO struct {
	ID             int64               `json:"id"`
	Title          string              `json:"title"`
	Description    string              `json:"description"`
	Services       []string            `json:"services"`
	ServiceEnds    []changeServiceDTO  `json:"service_ends"`
	Start          time.Time           `json:"start"`
	End            time.Time           `json:"end"`
	TimeZone       string              `json:"time_zone"`
	Severity       string              `json:"severity"`
	Classification string              `json:"classification"`
	Status         string              `json:"status"`
	Risk           string              `json:"risk"`
	Plan           string              `json:"plan"`
	Rollback       string              `json:"rollback"`
	Approvals      []changeApprovalDTO `json:"approvals"`
	GOCDBID        *string             `json:"gocdb_id"`
	DeclaredAt     time.Time           `json:"declared_at"`
	CreatedAt      time.Time           `json:"created_at"`
	UpdatedAt      time.Time           `json:"updated_at"`
}

func toChangeDTO(c *change.Change) changeDTO {
	d := changeDTO{ID: c.ID, Title: c.Title, Description: c.Description, Services: c.Slugs(), ServiceEnds: []changeServiceDTO{}, Start: c.Start, End: c.End,
		TimeZone: c.TimeZone, Severity: c.Severity, Classification: c.Classification, Status: c.Status, Risk: c.Risk, Plan: c.Plan, Rollback: c.Rollback,
		Approvals: []changeApprovalDTO{}, DeclaredAt: c.DeclaredAt, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	for _, sv := range c.Services {
		d.ServiceEnds = append(d.ServiceEnds, changeServiceDTO{Service: sv.Slug, End: sv.End})
	}
	for _, a := range c.Approvals {
		d.Approvals = append(d.Approvals, changeApprovalDTO{UserID: a.UserID, Name: a.Name, ApprovedAt: a.At})
	}
	if c.GOCDBID != "" {
		d.GOCDBID = &c.GOCDBID
	}
	return d
}

func (a *API) changeRoutes() {
	a.authed("POST /api/v1/changes", a.createChange)
	a.authed("GET /api/v1/changes", a.listChanges)
	a.authed("POST /api/v1/changes/import", a.importChanges)
	a.authed("GET /api/v1/changes/{id}", a.getChange)
	a.authed("PATCH /api/v1/changes/{id}", a.updateChange)
	a.authed("POST /api/v1/changes/{id}/approvals", a.approveChange)
	a.authed("POST /api/v1/changes/{id}/services/{slug}/end", a.endChangeService)
	a.handle("GET /gocdbpi/public/", http.HandlerFunc(a.gocdbPI))
}

func (a *API) createChange(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var req changeReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	f, err := req.fields()
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.Changes.Create(r.Context(), p, f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toChangeDTO(c))
}

// changeFilter reads the filters of a listing (also of the GOCDB PI).
func changeFilter(r *http.Request, from, to string) (change.Filter, error) {
	qv := r.URL.Query()
	f := change.Filter{Service: qv.Get("service"), Status: qv.Get("status")}
	if f.Service != "" {
		if err := unit.CheckSlug("service", f.Service); err != nil {
			return f, err
		}
	}
	if f.Status != "" && !slices.Contains(change.Statuses, f.Status) {
		return f, apperr.Field("status", "%q is not a status of changes", f.Status)
	}
	for _, t := range []struct {
		name string
		out  *time.Time
	}{{from, &f.From}, {to, &f.To}} {
		v := qv.Get(t.name)
		if v == "" {
			continue
		}
		var err error
		if *t.out, err = time.Parse(time.RFC3339, v); err != nil {
			if *t.out, err = time.Parse(time.DateOnly, v); err != nil {
				return f, apperr.Field(t.name, "%q is not an RFC 3339 time or a date (2026-03-04)", v)
			}
		}
	}
	return f, nil
}

func (a *API) listChanges(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	f, err := changeFilter(r, "from", "to")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if f.Limit, err = queryInt(r, "limit", 100, 1, 500); err != nil {
		a.writeError(w, r, err)
		return
	}
	cs, err := a.Changes.List(r.Context(), f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]changeDTO, len(cs))
	for i, c := range cs {
		items[i] = toChangeDTO(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (a *API) getChange(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.Changes.Get(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toChangeDTO(c))
}

func (a *API) updateChange(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req changeReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	f, err := req.fields()
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.Changes.Update(r.Context(), p, id, f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toChangeDTO(c))
}

func (a *API) approveChange(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	a.changeAction(w, r, func(id int64) (*change.Change, error) { return a.Changes.Approve(r.Context(), p, id) })
}

func (a *API) endChangeService(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	slug := r.PathValue("slug")
	a.changeAction(w, r, func(id int64) (*change.Change, error) {
		if err := unit.CheckSlug("slug", slug); err != nil {
			return nil, err
		}
		return a.Changes.EndService(r.Context(), p, id, slug)
	})
}

// changeAction runs a POST on change {id} that takes no fields (an empty
// JSON object at most) and answers 201 with the change.
func (a *API) changeAction(w http.ResponseWriter, r *http.Request, act func(id int64) (*change.Change, error)) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if r.ContentLength != 0 && r.Body != http.NoBody {
		var req struct{}
		if err := decode(r, &req); err != nil && !errors.Is(err, io.EOF) {
			a.writeError(w, r, err)
			return
		}
	}
	c, err := act(id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toChangeDTO(c))
}

type importedDTO struct {
	GOCDBID string `json:"gocdb_id"`
	ID      int64  `json:"id"`
	Action  string `json:"action"`
}

// importChanges imports a GOCDB downtime document: the XML itself as the
// body (Content-Type application/xml or text/xml), or {"url": …} to fetch
// it from (through the outbound policy).
func (a *API) importChanges(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var doc io.Reader
	switch ct {
	case "application/xml", "text/xml":
		doc = r.Body
	case "application/json", "":
		var req struct {
			URL string `json:"url"`
		}
		if err := decode(r, &req); err != nil {
			a.writeError(w, r, err)
			return
		}
		b, err := a.fetchGOCDB(r.Context(), req.URL)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		doc = bytes.NewReader(b)
	default:
		a.writeError(w, r, &apperr.Error{Kind: "unsupported_media_type", Message: "send the GOCDB XML (Content-Type: application/xml) or {\"url\": …} (application/json)"})
		return
	}
	dts, err := change.ParseGOCDB(doc)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	got, err := a.Changes.ImportGOCDB(r.Context(), p, dts)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]importedDTO, len(got))
	counts := map[string]int{"created": 0, "updated": 0, "unchanged": 0}
	for i, g := range got {
		items[i] = importedDTO{GOCDBID: g.GOCDBID, ID: g.ID, Action: g.Action}
		counts[g.Action]++
	}
	writeJSON(w, http.StatusCreated, map[string]any{"items": items, "created": counts["created"], "updated": counts["updated"], "unchanged": counts["unchanged"]})
}

// fetchGOCDB fetches the document at raw through the outbound policy.
func (a *API) fetchGOCDB(ctx context.Context, raw string) ([]byte, error) {
	if raw == "" {
		return nil, apperr.Field("url", "is required")
	}
	if len(raw) > 2048 {
		return nil, apperr.Field("url", "is longer than 2048 characters")
	}
	if _, err := outbound.ParseURL(raw); err != nil {
		return nil, apperr.Field("url", "%v", err)
	}
	if a.Fetcher == nil {
		return nil, apperr.New(apperr.Forbidden, "this helpmesh fetches no URLs")
	}
	b, err := a.Fetcher.Get(ctx, raw, change.MaxGOCDBBytes)
	switch {
	case errors.Is(err, outbound.ErrTooLarge):
		return nil, apperr.New(apperr.TooLarge, "the GOCDB document is larger than %d bytes", change.MaxGOCDBBytes)
	case errors.Is(err, outbound.ErrRefused):
		return nil, apperr.Field("url", "%v", err)
	case err != nil:
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, apperr.Field("url", "could not fetch it: %v", err)
	}
	return b, nil
}

// gocdbPI serves the GOCDB programmatic interface's get_downtime and
// get_downtime_nested_services (public, like GOCDB's /gocdbpi/public/),
// with its filters ongoing_only, startdate, enddate (downtimes that start
// after startdate and end before enddate) and topentity (a service).
func (a *API) gocdbPI(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/gocdbpi/public/" {
		a.writeError(w, r, apperr.New(apperr.NotFound, "no such document"))
		return
	}
	qv := r.URL.Query()
	method := qv.Get("method")
	if method != "get_downtime" && method != "get_downtime_nested_services" {
		a.writeError(w, r, apperr.Field("method", "%q is not served: get_downtime or get_downtime_nested_services", method))
		return
	}
	f, err := changeFilter(r, "", "")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if t := qv.Get("topentity"); t != "" {
		if err := unit.CheckSlug("topentity", t); err != nil {
			a.writeError(w, r, err)
			return
		}
		f.Service = t
	}
	ongoing := qv.Get("ongoing_only")
	if ongoing != "" && ongoing != "yes" && ongoing != "no" {
		a.writeError(w, r, apperr.Field("ongoing_only", "must be yes or no"))
		return
	}
	var after, before time.Time
	for _, t := range []struct {
		name string
		out  *time.Time
	}{{"startdate", &after}, {"enddate", &before}} {
		if v := qv.Get(t.name); v != "" {
			if ongoing == "yes" {
				a.writeError(w, r, apperr.Field(t.name, "is not given with ongoing_only=yes"))
				return
			}
			if *t.out, err = time.Parse(time.DateOnly, v); err != nil {
				a.writeError(w, r, apperr.Field(t.name, "%q is not a date like 2026-03-04", v))
				return
			}
		}
	}
	now := time.Now()
	if ongoing == "yes" {
		f.From, f.To = now, now.Add(time.Second)
	}
	if !after.IsZero() {
		f.From = after
	}
	f.Limit = 500
	cs, err := a.Changes.List(r.Context(), f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	keep := cs[:0]
	for _, c := range cs {
		switch {
		case c.Status == change.Cancelled:
		case !after.IsZero() && !c.Start.After(after):
		case !before.IsZero() && !c.End.Before(before):
		case ongoing == "yes" && (now.Before(c.Start) || !now.Before(c.End)):
		default:
			// Only the entry of the service asked for; only the services
			// not ended early of an ongoing downtime.
			one := *c
			one.Services = slices.DeleteFunc(slices.Clone(c.Services), func(sv change.Service) bool {
				return f.Service != "" && sv.Slug != f.Service || ongoing == "yes" && !now.Before(sv.End)
			})
			if len(one.Services) > 0 {
				keep = append(keep, &one)
			}
		}
	}
	slices.Reverse(keep) // oldest first, like GOCDB
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	portal := strings.TrimRight(a.BaseURL, "/") + "/api/v1/changes"
	if err := change.WriteGOCDB(w, keep, method == "get_downtime_nested_services", portal); err != nil {
		a.Log.Warn("writing the GOCDB downtime document", "err", err)
	}
}
