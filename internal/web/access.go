package web

import (
	"net/http"
	"strconv"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/identity"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// The supporter privileges pages: people ask to join a support unit
// (/access), and the unit's admins decide (/access/requests/{id}). Each
// request is also a ticket of the unit (see identity.RequestAccess).

type accessView struct {
	Page
	Units          []*unit.Unit
	Mine, ToDecide []*identity.AccessRequest
}

type accessRequestView struct {
	Page
	Req       *identity.AccessRequest
	CanDecide bool
}

func (h *Handler) accessPage(w http.ResponseWriter, r *http.Request) {
	h.showAccess(w, r, http.StatusOK, "")
}

// showAccess renders the request form with the person's own requests and
// those waiting for their decision; problem is shown above the form.
func (h *Handler) showAccess(w http.ResponseWriter, r *http.Request, status int, problem string) {
	v := accessView{Page: h.page(r, "Supporter privileges", "access")}
	if problem != "" {
		v.Flash, v.FlashKey = problem, "access-problem"
	}
	var err error
	if v.Units, err = h.d.Units.Units(r.Context()); err != nil {
		h.fail(w, r, err)
		return
	}
	if v.Mine, v.ToDecide, err = h.d.Identity.AccessRequests(r.Context(), principal(r)); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, status, "access", v)
}

func (h *Handler) requestAccess(w http.ResponseWriter, r *http.Request) {
	ar, err := h.d.Identity.RequestAccess(r.Context(), h.d.Tickets, principal(r), r.PostFormValue("unit"),
		auth.UnitRole(r.PostFormValue("role")), r.PostFormValue("reason"))
	if err != nil {
		if k := apperr.KindOf(err); k == apperr.Invalid || k == apperr.Conflict {
			h.showAccess(w, r, http.StatusUnprocessableEntity, err.Error())
			return
		}
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/access/requests/"+strconv.FormatInt(ar.ID, 10), http.StatusSeeOther)
}

func (h *Handler) accessRequestPage(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	ar, err := h.d.Identity.AccessRequestByID(r.Context(), p, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := accessRequestView{Page: h.page(r, "Access request", "access"), Req: ar}
	v.CanDecide = ar.Status == "pending" && p.CanManageUnit(ar.UnitID) && (ar.UserID != p.UserID || p.IsAdmin())
	h.render(w, r, http.StatusOK, "access_request", v)
}

func (h *Handler) decideAccess(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	d := r.PostFormValue("decision")
	if d != "approve" && d != "deny" {
		h.errorPage(w, r, http.StatusUnprocessableEntity, "Choose approve or deny.")
		return
	}
	if _, err := h.d.Identity.DecideAccess(r.Context(), h.d.Tickets, principal(r), id, d == "approve", r.PostFormValue("note")); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/access/requests/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}
