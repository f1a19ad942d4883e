package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// The staff's view over every ticket they may see (GET /search): all the
// tickets of their units, those they asked for or watch, and for
// administrators and the ticket handler team every ticket. It searches
// subjects and messages, filters by status and unit, and a query that is
// a ticket number ("42" or "#42") opens that ticket.

type searchView struct {
	Page
	Tickets  []*ticket.Ticket
	Q        string
	Status   string // open, closed, all or one status
	Statuses []ticket.Status
	Unit     string // slug, "" for every unit
	Units    []*unit.Unit
	More     string
	// Bulk and ShowUnit are read by the "tickettable" partial.
	Bulk, ShowUnit bool
}

// searchLimit is the page size of the all-tickets view.
const searchLimit = 50

func (h *Handler) allTickets(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principal(r)
	q := r.URL.Query()
	search := strings.TrimSpace(q.Get("q"))
	if n, ok := ticketNumber(search); ok {
		http.Redirect(w, r, "/tickets/"+strconv.FormatInt(n, 10), http.StatusSeeOther)
		return
	}
	if len(search) > 200 {
		search = search[:200]
	}
	statuses, status := statusFilter(q.Get("status"))
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	f := ticket.Filter{Statuses: statuses, Query: search, Before: before, Limit: searchLimit}
	v := searchView{Page: h.page(r, "All tickets", "search"), Q: search, Status: status, Statuses: ticket.Statuses, ShowUnit: true}
	us, err := h.d.Units.Units(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, u := range us {
		if p.StaffOf(u.ID) {
			v.Units = append(v.Units, u)
			if u.Slug == q.Get("unit") {
				v.Unit, f.UnitID = u.Slug, u.ID
			}
		}
	}
	if v.Tickets, err = h.d.Tickets.List(ctx, p, f); err != nil {
		h.fail(w, r, err)
		return
	}
	if len(v.Tickets) == searchLimit {
		next := url.Values{"status": {status}, "before": {strconv.FormatInt(v.Tickets[len(v.Tickets)-1].ID, 10)}}
		if search != "" {
			next.Set("q", search)
		}
		if v.Unit != "" {
			next.Set("unit", v.Unit)
		}
		v.More = "/search?" + next.Encode()
	}
	h.render(w, r, http.StatusOK, "search", v)
}

// ticketNumber reads a search that is only a ticket number: 42 or #42.
func ticketNumber(s string) (int64, bool) {
	s = strings.TrimPrefix(s, "#")
	if s == "" || len(s) > 18 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}
