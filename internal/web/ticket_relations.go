package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// relationKinds are the kinds the staff ticket page offers (follow_up_of
// is made by the mail gateway).
var relationKinds = []string{ticket.KindRelated, ticket.KindMasterOf, ticket.KindSlaveOf, ticket.KindParentOf, ticket.KindChildOf, ticket.KindDuplicate}

// relationError is the message shown in the relations panel for an error
// of relating or unlinking that the person can act on: bad input, a GGUS
// rule (conflict) or missing rights; "" for any other.
func relationError(err error) string {
	var e *apperr.Error
	if !asAppErr(err, &e) {
		return ""
	}
	switch e.Kind {
	case apperr.Invalid, apperr.Conflict, apperr.Forbidden:
		return capitalize(e.Message) + "."
	}
	return ""
}

// relationStatus is the HTTP status of a page showing relationError(err).
func relationStatus(err error) int {
	switch apperr.KindOf(err) {
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.Forbidden:
		return http.StatusForbidden
	}
	return http.StatusUnprocessableEntity
}

// addRelation relates the ticket to another from the relations panel:
// fields kind and other (a ticket number, "#12" or "12").
func (h *Handler) addRelation(w http.ResponseWriter, r *http.Request) {
	id, ok := ticketID(r)
	if !ok {
		h.errorPage(w, r, http.StatusNotFound, "No such ticket.")
		return
	}
	other, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(r.PostFormValue("other")), "#"), 10, 64)
	if err != nil || other <= 0 {
		h.showTicket(w, r, id, http.StatusUnprocessableEntity, map[string]string{"relation": "Give the other ticket's number, like 42."}, "", "")
		return
	}
	if _, err := h.d.Tickets.Relate(r.Context(), principal(r), id, other, r.PostFormValue("kind"), ticket.FromWeb); err != nil {
		h.relationFailed(w, r, id, err)
		return
	}
	h.redirect(w, r, fmt.Sprintf("/tickets/%d", id), "related")
}

// removeRelation unlinks relation rid (a form field) of the ticket.
func (h *Handler) removeRelation(w http.ResponseWriter, r *http.Request) {
	id, ok := ticketID(r)
	if !ok {
		h.errorPage(w, r, http.StatusNotFound, "No such ticket.")
		return
	}
	rid, err := strconv.ParseInt(r.PostFormValue("rid"), 10, 64)
	if err != nil || rid <= 0 {
		h.showTicket(w, r, id, http.StatusUnprocessableEntity, map[string]string{"relation": "No such relation."}, "", "")
		return
	}
	if err := h.d.Tickets.Unrelate(r.Context(), principal(r), id, rid, ticket.FromWeb); err != nil {
		h.relationFailed(w, r, id, err)
		return
	}
	h.redirect(w, r, fmt.Sprintf("/tickets/%d", id), "unrelated")
}

// relationFailed shows the ticket page with the reason in the relations
// panel when the person can act on it, else the usual error page.
func (h *Handler) relationFailed(w http.ResponseWriter, r *http.Request, id int64, err error) {
	if msg := relationError(err); msg != "" && !apperr.Is(err, apperr.NotFound) {
		if _, gerr := h.d.Tickets.Get(r.Context(), principal(r), id); gerr == nil {
			h.showTicket(w, r, id, relationStatus(err), map[string]string{"relation": msg}, "", "")
			return
		}
	}
	h.fail(w, r, err)
}
