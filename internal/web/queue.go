package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/savedview"
	"github.com/helpmesh/helpmesh/internal/sla"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// Queue views of a unit.
var queueViews = []struct{ Key, Label string }{
	{"new", "New"},
	{"assigned", "Assigned"},
	{"mine", "Mine"},
	{"waiting", "Waiting"},
	{"overdue", "Overdue"},
	{"open", "All open"},
	{"all", "Everything"},
}

type queueTab struct {
	Key, Label, URL string
	Count           string // "1000+" past countCap
	Active          bool
}

type queueView struct {
	Page
	Unit     *unit.Unit
	Tabs     []queueTab
	View     string
	Tickets  []*ticket.Ticket
	Q        string
	Status   string
	Priority string
	Statuses []ticket.Status
	// BulkStatuses are those the bulk menu offers: the ones staff may set.
	BulkStatuses []ticket.Status
	Prios        []ticket.Priority
	More         string
	Self         string // this view's URL, for saving it
	Members      []unit.Member
	// Bulk puts a checkbox on each row for the bulk form; ShowUnit adds
	// the unit column (the "tickettable" partial).
	Bulk, ShowUnit bool
}

// staffUnits lists the units whose queues p works, with their open counts,
// for the navigation.
func (h *Handler) staffUnits(r *http.Request) []navUnit {
	p := principal(r)
	us, err := h.d.Units.Units(r.Context())
	if err != nil {
		return nil
	}
	var out []navUnit
	for _, u := range us {
		if p.StaffOf(u.ID) {
			out = append(out, navUnit{Slug: u.Slug, Name: u.Name})
		}
	}
	return out
}

func (h *Handler) queueIndex(w http.ResponseWriter, r *http.Request) {
	units := h.staffUnits(r)
	if len(units) == 0 {
		// An administrator before the first unit: every ticket there is.
		http.Redirect(w, r, "/search", http.StatusSeeOther)
		return
	}
	// Prefer a unit the person belongs to over everything they may see.
	p := principal(r)
	target := units[0].Slug
	for _, id := range p.UnitIDs() {
		if u, err := h.d.Units.UnitByID(r.Context(), id); err == nil {
			target = u.Slug
			break
		}
	}
	http.Redirect(w, r, "/queue/"+target, http.StatusSeeOther)
}

// awaiting are the statuses of tickets nobody has taken up yet: their
// response time is still running.
var awaiting = []ticket.Status{ticket.New, ticket.Assigned}

// queueFilter turns a view and its filters into a ticket filter. The
// overdue view holds the tickets not taken up within the unit's QoS
// response time (working hours) by now.
func queueFilter(p *auth.Principal, u *unit.Unit, now time.Time, view, status string) ticket.Filter {
	f := ticket.Filter{UnitID: u.ID}
	switch view {
	case "overdue":
		f.Statuses = awaiting
		f.Overdue = sla.Overdue(u.ResponseTimes(), sla.Office, now)
	case "new":
		f.Statuses = []ticket.Status{ticket.New, ticket.Reopened}
	case "assigned":
		f.Statuses = []ticket.Status{ticket.Assigned}
	case "mine":
		f.AssigneeID = p.UserID
		f.Statuses = openStatuses()
	case "waiting":
		f.Statuses = []ticket.Status{ticket.WaitingForReply, ticket.OnHold}
	case "open":
		f.Statuses = openStatuses()
	}
	if status != "" && slices.Contains(ticket.Statuses, ticket.Status(status)) {
		f.Statuses = []ticket.Status{ticket.Status(status)}
	}
	return f
}

func (h *Handler) queue(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principal(r)
	u, err := h.d.Units.Unit(ctx, r.PathValue("unit"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !p.StaffOf(u.ID) {
		h.errorPage(w, r, http.StatusForbidden, "You do not work this unit's queue.")
		return
	}
	q := r.URL.Query()
	view := q.Get("view")
	if !slices.ContainsFunc(queueViews, func(v struct{ Key, Label string }) bool { return v.Key == view }) {
		view = "open"
	}
	search := strings.TrimSpace(q.Get("q"))
	if len(search) > 200 {
		search = search[:200]
	}
	status := q.Get("status")
	if !slices.Contains(ticket.Statuses, ticket.Status(status)) {
		status = ""
	}
	prio := q.Get("priority")
	if !slices.Contains(ticket.Priorities, ticket.Priority(prio)) {
		prio = ""
	}
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	f := queueFilter(p, u, h.d.Now(), view, status)
	f.Query, f.Before, f.Limit = search, before, 50
	// The ticket handler team triages every unit's tickets: its queue is
	// all of them, with the unit of each, and its views go uncounted (the
	// counts follow one unit's index).
	if u.Handler {
		f.UnitID = 0
	}
	ts, err := h.queueList(r, p, f, prio)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	counts := map[string]int{}
	if !u.Handler {
		if counts, err = h.queueCounts(r, p, u); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	v := queueView{Page: h.page(r, u.Name+" queue", "queue"), Unit: u, View: view, Tickets: ts, Q: search,
		Status: status, Priority: prio, Statuses: ticket.Statuses, Prios: ticket.Priorities, Bulk: true, BulkStatuses: ticket.StaffStatuses(), ShowUnit: u.Handler}
	base := "/queue/" + u.Slug
	for _, qv := range queueViews {
		tab := queueTab{Key: qv.Key, Label: qv.Label, URL: base + "?view=" + qv.Key, Active: qv.Key == view}
		if !u.Handler {
			tab.Count = countLabel(counts[qv.Key])
		}
		v.Tabs = append(v.Tabs, tab)
	}
	self := url.Values{"view": {view}}
	for k, val := range map[string]string{"q": search, "status": status, "priority": prio} {
		if val != "" {
			self.Set(k, val)
		}
	}
	v.Self = base + "?" + self.Encode()
	if len(ts) == 50 {
		self.Set("before", strconv.FormatInt(ts[len(ts)-1].ID, 10))
		v.More = base + "?" + self.Encode()
	}
	if v.Members, err = h.d.Units.Members(ctx, u.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	if v.Page.Saved, err = h.d.SavedViews.List(ctx, p.UserID); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "queue", v)
}

// countCap bounds every count of a queue view: past it the page says
// "1000+", and no count reads more than countCap index entries.
const countCap = 1000

// queueList returns the newest f.Limit tickets of a queue view. A view of
// several statuses is read as one list per status, merged: each is a walk
// of the index (unit_id, status, id), where one list with "status IN (...)"
// would read every matching ticket and sort them.
func (h *Handler) queueList(r *http.Request, p *auth.Principal, f ticket.Filter, prio string) ([]*ticket.Ticket, error) {
	if len(f.Statuses) <= 1 || f.Query != "" {
		return h.listPriority(r, p, f, prio)
	}
	var all []*ticket.Ticket
	for _, s := range f.Statuses {
		fs := f
		fs.Statuses = []ticket.Status{s}
		ts, err := h.listPriority(r, p, fs, prio)
		if err != nil {
			return nil, err
		}
		all = append(all, ts...)
	}
	slices.SortFunc(all, func(a, b *ticket.Ticket) int { return int(b.ID - a.ID) })
	if len(all) > f.Limit {
		all = all[:f.Limit]
	}
	return all, nil
}

// listPriority lists tickets, only those of priority prio when it is set.
func (h *Handler) listPriority(r *http.Request, p *auth.Principal, f ticket.Filter, prio string) ([]*ticket.Ticket, error) {
	if prio != "" {
		f.Priorities = []ticket.Priority{ticket.Priority(prio)}
	}
	return h.d.Tickets.List(r.Context(), p, f)
}

// queueCounts counts the tickets of each view of a unit, up to countCap
// (the caller has checked that p works the unit, so every ticket of it is
// visible). Each status is counted on its own, on the index.
func (h *Handler) queueCounts(r *http.Request, p *auth.Principal, u *unit.Unit) (map[string]int, error) {
	ctx := r.Context()
	count := func(c ticket.UnitCount) (int, error) { return h.d.Tickets.CountInUnit(ctx, p, u.ID, c, countCap+1) }
	c := map[string]int{}
	for _, s := range ticket.Statuses {
		n, err := count(ticket.UnitCount{Statuses: []ticket.Status{s}})
		if err != nil {
			return nil, err
		}
		c["all"] += n
		if s.Open() {
			c["open"] += n
		}
		switch s {
		case ticket.New, ticket.Reopened:
			c["new"] += n
		case ticket.Assigned:
			c["assigned"] += n
		case ticket.WaitingForReply, ticket.OnHold:
			c["waiting"] += n
		}
	}
	mine, err := count(ticket.UnitCount{AssigneeID: p.UserID, Statuses: openStatuses()})
	if err != nil {
		return nil, err
	}
	c["mine"] = mine
	// Overdue: one capped count per priority and status; the oldest rows
	// match first. They stop once past countCap (the page then says
	// "1000+").
	for _, cut := range sla.Overdue(u.ResponseTimes(), sla.Office, h.d.Now()) {
		for _, st := range awaiting {
			if c["overdue"] > countCap {
				return c, nil
			}
			n, err := count(ticket.UnitCount{Priority: cut.Priority, Statuses: []ticket.Status{st}, CreatedBefore: cut.CreatedBefore})
			if err != nil {
				return nil, err
			}
			c["overdue"] += n
		}
	}
	return c, nil
}

// bulk applies one change to the selected tickets of a queue. Each ticket
// is updated on its own (the store checks every one); those that cannot
// change are counted and reported.
func (h *Handler) bulk(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principal(r)
	back := "/queue/" + url.PathEscape(r.PathValue("unit"))
	if ret := auth.SafeNext(r.PostFormValue("return")); strings.HasPrefix(ret, "/queue/") {
		back = ret
	}
	ids := r.PostForm["ticket"]
	if len(ids) == 0 {
		h.errorPage(w, r, http.StatusUnprocessableEntity, "Select at least one ticket first.")
		return
	}
	if len(ids) > 200 {
		h.errorPage(w, r, http.StatusUnprocessableEntity, "Select at most 200 tickets at once.")
		return
	}
	action := r.PostFormValue("action")
	u := ticket.Update{Source: ticket.FromWeb}
	kind, value, _ := strings.Cut(action, ":")
	switch kind {
	case "assign":
		if value == "me" {
			u.AssigneeID = &p.UserID
		} else if n, err := strconv.ParseInt(value, 10, 64); err == nil && n > 0 {
			u.AssigneeID = &n
		} else {
			zero := int64(0)
			u.AssigneeID = &zero
		}
	case "status":
		st := ticket.Status(value)
		if !slices.Contains(ticket.StaffStatuses(), st) {
			h.errorPage(w, r, http.StatusUnprocessableEntity, "Choose an action from the list.")
			return
		}
		u.Status = &st
	case "priority":
		pr := ticket.Priority(value)
		if !slices.Contains(ticket.Priorities, pr) {
			h.errorPage(w, r, http.StatusUnprocessableEntity, "Choose an action from the list.")
			return
		}
		u.Priority = &pr
	default:
		h.errorPage(w, r, http.StatusUnprocessableEntity, "Choose an action from the list.")
		return
	}
	failed := 0
	for _, s := range ids {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			failed++
			continue
		}
		if _, err := h.d.Tickets.Update(ctx, p, id, u); err != nil {
			k := apperr.KindOf(err)
			if k == apperr.Internal {
				h.fail(w, r, err)
				return
			}
			failed++
		}
	}
	flash := "bulk"
	if failed > 0 {
		flash = "bulk-" + strconv.Itoa(failed)
	}
	h.redirect(w, r, back, flash)
}

// Saved views: a staff member names a queue URL with its filters.

// SavedViews is what the queue pages need of the saved views
// (savedview.Store).
type SavedViews interface {
	List(ctx context.Context, userID int64) ([]savedview.View, error)
	Save(ctx context.Context, userID int64, name, path string) (*savedview.View, error)
	Delete(ctx context.Context, userID, id int64) error
}

// savedView is a saved queue view as the pages list it.
type savedView = savedview.View

func (h *Handler) saveView(w http.ResponseWriter, r *http.Request) {
	path := auth.SafeNext(r.PostFormValue("path"))
	_, err := h.d.SavedViews.Save(r.Context(), principal(r).UserID, r.PostFormValue("name"), path)
	var ae *apperr.Error
	switch {
	case err == nil:
	case errors.As(err, &ae) && ae.Field == "name":
		h.errorPage(w, r, http.StatusUnprocessableEntity, "Give the view a name of 1 to 60 characters.")
		return
	case errors.As(err, &ae) && ae.Field == "path":
		h.errorPage(w, r, http.StatusUnprocessableEntity, "Only queue views can be saved.")
		return
	case apperr.Is(err, apperr.Conflict):
		h.errorPage(w, r, http.StatusConflict, fmt.Sprintf("You have %d saved views already; delete one first.", savedview.MaxPerUser))
		return
	default:
		h.fail(w, r, fmt.Errorf("web: save view: %w", err))
		return
	}
	h.redirect(w, r, path, "saved")
}

func (h *Handler) deleteView(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.errorPage(w, r, http.StatusNotFound, "No such view.")
		return
	}
	// Someone else's view, or one deleted already, changes nothing and
	// tells nothing.
	if err := h.d.SavedViews.Delete(r.Context(), principal(r).UserID, id); err != nil && !apperr.Is(err, apperr.NotFound) {
		h.fail(w, r, fmt.Errorf("web: delete view: %w", err))
		return
	}
	h.redirect(w, r, "/queue", "saved")
}

func countLabel(n int) string {
	if n > countCap {
		return strconv.Itoa(countCap) + "+"
	}
	return strconv.Itoa(n)
}
