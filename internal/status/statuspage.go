// Package status builds the public status page of helpmesh: the HTML page,
// the Statuspage v2 JSON documents (research/operations.md §B: the
// de-facto API status clients and bots read), an Atom feed of incidents and
// an iCalendar of maintenance. Everything is rendered at once from one
// snapshot of the database and kept until a change event (or a short
// time) makes it stale; the last rendering is also written to a directory
// and served from there when the database does not answer.
package status

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/helpmesh/helpmesh/internal/incident"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// Services lists the catalogue (the unit store): its services are the
// page's components.
type Services interface {
	Services(ctx context.Context) ([]*unit.Service, error)
}

// Incidents reads incidents (the incident store).
type Incidents interface {
	List(ctx context.Context, f incident.Filter) ([]*incident.Incident, error)
	Outages(ctx context.Context, since time.Time) ([]incident.Outage, error)
}

// Maintenance is an announced intervention on services (a change).
type Maintenance struct {
	ID          int64
	Title       string
	Description string
	// Status is Statuspage's: scheduled, in_progress, verifying, completed.
	Status string
	// Outage is true when the services are down (GOCDB OUTAGE), false
	// when only degraded (WARNING).
	Outage    bool
	Services  []int64
	Start     time.Time
	End       time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Maintenances reads announced maintenance that ends after since and is
// not cancelled.
type Maintenances interface {
	Maintenances(ctx context.Context, since time.Time) ([]Maintenance, error)
}

// The Statuspage v2 documents. Field names are Statuspage's, all present
// (null when unknown), so that its clients read them unchanged.

type pageDoc struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	TimeZone  string    `json:"time_zone"`
	UpdatedAt time.Time `json:"updated_at"`
}

type statusDoc struct {
	Indicator   string `json:"indicator"`
	Description string `json:"description"`
}

type componentDoc struct {
	ID                 string    `json:"id"`
	Name               string    `json:"name"`
	Status             string    `json:"status"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
	Position           int       `json:"position"`
	Description        *string   `json:"description"`
	Showcase           bool      `json:"showcase"`
	StartDate          *string   `json:"start_date"`
	GroupID            *string   `json:"group_id"`
	PageID             string    `json:"page_id"`
	Group              bool      `json:"group"`
	OnlyShowIfDegraded bool      `json:"only_show_if_degraded"`
}

type affectedDoc struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	OldStatus string `json:"old_status"`
	NewStatus string `json:"new_status"`
}

type updateDoc struct {
	ID                 string        `json:"id"`
	Status             string        `json:"status"`
	Body               string        `json:"body"`
	IncidentID         string        `json:"incident_id"`
	CreatedAt          time.Time     `json:"created_at"`
	UpdatedAt          time.Time     `json:"updated_at"`
	DisplayAt          time.Time     `json:"display_at"`
	AffectedComponents []affectedDoc `json:"affected_components"`
	DeliverNotifs      bool          `json:"deliver_notifications"`
	CustomTweet        *string       `json:"custom_tweet"`
	TweetID            *string       `json:"tweet_id"`
}

type incidentDoc struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	Status          string         `json:"status"`
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
	MonitoringAt    *time.Time     `json:"monitoring_at"`
	ResolvedAt      *time.Time     `json:"resolved_at"`
	Impact          string         `json:"impact"`
	Shortlink       string         `json:"shortlink"`
	StartedAt       time.Time      `json:"started_at"`
	PageID          string         `json:"page_id"`
	IncidentUpdates []updateDoc    `json:"incident_updates"`
	Components      []componentDoc `json:"components"`
	// Scheduled maintenances only.
	ScheduledFor   *time.Time `json:"scheduled_for,omitempty"`
	ScheduledUntil *time.Time `json:"scheduled_until,omitempty"`
}

type summaryDoc struct {
	Page                  pageDoc        `json:"page"`
	Components            []componentDoc `json:"components"`
	Incidents             []incidentDoc  `json:"incidents"`
	ScheduledMaintenances []incidentDoc  `json:"scheduled_maintenances"`
	Status                statusDoc      `json:"status"`
}

// snapshot is what the page shows, read at one time.
type snapshot struct {
	at           time.Time
	page         pageDoc
	services     []*unit.Service
	current      map[int64]string // component status by service id
	since        map[int64]time.Time
	recent       []*incident.Incident // newest first
	unresolved   []*incident.Incident
	maintenances []Maintenance
	bars         map[int64][]day
}

func (sn *snapshot) componentDoc(sv *unit.Service, pos int) componentDoc {
	st := sn.current[sv.ID]
	if st == "" {
		st = incident.Operational
	}
	var desc *string
	if sv.Description != "" {
		d := sv.Description
		desc = &d
	}
	upd := sv.UpdatedAt.UTC()
	if t, ok := sn.since[sv.ID]; ok && t.After(upd) {
		upd = t
	}
	start := sv.CreatedAt.UTC().Format(time.DateOnly)
	return componentDoc{ID: sv.Slug, Name: sv.Name, Status: st, CreatedAt: sv.CreatedAt.UTC(), UpdatedAt: upd,
		Position: pos, Description: desc, Showcase: true, StartDate: &start, PageID: sn.page.ID}
}

func (sn *snapshot) components() []componentDoc {
	out := make([]componentDoc, len(sn.services))
	for i, sv := range sn.services {
		out[i] = sn.componentDoc(sv, i+1)
	}
	return out
}

func (sn *snapshot) serviceByID(id int64) (*unit.Service, int) {
	for i, sv := range sn.services {
		if sv.ID == id {
			return sv, i + 1
		}
	}
	return nil, 0
}

func (sn *snapshot) incidentDoc(in *incident.Incident) incidentDoc {
	id := strconv.FormatInt(in.ID, 10)
	d := incidentDoc{ID: id, Name: in.Title, Status: in.Status, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt,
		MonitoringAt: in.MonitoringAt, ResolvedAt: in.ResolvedAt, Impact: in.Impact, Shortlink: sn.page.URL + "#incident-" + id,
		StartedAt: in.CreatedAt, PageID: sn.page.ID, IncidentUpdates: []updateDoc{}, Components: []componentDoc{}}
	names := map[string]string{}
	for _, c := range in.Components {
		if sv, pos := sn.serviceByID(c.ServiceID); sv != nil {
			d.Components = append(d.Components, sn.componentDoc(sv, pos))
		}
		names[c.Service] = c.Name
	}
	// Each update's affected components: the state before it is the
	// state the previous (older) update left.
	prev := map[string]string{}
	ups := slices.Clone(in.Updates)
	slices.Reverse(ups) // oldest first
	docs := make([]updateDoc, 0, len(ups))
	for _, u := range ups {
		aff := []affectedDoc{}
		for _, c := range u.Components {
			old := prev[c.Service]
			if old == "" {
				old = incident.Operational
			}
			aff = append(aff, affectedDoc{Code: c.Service, Name: names[c.Service], OldStatus: old, NewStatus: c.Status})
			prev[c.Service] = c.Status
		}
		uid := strconv.FormatInt(u.ID, 10)
		docs = append(docs, updateDoc{ID: uid, Status: u.Status, Body: u.Body, IncidentID: id, CreatedAt: u.CreatedAt,
			UpdatedAt: u.CreatedAt, DisplayAt: u.CreatedAt, AffectedComponents: aff, DeliverNotifs: true})
	}
	slices.Reverse(docs) // newest first, as Statuspage
	d.IncidentUpdates = docs
	return d
}

func (sn *snapshot) incidentDocs(ins []*incident.Incident) []incidentDoc {
	out := make([]incidentDoc, 0, len(ins))
	for _, in := range ins {
		out = append(out, sn.incidentDoc(in))
	}
	return out
}

func (sn *snapshot) maintenanceDoc(m Maintenance) incidentDoc {
	id := "m" + strconv.FormatInt(m.ID, 10)
	start, end := m.Start, m.End
	d := incidentDoc{ID: id, Name: m.Title, Status: m.Status, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
		Impact: "maintenance", Shortlink: sn.page.URL + "#maintenance-" + id, StartedAt: m.Start, PageID: sn.page.ID,
		Components: []componentDoc{}, ScheduledFor: &start, ScheduledUntil: &end,
		IncidentUpdates: []updateDoc{{ID: id + "-1", Status: m.Status, Body: m.Description, IncidentID: id, CreatedAt: m.CreatedAt,
			UpdatedAt: m.UpdatedAt, DisplayAt: m.CreatedAt, AffectedComponents: []affectedDoc{}, DeliverNotifs: true}}}
	if m.Status == "completed" {
		d.ResolvedAt = &end
	}
	for _, sid := range m.Services {
		if sv, pos := sn.serviceByID(sid); sv != nil {
			d.Components = append(d.Components, sn.componentDoc(sv, pos))
		}
	}
	return d
}

// maintenanceDocs returns the maintenance docs keep selects.
func (sn *snapshot) maintenanceDocs(keep func(Maintenance) bool) []incidentDoc {
	out := []incidentDoc{}
	for _, m := range sn.maintenances {
		if keep(m) {
			out = append(out, sn.maintenanceDoc(m))
		}
	}
	return out
}

func isActive(m Maintenance) bool   { return m.Status == "in_progress" || m.Status == "verifying" }
func isUpcoming(m Maintenance) bool { return m.Status == "scheduled" }

// indicator is the page's overall state.
func (sn *snapshot) indicator() statusDoc {
	worst := 0
	for _, in := range sn.unresolved {
		worst = max(worst, slices.Index(incident.Impacts, in.Impact))
	}
	for _, st := range sn.current {
		if st != incident.UnderMaintenance {
			worst = max(worst, min(incident.Severity(st), 1))
		}
	}
	switch worst {
	case 3:
		return statusDoc{"critical", "Major Service Outage"}
	case 2:
		return statusDoc{"major", "Partial System Outage"}
	case 1:
		return statusDoc{"minor", "Minor Service Outage"}
	}
	if slices.ContainsFunc(sn.maintenances, isActive) {
		return statusDoc{"maintenance", "Service Under Maintenance"}
	}
	return statusDoc{"none", "All Systems Operational"}
}

func (sn *snapshot) summary() summaryDoc {
	return summaryDoc{Page: sn.page, Components: sn.components(), Incidents: sn.incidentDocs(sn.unresolved),
		ScheduledMaintenances: sn.maintenanceDocs(func(m Maintenance) bool { return isActive(m) || isUpcoming(m) }),
		Status:                sn.indicator()}
}

// jsonDocs returns the Statuspage documents by path under /api/v2/.
func (sn *snapshot) jsonDocs() map[string]any {
	all := func(Maintenance) bool { return true }
	type page = map[string]any
	return map[string]any{
		"status.json":                          page{"page": sn.page, "status": sn.indicator()},
		"summary.json":                         sn.summary(),
		"components.json":                      page{"page": sn.page, "components": sn.components()},
		"incidents.json":                       page{"page": sn.page, "incidents": sn.incidentDocs(sn.recent)},
		"incidents/unresolved.json":            page{"page": sn.page, "incidents": sn.incidentDocs(sn.unresolved)},
		"scheduled-maintenances.json":          page{"page": sn.page, "scheduled_maintenances": sn.maintenanceDocs(all)},
		"scheduled-maintenances/upcoming.json": page{"page": sn.page, "scheduled_maintenances": sn.maintenanceDocs(isUpcoming)},
		"scheduled-maintenances/active.json":   page{"page": sn.page, "scheduled_maintenances": sn.maintenanceDocs(isActive)},
	}
}
