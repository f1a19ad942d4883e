package web

import (
	"net/http"

	"github.com/helpmesh/helpmesh/internal/unit"
)

// The administration home (GET /admin): the first steps of setting up an
// instance, each marked done once the instance has it, and its numbers.

// setupStep is one first step on the admin home.
type setupStep struct {
	Title, Text string
	Link, Do    string // where it is done, and the link's words
	Done        bool
}

type adminHomeView struct {
	Page
	Steps             []setupStep
	Remaining         int
	Units, Services   int
	Members, Handlers int
}

func (h *Handler) adminIndex(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	us, err := h.d.Units.Units(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	svcs, err := h.d.Units.Services(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := adminHomeView{Page: h.page(r, "Administration", "admin"), Services: len(svcs)}
	var handler *unit.Unit
	withMail := 0
	for _, u := range us {
		ms, err := h.d.Units.Members(ctx, u.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if u.Handler {
			handler = u
			v.Handlers = len(ms)
			continue
		}
		v.Units++
		v.Members += len(ms)
		if u.Email != "" {
			withMail++
		}
	}
	handlerStep := setupStep{Title: "Name the ticket handler team",
		Text: "The first-line team triages the tickets no unit was chosen for and receives escalations. Create a unit and tick “Ticket handler team”, then add its members.",
		Link: "/admin/units", Do: "Create the team"}
	if handler != nil {
		handlerStep.Done, handlerStep.Link, handlerStep.Do = v.Handlers > 0, "/admin/units/"+handler.Slug, "Add its members"
	}
	v.Steps = []setupStep{
		handlerStep,
		{Title: "Create the support units", Text: "A unit is a team that solves tickets, with a reply address (its mailing list) and a quality-of-support level.",
			Link: "/admin/units", Do: "Add a unit", Done: v.Units > 0},
		{Title: "Fill the service catalogue", Text: "Requesters pick a service when they ask for help; each service names the unit that supports it.",
			Link: "/admin/services", Do: "Add a service", Done: v.Services > 0},
		{Title: "Add the supporters", Text: "Members of a unit work its queue. Create their accounts, then add them on the unit's page (or let them ask under Supporter privileges).",
			Link: "/admin/users", Do: "Add people", Done: v.Members > 0},
		{Title: "Check the mail", Text: "Give each unit a reply address so that its members are told of new tickets. Outgoing and quarantined mail is listed on the Mail page.",
			Link: "/admin/outbox", Do: "Open the mail page", Done: v.Units > 0 && withMail == v.Units},
	}
	for _, s := range v.Steps {
		if !s.Done {
			v.Remaining++
		}
	}
	h.render(w, r, http.StatusOK, "admin_home", v)
}
