package web

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/subscription"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// Announcer sends and lists announcements to the requesters and
// subscribers of services (the subscription store).
type Announcer interface {
	Announce(ctx context.Context, p *auth.Principal, n subscription.NewAnnouncement) (*subscription.Announcement, error)
	Announcements(ctx context.Context, before int64, limit int) ([]*subscription.Announcement, error)
	Announcement(ctx context.Context, id int64) (*subscription.Announcement, error)
	// Counts gives the confirmed subscribers per service, and apart those
	// of every service.
	Counts(ctx context.Context) (map[string]int, int, error)
}

// subscriberCounts is, for each of services, its confirmed subscribers
// with those of every service (the service catalogue page).
func subscriberCounts(ctx context.Context, a Announcer, services []*unit.Service) (map[string]int, error) {
	per, all, err := a.Counts(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(services))
	for _, sv := range services {
		out[sv.Slug] = per[sv.Slug] + all
	}
	return out, nil
}

type announceView struct {
	Page
	Services []*unit.Service // those the person may announce to
	Form     announceForm
	Errors   map[string]string
	Recent   []*subscription.Announcement
}

type announceForm struct {
	Title, Body string
	Services    []string
	Audience    []string
}

// Has tells whether v is among vs (the template's checkboxes).
func (announceForm) Has(vs []string, v string) bool { return slices.Contains(vs, v) }

// recentAnnouncements is how many of the newest announcements the page
// shows with their progress.
const recentAnnouncements = 10

// announcementsPage is the form with which unit admins (and
// administrators) announce to the requesters and subscribers of their
// services, above the newest announcements and how far their mail got.
func (h *Handler) announcementsPage(w http.ResponseWriter, r *http.Request) {
	h.renderAnnouncements(w, r, http.StatusOK, announceForm{Audience: []string{subscription.AudienceRequesters, subscription.AudienceSubscribers}}, nil)
}

func (h *Handler) renderAnnouncements(w http.ResponseWriter, r *http.Request, status int, f announceForm, errs map[string]string) {
	p := principal(r)
	all, err := h.d.Units.Services(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := announceView{Page: h.page(r, "Announcements", "admin"), Form: f, Errors: errs}
	for _, sv := range all {
		if p.CanManageUnit(sv.UnitID) {
			v.Services = append(v.Services, sv)
		}
	}
	if len(v.Services) == 0 {
		h.errorPage(w, r, http.StatusForbidden, "Only administrators of a unit send announcements to its services' users.")
		return
	}
	recent, err := h.d.Announcements.Announcements(r.Context(), 0, recentAnnouncements)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, a := range recent {
		full, err := h.d.Announcements.Announcement(r.Context(), a.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		v.Recent = append(v.Recent, full)
	}
	h.render(w, r, status, "announcements", v)
}

func (h *Handler) announce(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	f := announceForm{Title: strings.TrimSpace(r.PostForm.Get("title")), Body: strings.TrimSpace(r.PostForm.Get("body")),
		Services: r.PostForm["services"], Audience: r.PostForm["audience"]}
	_, err := h.d.Announcements.Announce(r.Context(), principal(r), subscription.NewAnnouncement{Title: f.Title, Body: f.Body,
		Services: f.Services, Audience: f.Audience})
	if err != nil {
		if field, msg, ok := errField(err); ok {
			field, _, _ = strings.Cut(field, "[") // services[0] -> services
			h.renderAnnouncements(w, r, http.StatusUnprocessableEntity, f, map[string]string{field: msg})
			return
		}
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/announcements", "announced")
}
