package api

import (
	"net/http"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/incident"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
)

type incidentReq struct {
	Title      string                     `json:"title"`
	Impact     string                     `json:"impact"`
	Status     string                     `json:"status"`
	Body       string                     `json:"body"`
	Components []incident.ComponentChange `json:"components"`
}

type incidentUpdateReq struct {
	Status        string                     `json:"status"`
	Body          string                     `json:"body"`
	Components    []incident.ComponentChange `json:"components"`
	AnswerTickets bool                       `json:"answer_tickets"`
}

type incidentTicketReq struct {
	TicketID int64 `json:"ticket_id"`
}

type incidentComponentDTO struct {
	Service     string     `json:"service"`
	Name        string     `json:"name"`
	Status      string     `json:"status"`
	Worst       string     `json:"worst"`
	StartedAt   time.Time  `json:"started_at"`
	RecoveredAt *time.Time `json:"recovered_at"`
}

type incidentUpdateDTO struct {
	ID         int64                      `json:"id"`
	Status     string                     `json:"status"`
	Body       string                     `json:"body"`
	Components []incident.ComponentChange `json:"components"`
	CreatedAt  time.Time                  `json:"created_at"`
}

type incidentDTO struct {
	ID           int64                  `json:"id"`
	Title        string                 `json:"title"`
	Impact       string                 `json:"impact"`
	Status       string                 `json:"status"`
	CreatedAt    time.Time              `json:"created_at"`
	UpdatedAt    time.Time              `json:"updated_at"`
	MonitoringAt *time.Time             `json:"monitoring_at"`
	ResolvedAt   *time.Time             `json:"resolved_at"`
	Components   []incidentComponentDTO `json:"components"`
	Updates      []incidentUpdateDTO    `json:"updates"`
	Tickets      []int64                `json:"tickets"`
}

func toIncidentDTO(in *incident.Incident) incidentDTO {
	d := incidentDTO{ID: in.ID, Title: in.Title, Impact: in.Impact, Status: in.Status, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt,
		MonitoringAt: in.MonitoringAt, ResolvedAt: in.ResolvedAt, Components: []incidentComponentDTO{}, Updates: []incidentUpdateDTO{}, Tickets: in.Tickets}
	if d.Tickets == nil {
		d.Tickets = []int64{}
	}
	for _, c := range in.Components {
		d.Components = append(d.Components, incidentComponentDTO{Service: c.Service, Name: c.Name, Status: c.Status, Worst: c.Worst,
			StartedAt: c.StartedAt, RecoveredAt: c.RecoveredAt})
	}
	for _, u := range in.Updates {
		cs := u.Components
		if cs == nil {
			cs = []incident.ComponentChange{}
		}
		d.Updates = append(d.Updates, incidentUpdateDTO{ID: u.ID, Status: u.Status, Body: u.Body, Components: cs, CreatedAt: u.CreatedAt})
	}
	return d
}

func (a *API) createIncident(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var req incidentReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	in, err := a.Incidents.Create(r.Context(), p, incident.NewIncident{Title: req.Title, Impact: req.Impact, Status: req.Status,
		Body: req.Body, Components: req.Components})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toIncidentDTO(in))
}

func (a *API) listIncidents(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	f := incident.Filter{}
	qv := r.URL.Query()
	switch s := qv.Get("status"); s {
	case "":
	case "unresolved":
		f.Unresolved = true
	default:
		a.writeError(w, r, apperr.Field("status", "%q is not unresolved", s))
		return
	}
	if s := qv.Get("service"); s != "" {
		if err := unit.CheckSlug("service", s); err != nil {
			a.writeError(w, r, err)
			return
		}
		f.Service = s
	}
	limit, err := queryInt(r, "limit", 50, 1, 200)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	f.Limit = limit + 1
	if c := qv.Get("cursor"); c != "" {
		if f.Before, err = decodeCursor(c); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	ins, err := a.Incidents.List(r.Context(), f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	next := ""
	if len(ins) > limit {
		ins = ins[:limit]
		next = encodeCursor(ins[limit-1].ID)
	}
	items := make([]incidentDTO, len(ins))
	for i, in := range ins {
		items[i] = toIncidentDTO(in)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}

func (a *API) getIncident(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	in, err := a.Incidents.Get(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toIncidentDTO(in))
}

func (a *API) addIncidentUpdate(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req incidentUpdateReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	in, err := a.Incidents.AddUpdate(r.Context(), p, id, incident.NewUpdate{Status: req.Status, Body: req.Body,
		Components: req.Components, AnswerTickets: req.AnswerTickets, Source: ticket.FromAPI})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toIncidentDTO(in))
}

// ticketLink reads the {id} of the path and a body {"ticket_id": N}.
func ticketLink(r *http.Request) (id, ticketID int64, err error) {
	if id, err = pathID(r, "id"); err != nil {
		return 0, 0, err
	}
	var req incidentTicketReq
	if err := decode(r, &req); err != nil {
		return 0, 0, err
	}
	if req.TicketID <= 0 {
		return 0, 0, apperr.Field("ticket_id", "must be a ticket id")
	}
	return id, req.TicketID, nil
}

func (a *API) linkIncidentTicket(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, tid, err := ticketLink(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Incidents.LinkTicket(r.Context(), p, id, tid); err != nil {
		a.writeError(w, r, err)
		return
	}
	in, err := a.Incidents.Get(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toIncidentDTO(in))
}
