package web

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/change"
	"github.com/helpmesh/helpmesh/internal/incident"
	"github.com/helpmesh/helpmesh/internal/knownerror"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
)

type listView struct {
	Page
	Tickets  []*ticket.Ticket
	Q        string
	Status   string // open, closed, all or one status
	Statuses []ticket.Status
	More     string // URL of the next page, "" when none
	Counts   map[string]int
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	ts, err := h.d.Tickets.List(r.Context(), p, ticket.Filter{RequesterID: p.UserID, Statuses: openStatuses(), Limit: 8})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pg := h.page(r, "Home", "home")
	h.render(w, r, http.StatusOK, "home", listView{Page: pg, Tickets: ts})
}

func openStatuses() []ticket.Status {
	var ss []ticket.Status
	for _, s := range ticket.Statuses {
		if s.Open() {
			ss = append(ss, s)
		}
	}
	return ss
}

func closedStatuses() []ticket.Status {
	var ss []ticket.Status
	for _, s := range ticket.Statuses {
		if !s.Open() {
			ss = append(ss, s)
		}
	}
	return ss
}

// statusFilter turns the status parameter of a list into statuses.
func statusFilter(v string) ([]ticket.Status, string) {
	switch v {
	case "", "open":
		return openStatuses(), "open"
	case "closed":
		return closedStatuses(), "closed"
	case "all":
		return nil, "all"
	}
	if slices.Contains(ticket.Statuses, ticket.Status(v)) {
		return []ticket.Status{ticket.Status(v)}, v
	}
	return openStatuses(), "open"
}

// myTickets lists the tickets the signed-in person asked for (and their
// team's), with filters and full-text search.
func (h *Handler) myTickets(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	q := r.URL.Query()
	statuses, status := statusFilter(q.Get("status"))
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	search := strings.TrimSpace(q.Get("q"))
	if len(search) > 200 {
		search = search[:200]
	}
	f := ticket.Filter{RequesterID: p.UserID, Statuses: statuses, Query: search, Before: before, Limit: 25}
	ts, err := h.d.Tickets.List(r.Context(), p, f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := listView{Page: h.page(r, "My tickets", "tickets"), Tickets: ts, Q: search, Status: status, Statuses: ticket.Statuses}
	if len(ts) == f.Limit {
		nq := url.Values{"status": {status}, "before": {strconv.FormatInt(ts[len(ts)-1].ID, 10)}}
		if search != "" {
			nq.Set("q", search)
		}
		v.More = "/tickets?" + nq.Encode()
	}
	h.render(w, r, http.StatusOK, "tickets", v)
}

type newTicketView struct {
	Page
	Services   []*unit.Service
	Types      []ticket.Type
	Priorities []ticket.Priority
	Form       newTicketForm
	Errors     map[string]string
	MaxUpload  int64
	// KnownErrors are the active known errors by service slug, shown
	// under the service when it is chosen (partial "known-errors").
	KnownErrors map[string][]*knownerror.KnownError
	// ServiceChoices is the list of services, rendered (service_choices.go).
	ServiceChoices template.HTML
}

type newTicketForm struct {
	Subject, Body, Service, Type, Priority, Watchers string
}

func (h *Handler) newTicketPage(w http.ResponseWriter, r *http.Request) {
	f := newTicketForm{Type: string(ticket.Incident), Priority: string(ticket.LessUrgent), Service: r.URL.Query().Get("service")}
	h.renderNewTicket(w, r, http.StatusOK, f, nil)
}

func (h *Handler) renderNewTicket(w http.ResponseWriter, r *http.Request, status int, f newTicketForm, errs map[string]string) {
	svcs, err := h.d.Units.CachedServices(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var kes map[string][]*knownerror.KnownError
	if h.d.KnownErrors != nil {
		if kes, err = h.d.KnownErrors.ActiveByService(r.Context()); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	choices, err := h.choices.get(h.views.pages["new"], svcs, kes, f.Service)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, status, "new", newTicketView{Page: h.page(r, "New ticket", "new"), Services: svcs,
		Types: ticket.Types, Priorities: ticket.Priorities, Form: f, Errors: errs, MaxUpload: h.d.MaxUpload, KnownErrors: kes,
		ServiceChoices: choices})
}

func (h *Handler) newTicket(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principal(r)
	f := newTicketForm{
		Subject:  r.PostFormValue("subject"),
		Body:     r.PostFormValue("body"),
		Service:  strings.TrimSpace(r.PostFormValue("service")),
		Type:     r.PostFormValue("type"),
		Priority: r.PostFormValue("priority"),
		Watchers: r.PostFormValue("watchers"),
	}
	errs := map[string]string{}
	nt := ticket.NewTicket{Subject: f.Subject, Body: f.Body, Type: ticket.Type(f.Type), Priority: ticket.Priority(f.Priority), Source: ticket.FromWeb}
	if f.Service != "" {
		sv, err := h.d.Units.Service(ctx, f.Service)
		switch {
		case apperr.Is(err, apperr.NotFound):
			errs["service"] = "Choose a service from the list, or “I don't know”."
		case err != nil:
			h.fail(w, r, err)
			return
		default:
			nt.ServiceID, nt.UnitID = sv.ID, sv.UnitID
		}
	} else {
		hu, err := h.d.Units.Handler(ctx)
		if err != nil && !apperr.Is(err, apperr.NotFound) {
			h.fail(w, r, err)
			return
		}
		if hu != nil {
			nt.HandlerID = hu.ID
		}
	}
	for _, a := range strings.FieldsFunc(f.Watchers, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' }) {
		nt.Watchers = append(nt.Watchers, a)
	}
	if len(nt.Watchers) > 20 {
		errs["watchers"] = "Add at most 20 watchers."
	}
	if len(errs) > 0 {
		h.renderNewTicket(w, r, http.StatusUnprocessableEntity, f, errs)
		return
	}
	atts, err := h.saveUploads(r)
	if err != nil {
		if fe := fieldError(err); fe != "" {
			errs["attachments"] = fe
			h.renderNewTicket(w, r, http.StatusUnprocessableEntity, f, errs)
			return
		}
		h.fail(w, r, err)
		return
	}
	nt.Attachments = atts
	t, err := h.d.Tickets.Create(ctx, p, nt)
	if err != nil {
		var e *apperr.Error
		if asAppErr(err, &e) && e.Kind == apperr.Invalid {
			field := e.Field
			if field == "" || field == "email" {
				field = "form"
				if e.Field == "email" {
					field = "watchers"
				}
			}
			errs[field] = capitalize(e.Message) + "."
			h.renderNewTicket(w, r, http.StatusUnprocessableEntity, f, errs)
			return
		}
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/tickets/"+strconv.FormatInt(t.ID, 10), "created")
}

// maxFiles is how many files one message may carry.
const maxFiles = 10

// saveUploads stores the files of the "attachments" field as blobs.
func (h *Handler) saveUploads(r *http.Request) ([]ticket.NewAttachment, error) {
	if r.MultipartForm == nil {
		return nil, nil
	}
	var fhs []*multipart.FileHeader
	for _, fh := range r.MultipartForm.File["attachments"] {
		if fh.Filename != "" || fh.Size > 0 {
			fhs = append(fhs, fh)
		}
	}
	if len(fhs) > maxFiles {
		return nil, apperr.Field("attachments", "attach at most %d files", maxFiles)
	}
	var out []ticket.NewAttachment
	for _, fh := range fhs {
		name := cleanFilename(fh.Filename)
		if fh.Size > h.d.MaxUpload {
			return nil, apperr.Field("attachments", "%s is larger than %s", name, humanSize(h.d.MaxUpload))
		}
		f, err := fh.Open()
		if err != nil {
			return nil, fmt.Errorf("web: open upload: %w", err)
		}
		sum, size, err := h.d.Blobs.Put(r.Context(), f, h.d.MaxUpload)
		f.Close()
		if apperr.Is(err, apperr.TooLarge) {
			return nil, apperr.Field("attachments", "%s is larger than %s", name, humanSize(h.d.MaxUpload))
		}
		if err != nil {
			return nil, fmt.Errorf("web: store upload: %w", err)
		}
		ct := fh.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); err != nil || len(ct) > 200 {
			ct = "application/octet-stream"
		} else {
			ct = mt
		}
		out = append(out, ticket.NewAttachment{Filename: name, ContentType: ct, Size: size, SHA256: sum})
	}
	return out, nil
}

// cleanFilename is ticket.SafeFilename with "file" for a name with
// nothing left. It is shown escaped, never trusted.
func cleanFilename(s string) string { return ticket.SafeFilename(s, "file") }

func fieldError(err error) string {
	var e *apperr.Error
	if asAppErr(err, &e) && (e.Kind == apperr.Invalid || e.Kind == apperr.TooLarge) {
		return capitalize(e.Message) + "."
	}
	return ""
}

type ticketView struct {
	Page
	T         *ticket.Ticket
	Messages  []*ticket.Message
	History   []ticket.HistoryEntry
	CanWork   bool
	CanVerify bool // the requester of a solved or unsolved ticket
	// CanEscalate: the requester, the ticket's team or its staff, while
	// the ticket is open and below MaxEscalation.
	CanEscalate bool
	// EscalateTo names who the next escalation would tell.
	EscalateTo    string
	MaxEscalation int
	Frozen        bool
	Next          []ticket.Status
	Units         []*unit.Unit
	Services      []*unit.Service
	// Assignees are the people the ticket may be given to, by unit: its
	// own unit first, so that moving and assigning are one save.
	Assignees []assigneeGroup
	Types     []ticket.Type
	Prios     []ticket.Priority
	Errors    map[string]string
	Reply     string
	Note      string
	// UnitName and ServiceName name the ticket's unit and service (the
	// ticket has their slugs).
	UnitName, ServiceName string
	// HandledBy is the address of the unit's list that works the ticket
	// by mail (the integration mode redirect); "" otherwise.
	HandledBy string
	// Sync is the ticket's links with external systems, and for its
	// staff the sync log.
	Sync ticketSync
	// Service holds what staff should know about the ticket's service
	// (partial "service-notices").
	Service serviceNotices
	// Relations are the ticket's relations to tickets the person sees;
	// RelationKinds what the staff's form offers.
	Relations     []ticket.Relation
	RelationKinds []string
}

// serviceNotices are the open incidents, active known errors and open
// and recent changes of a ticket's service.
type serviceNotices struct {
	Incidents   []*incident.Incident
	KnownErrors []*knownerror.KnownError
	Changes     []*change.Change
}

// serviceNoticesOf reads the notices of service sv (slug) for the staff
// ticket page.
func (h *Handler) serviceNoticesOf(ctx context.Context, id int64, slug string) (serviceNotices, error) {
	var n serviceNotices
	var err error
	if id == 0 {
		return n, nil
	}
	if h.d.Incidents != nil {
		if n.Incidents, err = h.d.Incidents.ActiveForService(ctx, id); err != nil {
			return n, err
		}
	}
	if h.d.KnownErrors != nil {
		if n.KnownErrors, err = h.d.KnownErrors.List(ctx, knownerror.Filter{Service: slug, Active: true, Limit: 20}); err != nil {
			return n, err
		}
	}
	if h.d.Changes != nil {
		if n.Changes, err = h.d.Changes.ForService(ctx, slug); err != nil {
			return n, err
		}
	}
	return n, nil
}

func ticketID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

func (h *Handler) ticketPage(w http.ResponseWriter, r *http.Request) {
	id, ok := ticketID(r)
	if !ok {
		h.errorPage(w, r, http.StatusNotFound, "Ticket numbers are whole numbers, like /tickets/42.")
		return
	}
	h.showTicket(w, r, id, http.StatusOK, nil, "", "")
}

func (h *Handler) showTicket(w http.ResponseWriter, r *http.Request, id int64, status int, errs map[string]string, reply, note string) {
	ctx := r.Context()
	p := principal(r)
	t, err := h.d.Tickets.Get(ctx, p, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ms, err := h.d.Tickets.Messages(ctx, p, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hist, err := h.d.Tickets.History(ctx, p, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := ticketView{
		Page: h.page(r, fmt.Sprintf("#%d %s", t.ID, t.Subject), "tickets"),
		T:    t, Messages: ms, History: hist, Errors: errs, Reply: reply, Note: note,
		CanWork:   p.CanWorkTicket(t.Facts()),
		CanVerify: p.UserID == t.Requester.ID && (t.Status == ticket.Solved || t.Status == ticket.Unsolved),
		Frozen:    t.Status.Frozen(),
		Types:     ticket.Types, Prios: ticket.Priorities,
		CanEscalate:   p.CanEscalate(t.Facts()) && !p.ReadOnly && !t.Status.Frozen() && t.EscalationLevel < ticket.MaxEscalation,
		EscalateTo:    ticket.EscalationAudience(t.EscalationLevel + 1),
		MaxEscalation: ticket.MaxEscalation,
	}
	if v.Sync, err = h.syncOf(ctx, id, v.CanWork); err != nil {
		h.fail(w, r, err)
		return
	}
	if v.UnitName, v.ServiceName, v.HandledBy, err = h.unitAndServiceNames(r, t); err != nil {
		h.fail(w, r, err)
		return
	}
	if !v.CanWork {
		v.History = requesterHistory(hist, t, ms)
	}
	if v.Relations, err = h.d.Tickets.Relations(ctx, p, id); err != nil {
		h.fail(w, r, err)
		return
	}
	if v.CanWork {
		v.Page.Nav = "queue"
		v.RelationKinds = relationKinds
		for _, st := range ticket.Next(t.Status) {
			if st != ticket.Verified || p.UserID == t.Requester.ID {
				v.Next = append(v.Next, st)
			}
		}
		if v.Units, err = h.d.Units.Units(ctx); err != nil {
			h.fail(w, r, err)
			return
		}
		if v.Services, err = h.d.Units.Services(ctx); err != nil {
			h.fail(w, r, err)
			return
		}
		if v.Assignees, err = h.assigneeGroups(r, p, t.UnitID, v.Units); err != nil {
			h.fail(w, r, err)
			return
		}
		if v.Service, err = h.serviceNoticesOf(ctx, t.ServiceID, t.Service); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	h.render(w, r, status, "ticket", v)
}

// unitAndServiceNames names the ticket's unit and service (a slug stands
// for one that cannot be found), and the address of the list that works
// it by mail when it is in the mode redirect (unit.ModeOf).
func (h *Handler) unitAndServiceNames(r *http.Request, t *ticket.Ticket) (unitName, serviceName, list string, err error) {
	unitName, serviceName = t.Unit, t.Service
	var u *unit.Unit
	var sv *unit.Service
	if t.UnitID != 0 {
		u, err = h.d.Units.UnitByID(r.Context(), t.UnitID)
		if err != nil && !apperr.Is(err, apperr.NotFound) {
			return "", "", "", err
		}
		if u != nil {
			unitName = u.Name
		}
	}
	if t.Service != "" {
		sv, err = h.d.Units.Service(r.Context(), t.Service)
		if err != nil && !apperr.Is(err, apperr.NotFound) {
			return "", "", "", err
		}
		if sv != nil {
			serviceName = sv.Name
		}
	}
	if u != nil && u.Email != "" && unit.ModeOf(u, sv) == unit.Redirect {
		list = u.Email
	}
	return unitName, serviceName, list, nil
}

// assigneeGroup is one unit's members in the assignee list.
type assigneeGroup struct {
	Unit    string
	Members []unit.Member
}

// assigneeGroups lists the members of every unit, the ticket's own unit
// (unitID) first, and p among them when p is in none (administrators).
func (h *Handler) assigneeGroups(r *http.Request, p *auth.Principal, unitID int64, units []*unit.Unit) ([]assigneeGroup, error) {
	var own, other []assigneeGroup
	seen := false
	for _, u := range units {
		ms, err := h.d.Units.Members(r.Context(), u.ID)
		if err != nil {
			return nil, err
		}
		if len(ms) == 0 {
			continue
		}
		seen = seen || slices.ContainsFunc(ms, func(m unit.Member) bool { return m.UserID == p.UserID })
		if u.ID == unitID {
			own = append(own, assigneeGroup{Unit: u.Name, Members: ms})
		} else {
			other = append(other, assigneeGroup{Unit: u.Name, Members: ms})
		}
	}
	groups := append(own, other...)
	if !seen {
		groups = append([]assigneeGroup{{Unit: "You", Members: []unit.Member{{UserID: p.UserID, Email: p.Email, Name: p.Name}}}}, groups...)
	}
	return groups, nil
}

func (h *Handler) addMessage(w http.ResponseWriter, r *http.Request) {
	id, ok := ticketID(r)
	if !ok {
		h.errorPage(w, r, http.StatusNotFound, "No such ticket.")
		return
	}
	if r.PostFormValue("triage") == "1" {
		h.triage(w, r, id)
		return
	}
	p := principal(r)
	body := r.PostFormValue("body")
	internal := r.PostFormValue("internal") == "1"
	if !h.postMessage(w, r, p, id, body, internal) {
		return
	}
	flash := "replied"
	if internal {
		flash = "noted"
	}
	h.redirect(w, r, fmt.Sprintf("/tickets/%d#latest", id), flash)
}

// postMessage adds a reply or an internal note with the request's
// attachments; on a mistake in it, it shows the ticket page again with
// the text kept, and answers false.
func (h *Handler) postMessage(w http.ResponseWriter, r *http.Request, p *auth.Principal, id int64, body string, internal bool) bool {
	atts, err := h.saveUploads(r)
	if err == nil {
		_, err = h.d.Tickets.AddMessage(r.Context(), p, id, ticket.NewMessage{Body: body, Internal: internal, Source: ticket.FromWeb, Attachments: atts})
	}
	if err != nil {
		if msg := fieldError(err); msg != "" {
			field, reply, note := "reply", body, ""
			if internal {
				field, reply, note = "note", "", body
			}
			h.showTicket(w, r, id, http.StatusUnprocessableEntity, map[string]string{field: msg}, reply, note)
			return false
		}
		h.fail(w, r, err)
		return false
	}
	return true
}

// triage is the staff's one save on the ticket page: a public reply (when
// written) and the changes of status, priority, type, service, unit and
// assignee. The reply goes first, so that the status chosen with it is
// the one the ticket keeps; the fields are changed in one update, and only
// those that differ from the ticket as it is.
func (h *Handler) triage(w http.ResponseWriter, r *http.Request, id int64) {
	ctx := r.Context()
	p := principal(r)
	t, err := h.d.Tickets.Get(ctx, p, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !p.CanWorkTicket(t.Facts()) {
		h.errorPage(w, r, http.StatusForbidden, "Only the staff of the ticket's unit change its fields.")
		return
	}
	u, err := h.parseUpdate(r, p)
	if err != nil {
		if msg := fieldError(err); msg != "" {
			h.showTicket(w, r, id, http.StatusUnprocessableEntity, map[string]string{"fields": msg}, r.PostFormValue("body"), "")
			return
		}
		h.fail(w, r, err)
		return
	}
	u = changesOnly(t, u)
	body := r.PostFormValue("body")
	replied := strings.TrimSpace(body) != "" || hasUploads(r)
	if !replied && u.Empty() {
		h.showTicket(w, r, id, http.StatusUnprocessableEntity, map[string]string{"reply": "Write a reply or change a field, then save."}, "", "")
		return
	}
	if replied && !h.postMessage(w, r, p, id, body, false) {
		return
	}
	flash := "replied"
	if !u.Empty() {
		prefix := ""
		if replied {
			prefix = "Your reply was sent, but the changes were not saved: "
		}
		if !h.applyFields(w, r, p, id, u, prefix) {
			return
		}
		if !replied {
			flash = "updated"
		}
	}
	h.redirect(w, r, fmt.Sprintf("/tickets/%d#latest", id), flash)
}

// changesOnly keeps the fields of u that differ from ticket t. A new
// service without a new unit moves the ticket to the service's unit.
func changesOnly(t *ticket.Ticket, u ticket.Update) ticket.Update {
	if u.Status != nil && *u.Status == t.Status {
		u.Status = nil
	}
	if u.Priority != nil && *u.Priority == t.Priority {
		u.Priority = nil
	}
	if u.Type != nil && *u.Type == t.Type {
		u.Type = nil
	}
	if u.UnitID != nil && *u.UnitID == t.UnitID {
		u.UnitID = nil
	}
	if u.ServiceID != nil && *u.ServiceID == t.ServiceID {
		u.ServiceID = nil
	}
	if u.AssigneeID != nil {
		var now int64
		if t.Assignee != nil {
			now = t.Assignee.ID
		}
		if *u.AssigneeID == now {
			u.AssigneeID = nil
		}
	}
	return u
}

func hasUploads(r *http.Request) bool {
	return r.MultipartForm != nil && len(r.MultipartForm.File["attachments"]) > 0
}

func (h *Handler) addWatcher(w http.ResponseWriter, r *http.Request) {
	id, ok := ticketID(r)
	if !ok {
		h.errorPage(w, r, http.StatusNotFound, "No such ticket.")
		return
	}
	err := h.d.Tickets.AddWatcher(r.Context(), principal(r), id, r.PostFormValue("email"), ticket.FromWeb)
	if err != nil {
		if msg := fieldError(err); msg != "" {
			h.showTicket(w, r, id, http.StatusUnprocessableEntity, map[string]string{"watcher": msg}, "", "")
			return
		}
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, fmt.Sprintf("/tickets/%d", id), "watcher")
}

func (h *Handler) removeWatcher(w http.ResponseWriter, r *http.Request) {
	id, ok := ticketID(r)
	if !ok {
		h.errorPage(w, r, http.StatusNotFound, "No such ticket.")
		return
	}
	if err := h.d.Tickets.RemoveWatcher(r.Context(), principal(r), id, r.PostFormValue("email"), ticket.FromWeb); err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, fmt.Sprintf("/tickets/%d", id), "unwatch")
}

// escalate is a GGUS user escalation from the ticket page: the level
// rises by one, with the reason given.
func (h *Handler) escalate(w http.ResponseWriter, r *http.Request) {
	id, ok := ticketID(r)
	if !ok {
		h.errorPage(w, r, http.StatusNotFound, "No such ticket.")
		return
	}
	if _, err := h.d.Tickets.Escalate(r.Context(), principal(r), id, r.PostFormValue("reason"), ticket.FromWeb); err != nil {
		if fieldError(err) != "" {
			var e *apperr.Error
			asAppErr(err, &e)
			h.showTicket(w, r, id, http.StatusUnprocessableEntity, map[string]string{"escalate": "The reason " + e.Message + "."}, "", "")
			return
		}
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, fmt.Sprintf("/tickets/%d", id), "escalated")
}

// setStatus: the requester verifies or reopens a solved ticket; staff move
// it along the workflow.
func (h *Handler) setStatus(w http.ResponseWriter, r *http.Request) {
	id, ok := ticketID(r)
	if !ok {
		h.errorPage(w, r, http.StatusNotFound, "No such ticket.")
		return
	}
	st := ticket.Status(r.PostFormValue("status"))
	if !slices.Contains(ticket.Statuses, st) {
		h.errorPage(w, r, http.StatusUnprocessableEntity, "Choose a status from the list.")
		return
	}
	if _, err := h.d.Tickets.Update(r.Context(), principal(r), id, ticket.Update{Status: &st, Source: ticket.FromWeb}); err != nil {
		h.fail(w, r, err)
		return
	}
	flash := "updated"
	switch st {
	case ticket.Verified:
		flash = "verified"
	case ticket.Reopened:
		flash = "reopened"
	}
	h.redirect(w, r, fmt.Sprintf("/tickets/%d", id), flash)
}

// setFields applies the staff's changes of status, priority, type, unit and
// assignee in one update (one transaction, one history entry per field).
func (h *Handler) setFields(w http.ResponseWriter, r *http.Request) {
	id, ok := ticketID(r)
	if !ok {
		h.errorPage(w, r, http.StatusNotFound, "No such ticket.")
		return
	}
	p := principal(r)
	u, err := h.parseUpdate(r, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if h.applyFields(w, r, p, id, u, "") {
		h.redirect(w, r, fmt.Sprintf("/tickets/%d", id), "updated")
	}
}

// applyFields updates ticket id's fields. On a mistake in them it shows
// the ticket page again with the mistake (after prefix); when the change
// moved the ticket out of p's sight it sends p back to their queues. It
// answers whether the caller goes on.
func (h *Handler) applyFields(w http.ResponseWriter, r *http.Request, p *auth.Principal, id int64, u ticket.Update, prefix string) bool {
	t, err := h.d.Tickets.Update(r.Context(), p, id, u)
	if err != nil {
		if msg := fieldError(err); msg != "" {
			h.showTicket(w, r, id, http.StatusUnprocessableEntity, map[string]string{"fields": prefix + msg}, "", "")
			return false
		}
		h.fail(w, r, err)
		return false
	}
	if !p.CanSeeTicket(t.Facts()) {
		h.redirect(w, r, "/queue", "moved")
		return false
	}
	return true
}

// parseUpdate reads the fields of a change form; empty fields are left as
// they are.
func (h *Handler) parseUpdate(r *http.Request, p *auth.Principal) (ticket.Update, error) {
	u := ticket.Update{Source: ticket.FromWeb}
	if v := r.PostFormValue("status"); v != "" {
		st := ticket.Status(v)
		u.Status = &st
	}
	if v := r.PostFormValue("priority"); v != "" {
		pr := ticket.Priority(v)
		u.Priority = &pr
	}
	if v := r.PostFormValue("type"); v != "" {
		ty := ticket.Type(v)
		u.Type = &ty
	}
	if v := r.PostFormValue("service"); v != "" {
		sv, err := lookupField(r.Context(), "service", v, h.d.Units.Service)
		if err != nil {
			return u, err
		}
		u.ServiceID, u.ServiceUnitID = &sv.ID, sv.UnitID
	}
	if v := r.PostFormValue("unit"); v != "" {
		un, err := lookupField(r.Context(), "unit", v, h.d.Units.Unit)
		if err != nil {
			return u, err
		}
		u.UnitID = &un.ID
	}
	switch v := r.PostFormValue("assignee"); v {
	case "":
	case "me":
		u.AssigneeID = &p.UserID
	case "none":
		zero := int64(0)
		u.AssigneeID = &zero
	default:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return u, apperr.Field("assignee", "choose a person from the list")
		}
		u.AssigneeID = &n
	}
	return u, nil
}

// lookupField finds what a form field names by its slug; a slug that
// names nothing is a mistake in that field.
func lookupField[T any](ctx context.Context, field, slug string, get func(context.Context, string) (T, error)) (T, error) {
	v, err := get(ctx, slug)
	if apperr.Is(err, apperr.NotFound) {
		return v, apperr.Field(field, "no %s %q", field, slug)
	}
	return v, err
}

// attachment sends a file of a message the person may see. Files are
// always downloads, never rendered by the browser in our origin.
func (h *Handler) attachment(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.errorPage(w, r, http.StatusNotFound, "No such file.")
		return
	}
	a, err := h.d.Tickets.Attachment(r.Context(), principal(r), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f, err := h.d.Blobs.Open(r.Context(), a.SHA256)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Filename}))
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hd.Set("Cache-Control", "private, max-age=3600")
	hd.Set("Content-Length", strconv.FormatInt(a.Size, 10))
	_, _ = io.Copy(w, f)
}
