package api

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/blob"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

type personDTO struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

type ticketDTO struct {
	ID        int64      `json:"id"`
	Subject   string     `json:"subject"`
	Status    string     `json:"status"`
	Priority  string     `json:"priority"`
	Type      string     `json:"type"`
	Kind      string     `json:"kind"`
	Service   *string    `json:"service"`
	Unit      *string    `json:"unit"`
	Requester personDTO  `json:"requester"`
	Assignee  *personDTO `json:"assignee"`
	Watchers  []string   `json:"watchers,omitempty"`
	Source    string     `json:"source"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	SolvedAt  *time.Time `json:"solved_at"`
	// EscalationLevel counts the user escalations, 0 to 3.
	EscalationLevel int `json:"escalation_level"`
	// OriginalPriority is the priority it was opened with (for reports).
	OriginalPriority string `json:"original_priority"`
	// QoS is its unit's response clock; null without a unit.
	QoS *qosDTO `json:"qos"`
}

// qosDTO is a ticket's response clock.
type qosDTO struct {
	DueAt  time.Time `json:"due_at"`
	WarnAt time.Time `json:"warn_at"`
	// State is running, warning, violated or met, now.
	State string `json:"state"`
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toTicket(t *ticket.Ticket) ticketDTO {
	d := ticketDTO{ID: t.ID, Subject: t.Subject, Status: string(t.Status), Priority: string(t.Priority), Type: string(t.Type),
		Kind: string(t.Kind), Service: strOrNil(t.Service), Unit: strOrNil(t.Unit),
		Requester: personDTO{ID: t.Requester.ID, Email: t.Requester.Email, Name: t.Requester.Name},
		Watchers:  t.WatcherList, Source: string(t.Source), CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, SolvedAt: t.SolvedAt,
		EscalationLevel: t.EscalationLevel, OriginalPriority: string(t.OriginalPriority)}
	if t.QoS.Set() {
		d.QoS = &qosDTO{DueAt: t.QoS.DueAt, WarnAt: t.QoS.WarnAt, State: t.QoS.State(time.Now())}
	}
	if t.Assignee != nil {
		d.Assignee = &personDTO{ID: t.Assignee.ID, Email: t.Assignee.Email, Name: t.Assignee.Name}
	}
	return d
}

type createTicketReq struct {
	Subject  string   `json:"subject"`
	Body     string   `json:"body"`
	Service  string   `json:"service"`
	Unit     string   `json:"unit"`
	Type     string   `json:"type"`
	Priority string   `json:"priority"`
	Kind     string   `json:"kind"`
	Watchers []string `json:"watchers"`
}

func (a *API) createTicket(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var req createTicketReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	nt := ticket.NewTicket{Subject: req.Subject, Body: req.Body, Type: ticket.Type(req.Type), Priority: ticket.Priority(req.Priority),
		Kind: ticket.Kind(req.Kind), Source: ticket.FromAPI, Watchers: req.Watchers}
	if err := a.route(r, &nt, req.Service, req.Unit); err != nil {
		a.writeError(w, r, err)
		return
	}
	t, err := a.Tickets.Create(r.Context(), p, nt)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tickets/"+strconv.FormatInt(t.ID, 10))
	writeJSON(w, http.StatusCreated, toTicket(t))
}

// route resolves the service and unit slugs of a new ticket and finds the
// ticket handler team for tickets with neither.
func (a *API) route(r *http.Request, nt *ticket.NewTicket, service, unitSlug string) error {
	ctx := r.Context()
	if service != "" {
		if err := unit.CheckSlug("service", service); err != nil {
			return err
		}
		s, err := a.Units.Service(ctx, service)
		if apperr.Is(err, apperr.NotFound) {
			return apperr.Field("service", "no service %q", service)
		}
		if err != nil {
			return err
		}
		nt.ServiceID, nt.UnitID, nt.AlarmTeams = s.ID, s.UnitID, s.AlarmTeams
	}
	if unitSlug != "" {
		u, err := a.unitBySlug(r, "unit", unitSlug)
		if err != nil {
			return err
		}
		nt.UnitID = u.ID
	}
	if nt.UnitID == 0 {
		h, err := a.Units.Handler(ctx)
		if err != nil && !apperr.Is(err, apperr.NotFound) {
			return err
		}
		if h != nil {
			nt.HandlerID = h.ID
		}
	}
	return nil
}

func (a *API) unitBySlug(r *http.Request, field, slug string) (*unit.Unit, error) {
	if err := unit.CheckSlug(field, slug); err != nil {
		return nil, err
	}
	u, err := a.Units.Unit(r.Context(), slug)
	if apperr.Is(err, apperr.NotFound) {
		return nil, apperr.Field(field, "no unit %q", slug)
	}
	return u, err
}

func (a *API) getTicket(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	t, err := a.Tickets.Get(r.Context(), p, id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toTicket(t))
}

func (a *API) listTickets(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "status", "priority", "unit", "service", "requester", "assignee", "q", "cursor", "limit":
		default:
			a.writeError(w, r, apperr.Field(k, "unknown filter (allowed: status, priority, unit, service, requester, assignee, q, cursor, limit)"))
			return
		}
	}
	f := ticket.Filter{Query: q.Get("q")}
	if len(f.Query) > 1000 || !utf8.ValidString(f.Query) {
		a.writeError(w, r, apperr.Field("q", "must be valid UTF-8 of at most 1000 bytes"))
		return
	}
	var err error
	if f.Limit, err = queryInt(r, "limit", ticket.DefaultLimit, 1, ticket.MaxLimit); err != nil {
		a.writeError(w, r, err)
		return
	}
	if s := q.Get("status"); s != "" {
		for st := range strings.SplitSeq(s, ",") {
			f.Statuses = append(f.Statuses, ticket.Status(strings.TrimSpace(st)))
		}
	}
	if s := q.Get("priority"); s != "" {
		for pr := range strings.SplitSeq(s, ",") {
			f.Priorities = append(f.Priorities, ticket.Priority(strings.TrimSpace(pr)))
		}
	}
	if s := q.Get("unit"); s != "" {
		u, err := a.unitBySlug(r, "unit", s)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		f.UnitID = u.ID
	}
	if s := q.Get("service"); s != "" {
		if err := unit.CheckSlug("service", s); err != nil {
			a.writeError(w, r, err)
			return
		}
		sv, err := a.Units.Service(r.Context(), s)
		if err != nil {
			a.writeError(w, r, apperr.Field("service", "no service %q", s))
			return
		}
		f.ServiceID = sv.ID
	}
	if f.RequesterID, err = a.personFilter(r, p, "requester", false); err != nil {
		a.writeError(w, r, err)
		return
	}
	if q.Get("assignee") == "none" {
		f.Unassigned = true
	} else if f.AssigneeID, err = a.personFilter(r, p, "assignee", true); err != nil {
		a.writeError(w, r, err)
		return
	}
	if c := q.Get("cursor"); c != "" {
		if f.Before, err = decodeCursor(c); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	ts, err := a.Tickets.List(r.Context(), p, f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]ticketDTO, len(ts))
	for i, t := range ts {
		items[i] = toTicket(t)
	}
	next := ""
	if len(ts) == f.Limit {
		next = encodeCursor(ts[len(ts)-1].ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}

// personFilter reads a user filter: a numeric id, "me", or an email address.
func (a *API) personFilter(r *http.Request, p *auth.Principal, name string, allowNone bool) (int64, error) {
	s := r.URL.Query().Get(name)
	switch {
	case s == "":
		return 0, nil
	case s == "me":
		return p.UserID, nil
	case strings.Contains(s, "@"):
		u, err := a.Users.GetByEmail(r.Context(), s)
		if err != nil {
			return -1, nil // matches nobody
		}
		return u.ID, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		hint := "a user id, me, or an email address"
		if allowNone {
			hint += ", or none"
		}
		return 0, apperr.Field(name, "must be %s", hint)
	}
	return id, nil
}

var patchFields = map[string]bool{"status": true, "priority": true, "type": true, "unit": true, "service": true, "assignee": true}

func (a *API) updateTicket(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var raw map[string]json.RawMessage
	if err := decode(r, &raw); err != nil {
		a.writeError(w, r, err)
		return
	}
	u := ticket.Update{Source: ticket.FromAPI}
	str := func(k string) (*string, error) {
		v, ok := raw[k]
		if !ok {
			return nil, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, apperr.Field(k, "must be a JSON string")
		}
		return &s, nil
	}
	for k := range raw {
		if !patchFields[k] {
			a.writeError(w, r, apperr.New(apperr.Invalid, "unknown field %q (allowed: status, priority, type, unit, service, assignee)", k))
			return
		}
	}
	var errs error
	if s, err := str("status"); err != nil {
		errs = err
	} else if s != nil {
		st := ticket.Status(*s)
		u.Status = &st
	}
	if s, err := str("priority"); err != nil {
		errs = err
	} else if s != nil {
		pr := ticket.Priority(*s)
		u.Priority = &pr
	}
	if s, err := str("type"); err != nil {
		errs = err
	} else if s != nil {
		ty := ticket.Type(*s)
		u.Type = &ty
	}
	if s, err := str("unit"); err != nil {
		errs = err
	} else if s != nil {
		un, err := a.unitBySlug(r, "unit", *s)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		u.UnitID = &un.ID
	}
	if s, err := str("service"); err != nil {
		errs = err
	} else if s != nil {
		if err := unit.CheckSlug("service", *s); err != nil {
			a.writeError(w, r, err)
			return
		}
		sv, err := a.Units.Service(r.Context(), *s)
		if err != nil {
			a.writeError(w, r, apperr.Field("service", "no service %q", *s))
			return
		}
		u.ServiceID, u.ServiceUnitID = &sv.ID, sv.UnitID
	}
	if v, ok := raw["assignee"]; ok {
		var aid *int64
		if err := json.Unmarshal(v, &aid); err != nil || (aid != nil && *aid <= 0) {
			errs = apperr.Field("assignee", "must be a user id or null")
		} else {
			var zero int64
			if aid == nil {
				aid = &zero
			}
			u.AssigneeID = aid
		}
	}
	if errs != nil {
		a.writeError(w, r, errs)
		return
	}
	t, err := a.Tickets.Update(r.Context(), p, id, u)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toTicket(t))
}

type attachmentDTO struct {
	ID          int64  `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	URL         string `json:"url"`
}

type messageDTO struct {
	ID          int64           `json:"id"`
	TicketID    int64           `json:"ticket_id"`
	Author      personDTO       `json:"author"`
	Internal    bool            `json:"internal"`
	Source      string          `json:"source"`
	Body        string          `json:"body"`
	BodyHTML    string          `json:"body_html,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	Attachments []attachmentDTO `json:"attachments"`
}

func toMessage(m *ticket.Message) messageDTO {
	d := messageDTO{ID: m.ID, TicketID: m.TicketID, Author: personDTO{ID: m.Author.ID, Email: m.Author.Email, Name: m.Author.Name},
		Internal: m.Internal, Source: string(m.Source), Body: m.Body, BodyHTML: m.BodyHTML, CreatedAt: m.CreatedAt, Attachments: []attachmentDTO{}}
	for _, at := range m.Attachments {
		d.Attachments = append(d.Attachments, attachmentDTO{ID: at.ID, Filename: at.Filename, ContentType: at.ContentType, Size: at.Size,
			URL: "/api/v1/attachments/" + strconv.FormatInt(at.ID, 10)})
	}
	return d
}

type messageReq struct {
	Body     string `json:"body"`
	Internal bool   `json:"internal"`
}

// maxFiles is the most attachments one message may carry.
const maxFiles = 20

func (a *API) addMessage(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	nm := ticket.NewMessage{Source: ticket.FromAPI}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		// Check visibility first, so that nobody can store files on tickets
		// they cannot see.
		if _, err := a.Tickets.Get(r.Context(), p, id); err != nil {
			a.writeError(w, r, err)
			return
		}
		if a.UploadTimeout > 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(a.UploadTimeout))
		}
		if err := a.readMultipart(r, &nm); err != nil {
			a.writeError(w, r, err)
			return
		}
	} else {
		var req messageReq
		if err := decode(r, &req); err != nil {
			a.writeError(w, r, err)
			return
		}
		nm.Body, nm.Internal = req.Body, req.Internal
	}
	m, err := a.Tickets.AddMessage(r.Context(), p, id, nm)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toMessage(m))
}

// readMultipart streams a multipart message: fields body and internal, and
// any number of file parts (up to maxFiles). Files are staged as they come
// and stored only once the whole request has been read and found valid, so
// that a refused request leaves no blobs behind.
func (a *API) readMultipart(r *http.Request, nm *ticket.NewMessage) error {
	var staged []*blob.Staged
	if err := a.readParts(r, nm, &staged); err != nil {
		blob.DiscardAll(staged)
		return err
	}
	for i, st := range staged {
		if err := st.Commit(); err != nil {
			blob.DiscardAll(staged[i:])
			return err
		}
	}
	return nil
}

func (a *API) readParts(r *http.Request, nm *ticket.NewMessage, staged *[]*blob.Staged) error {
	mr, err := r.MultipartReader()
	if err != nil {
		return apperr.New(apperr.Invalid, "malformed multipart body: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return partError(err)
		}
		if err := a.readPart(r, part, nm, staged); err != nil {
			return err
		}
	}
}

// partError is the error of a multipart body that broke off or is
// malformed: the client's fault, not the store's.
func partError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return apperr.New(apperr.Invalid, "malformed multipart body: %v", err)
}

func (a *API) readPart(r *http.Request, part *multipart.Part, nm *ticket.NewMessage, staged *[]*blob.Staged) error {
	defer part.Close()
	if part.FileName() == "" {
		b, err := io.ReadAll(io.LimitReader(part, ticket.MaxBody+1))
		if err != nil {
			return partError(err)
		}
		switch part.FormName() {
		case "body":
			if len(b) > ticket.MaxBody {
				return apperr.Field("body", "is longer than %d bytes", ticket.MaxBody)
			}
			nm.Body = string(b)
		case "internal":
			v, err := strconv.ParseBool(strings.TrimSpace(string(b)))
			if err != nil {
				return apperr.Field("internal", "must be true or false")
			}
			nm.Internal = v
		default:
			return apperr.New(apperr.Invalid, "unknown form field %q (allowed: body, internal, and files)", part.FormName())
		}
		return nil
	}
	if len(nm.Attachments) >= maxFiles {
		return apperr.New(apperr.Invalid, "at most %d files per message", maxFiles)
	}
	pr := &readErr{r: part}
	st, err := a.Blobs.Stage(r.Context(), pr, a.MaxUpload)
	if pr.err != nil {
		if st != nil {
			st.Discard()
		}
		return partError(pr.err)
	}
	if err != nil {
		return err
	}
	*staged = append(*staged, st)
	nm.Attachments = append(nm.Attachments, ticket.NewAttachment{
		Filename: SafeFilename(part.FileName()), ContentType: cleanContentType(part.Header.Get("Content-Type")), Size: st.Size, SHA256: st.Sum})
	return nil
}

// readErr remembers the error of the reader it wraps, other than io.EOF.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// SafeFilename is ticket.SafeFilename with "attachment" for a name with
// nothing left.
func SafeFilename(name string) string { return ticket.SafeFilename(name, "attachment") }

func cleanContentType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt == "" || len(mt) > 100 {
		return "application/octet-stream"
	}
	return mt
}

// inlineSafe are content types served as themselves; everything else is
// served as application/octet-stream.
var inlineSafe = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
	"application/pdf": true, "text/plain": true}

func (a *API) getAttachment(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	at, err := a.Tickets.Attachment(r.Context(), p, id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	f, err := a.Blobs.Open(r.Context(), at.SHA256)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	defer f.Close()
	ct := "application/octet-stream"
	if inlineSafe[at.ContentType] {
		ct = at.ContentType
		if ct == "text/plain" {
			ct += "; charset=utf-8"
		}
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", ContentDisposition(at.Filename))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=3600")
	http.ServeContent(w, r, "", at.CreatedAt, f)
}

// ContentDisposition is an attachment disposition with an ASCII fallback
// name and the exact UTF-8 name (RFC 6266).
func ContentDisposition(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	return `attachment; filename="` + ascii + `"; filename*=UTF-8''` + url.PathEscape(name)
}

func (a *API) listMessages(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ms, err := a.Tickets.Messages(r.Context(), p, id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]messageDTO, len(ms))
	for i, m := range ms {
		items[i] = toMessage(m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

type historyDTO struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Field  string    `json:"field,omitempty"`
	Old    string    `json:"old,omitempty"`
	New    string    `json:"new,omitempty"`
	Source string    `json:"source"`
	// Reason says why a change was propagated (a relation's rule).
	Reason string `json:"reason,omitempty"`
}

func (a *API) history(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	hs, err := a.Tickets.History(r.Context(), p, id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]historyDTO, len(hs))
	for i, h := range hs {
		items[i] = historyDTO{At: h.At, Actor: h.Actor, Action: h.Action, Field: h.Field, Old: h.Old, New: h.New, Source: string(h.Source), Reason: h.Reason}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

type watcherReq struct {
	Email string `json:"email"`
}

type escalateReq struct {
	Reason string `json:"reason"`
}

// escalateTicket is a GGUS user escalation: the level rises by one
// (DESIGN.md "Routing").
func (a *API) escalateTicket(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req escalateReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	t, err := a.Tickets.Escalate(r.Context(), p, id, req.Reason, ticket.FromAPI)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// An escalation is recorded (201, as every POST that adds): the
	// answer is the ticket as escalated.
	w.Header().Set("Location", "/api/v1/tickets/"+strconv.FormatInt(t.ID, 10))
	writeJSON(w, http.StatusCreated, toTicket(t))
}

func (a *API) addWatcher(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req watcherReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	email, err := user.NormalizeEmail(req.Email)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Tickets.AddWatcher(r.Context(), p, id, email, ticket.FromAPI); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"email": email})
}

func (a *API) removeWatcher(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Tickets.RemoveWatcher(r.Context(), p, id, r.PathValue("email"), ticket.FromAPI); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type relationReq struct {
	Kind  string `json:"kind"`
	Other int64  `json:"other"`
}

type relationDTO struct {
	ID           int64     `json:"id"`
	Kind         string    `json:"kind"`
	Other        int64     `json:"other"`
	OtherSubject string    `json:"other_subject"`
	OtherStatus  string    `json:"other_status"`
	CreatedAt    time.Time `json:"created_at"`
}

func relationOut(rel ticket.Relation) relationDTO {
	return relationDTO{ID: rel.ID, Kind: rel.Kind, Other: rel.OtherID, OtherSubject: rel.OtherSubject, OtherStatus: string(rel.OtherStatus), CreatedAt: rel.CreatedAt}
}

func (a *API) addRelation(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req relationReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.Other <= 0 {
		a.writeError(w, r, apperr.Field("other", "must be a ticket id"))
		return
	}
	rel, err := a.Tickets.Relate(r.Context(), p, id, req.Other, req.Kind, ticket.FromAPI)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, relationOut(*rel))
}

func (a *API) listRelations(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	rs, err := a.Tickets.Relations(r.Context(), p, id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]relationDTO, len(rs))
	for i, rel := range rs {
		items[i] = relationOut(rel)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (a *API) removeRelation(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	rid, err := pathID(r, "rid")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Tickets.Unrelate(r.Context(), p, id, rid, ticket.FromAPI); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
