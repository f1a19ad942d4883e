package api

import (
	"net/http"
	"slices"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/knownerror"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// knownErrorReq is the body of a create (required fields checked by the
// store) and of a PATCH (absent fields unchanged).
type knownErrorReq struct {
	Title      *string   `json:"title"`
	Symptom    *string   `json:"symptom"`
	Workaround *string   `json:"workaround"`
	RootCause  *string   `json:"root_cause"`
	Status     *string   `json:"status"`
	Services   *[]string `json:"services"`
}

func (r knownErrorReq) fields() knownerror.Fields {
	return knownerror.Fields{Title: r.Title, Symptom: r.Symptom, Workaround: r.Workaround, RootCause: r.RootCause, Status: r.Status, Services: r.Services}
}

type knownErrorDTO struct {
	ID         int64     `json:"id"`
	Title      string    `json:"title"`
	Symptom    string    `json:"symptom"`
	Workaround string    `json:"workaround"`
	RootCause  string    `json:"root_cause"`
	Status     string    `json:"status"`
	Services   []string  `json:"services"`
	Tickets    []int64   `json:"tickets"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func toKnownErrorDTO(k *knownerror.KnownError) knownErrorDTO {
	return knownErrorDTO{ID: k.ID, Title: k.Title, Symptom: k.Symptom, Workaround: k.Workaround, RootCause: k.RootCause, Status: k.Status,
		Services: k.Services, Tickets: k.Tickets, CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt}
}

func (a *API) createKnownError(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var req knownErrorReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	k, err := a.KnownErrors.Create(r.Context(), p, req.fields())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toKnownErrorDTO(k))
}

func (a *API) listKnownErrors(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	qv := r.URL.Query()
	f := knownerror.Filter{Service: qv.Get("service"), Q: qv.Get("q"), Status: qv.Get("status")}
	if f.Service != "" {
		if err := unit.CheckSlug("service", f.Service); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	if f.Status != "" && !slices.Contains(knownerror.Statuses, f.Status) {
		a.writeError(w, r, apperr.Field("status", "%q is not a status of known errors", f.Status))
		return
	}
	if len(f.Q) > 200 {
		a.writeError(w, r, apperr.Field("q", "is longer than 200 characters"))
		return
	}
	limit, err := queryInt(r, "limit", 100, 1, 500)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	f.Limit = limit
	kes, err := a.KnownErrors.List(r.Context(), f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]knownErrorDTO, len(kes))
	for i, k := range kes {
		items[i] = toKnownErrorDTO(k)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (a *API) getKnownError(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	k, err := a.KnownErrors.Get(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toKnownErrorDTO(k))
}

func (a *API) updateKnownError(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req knownErrorReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	k, err := a.KnownErrors.Update(r.Context(), p, id, req.fields())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toKnownErrorDTO(k))
}

func (a *API) linkKnownErrorTicket(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, tid, err := ticketLink(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	k, err := a.KnownErrors.LinkTicket(r.Context(), p, id, tid, ticket.FromAPI)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toKnownErrorDTO(k))
}
