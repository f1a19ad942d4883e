package api

import (
	"net/http"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/subscription"
)

// The status page's subscriptions (for staff) and the announcements to
// services' users: GET /api/v1/subscriptions?service= (administrators, and
// unit admins for a service of their unit); POST /api/v1/announcements
// (administrators, unit admins of every service named); GET
// /api/v1/announcements and /api/v1/announcements/{id} with no sign-in
// (the archive the status page shows; {id} with its progress).

type subscriptionDTO struct {
	ID          int64      `json:"id"`
	Email       string     `json:"email"`
	All         bool       `json:"all_services"`
	Services    []string   `json:"services"`
	Confirmed   bool       `json:"confirmed"`
	ConfirmedAt *time.Time `json:"confirmed_at"`
	RequestedAt time.Time  `json:"requested_at"`
}

type announcementReq struct {
	Title    string   `json:"title"`
	Body     string   `json:"body"`
	Services []string `json:"services"`
	Audience []string `json:"audience"`
}

type announcementDTO struct {
	ID         int64     `json:"id"`
	Title      string    `json:"title"`
	Body       string    `json:"body"`
	Services   []string  `json:"services"`
	Audience   []string  `json:"audience"`
	CreatedAt  time.Time `json:"created_at"`
	Recipients *int      `json:"recipients,omitempty"`
	Sent       *int      `json:"sent,omitempty"`
}

func toAnnouncementDTO(a *subscription.Announcement, progress bool) announcementDTO {
	d := announcementDTO{ID: a.ID, Title: a.Title, Body: a.Body, Services: a.Services, Audience: a.Audience, CreatedAt: a.CreatedAt}
	if d.Services == nil {
		d.Services = []string{}
	}
	if progress {
		d.Recipients, d.Sent = &a.Recipients, &a.Sent
	}
	return d
}

func (a *API) subscriptionRoutes() {
	a.authed("GET /api/v1/subscriptions", a.listSubscriptions)
	a.authed("POST /api/v1/announcements", a.createAnnouncement)
	a.handle("GET /api/v1/announcements", http.HandlerFunc(a.listAnnouncements))
	a.handle("GET /api/v1/announcements/{id}", http.HandlerFunc(a.getAnnouncement))
}

func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	subs, err := a.Subscriptions.List(r.Context(), p, r.URL.Query().Get("service"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]subscriptionDTO, len(subs))
	for i, s := range subs {
		items[i] = subscriptionDTO{ID: s.ID, Email: s.Email, All: s.All, Services: s.Services, Confirmed: s.ConfirmedAt != nil,
			ConfirmedAt: s.ConfirmedAt, RequestedAt: s.RequestedAt}
		if items[i].Services == nil {
			items[i].Services = []string{}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (a *API) createAnnouncement(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var req announcementReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	an, err := a.Subscriptions.Announce(r.Context(), p, subscription.NewAnnouncement{Title: req.Title, Body: req.Body,
		Services: req.Services, Audience: req.Audience})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAnnouncementDTO(an, true))
}

func (a *API) listAnnouncements(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit", 50, 1, 200)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var before int64
	if c := r.URL.Query().Get("cursor"); c != "" {
		if before, err = decodeCursor(c); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	as, err := a.Subscriptions.Announcements(r.Context(), before, limit+1)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	next := ""
	if len(as) > limit {
		as = as[:limit]
		next = encodeCursor(as[limit-1].ID)
	}
	items := make([]announcementDTO, len(as))
	for i, an := range as {
		items[i] = toAnnouncementDTO(an, false)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}

func (a *API) getAnnouncement(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	an, err := a.Subscriptions.Announcement(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAnnouncementDTO(an, true))
}
