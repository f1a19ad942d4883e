// Package fedapi is the HTTP side of the federation (package federation)
// under /federation/v1/: the TMF621 profile's troubleTicket, events and
// hub for peers, with a bearer token of an account an administrator
// registered as a peer; the registration of peers for administrators; and
// the callback that receives the deliveries pushed by the helpmesh peers
// this instance subscribed to (signed, no token).
package fedapi

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/federation"
	"github.com/helpmesh/helpmesh/internal/observe"
	"github.com/helpmesh/helpmesh/internal/tmf621"
)

// Surface is what fedapi uses of the REST API: its credentials and its
// error envelope (api.API).
type Surface interface {
	Authenticate(r *http.Request) (*auth.Principal, error)
	WriteError(w http.ResponseWriter, r *http.Request, err error)
}

// Handler serves /federation/v1/.
type Handler struct {
	routes []string
	fed    *federation.Store
	api    Surface
	write  func(w http.ResponseWriter, code int, v any)
	mux    *http.ServeMux
}

// Prefix is where the federation is served.
const Prefix = "/federation/v1/"

// New returns the handler; write answers JSON (api.WriteJSON).
func New(fed *federation.Store, api Surface, write func(w http.ResponseWriter, code int, v any)) *Handler {
	h := &Handler{fed: fed, api: api, write: write, mux: http.NewServeMux()}
	h.peer("POST /federation/v1/troubleTicket", h.create)
	h.peer("GET /federation/v1/troubleTicket/{id}", h.withID(h.get))
	h.peer("PATCH /federation/v1/troubleTicket/{id}", h.withID(h.patch))
	h.peer("POST /federation/v1/troubleTicket/{id}/note", h.withID(h.note))
	h.peer("GET /federation/v1/events", h.events)
	h.peer("POST /federation/v1/hub", h.subscribe)
	h.peer("DELETE /federation/v1/hub/{id}", h.withID(h.unsubscribe))
	h.handle("POST /federation/v1/peers", h.registerPeer)
	h.handle("POST /federation/v1/callback/{connector}/listener/{type}", h.receive)
	return h
}

// Routes lists the patterns served ("METHOD /path"), for openapi.json.
func (h *Handler) Routes() []string { return h.routes }

func (h *Handler) handle(pattern string, fn http.HandlerFunc) {
	h.routes = append(h.routes, pattern)
	h.mux.HandleFunc(pattern, fn)
}

// ServeHTTP bounds the body and answers unknown routes in the envelope.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, tmf621.MaxDocument)
	}
	_, pattern := h.mux.Handler(r)
	if pattern == "" {
		h.api.WriteError(w, r, apperr.New(apperr.NotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
		return
	}
	observe.SetRoute(r, pattern) // the route in the request metrics
	h.mux.ServeHTTP(w, r)
}

// peer registers a route for peers: the bearer token's account must be a
// registered peer, and acts as auth.Peer.
func (h *Handler) peer(pattern string, fn func(w http.ResponseWriter, r *http.Request, p *auth.Principal)) {
	h.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, err := h.api.Authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="helpmesh"`)
			h.api.WriteError(w, r, err)
			return
		}
		if p.ReadOnly && r.Method != http.MethodGet {
			h.api.WriteError(w, r, apperr.New(apperr.Forbidden, "this token is read-only"))
			return
		}
		peer, err := h.fed.Peer(r.Context(), p)
		if err != nil {
			h.api.WriteError(w, r, err)
			return
		}
		fn(w, r, peer)
	})
}

// fail answers err, tmf621's validation errors as 400.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = apperr.New(apperr.TooLarge, "the request body is larger than %d bytes", mbe.Limit)
	}
	h.api.WriteError(w, r, federation.Invalid(err))
}

// answer writes v with code, or err.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, code int, v any, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.write(w, code, v)
}

// created is 201 for something new, 200 for what an earlier request with
// the same key made.
func created(fresh bool) int {
	if fresh {
		return http.StatusCreated
	}
	return http.StatusOK
}

// withID reads the path's {id} before fn.
func (h *Handler) withID(fn func(w http.ResponseWriter, r *http.Request, p *auth.Principal, id int64)) func(http.ResponseWriter, *http.Request, *auth.Principal) {
	return func(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
		id, err := federation.ParseID(r.PathValue("id"))
		if err != nil {
			h.fail(w, r, err)
			return
		}
		fn(w, r, p, id)
	}
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	tt, err := tmf621.DecodeTicket(r.Body, true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	files, err := noteFiles(tt.Attachment)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	t, fresh, err := h.fed.Create(r.Context(), p, tt, r.Header.Get("Idempotency-Key"), files)
	if err == nil {
		w.Header().Set("Location", t.Href)
	}
	h.answer(w, r, created(fresh), t, err)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request, p *auth.Principal, id int64) {
	t, err := h.fed.Get(r.Context(), p, id)
	h.answer(w, r, http.StatusOK, t, err)
}

func (h *Handler) patch(w http.ResponseWriter, r *http.Request, p *auth.Principal, id int64) {
	tt, err := tmf621.DecodeTicket(r.Body, false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	t, err := h.fed.Patch(r.Context(), p, id, tt)
	h.answer(w, r, http.StatusOK, t, err)
}

func (h *Handler) note(w http.ResponseWriter, r *http.Request, p *auth.Principal, id int64) {
	n, err := tmf621.DecodeNote(r.Body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if n.Origin == "" {
		n.Origin = r.Header.Get("Idempotency-Key")
	}
	files, err := noteFiles(n.Attachment)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, fresh, err := h.fed.AddNote(r.Context(), p, id, n, files)
	h.answer(w, r, created(fresh), out, err)
}

// noteFiles decodes the attachments of a note a peer adds (or of the
// description of a ticket it opens). Each must
// carry its content, of the size it says; its type is decided from the
// content (tmf621.FileType), not taken from the peer's mimeType alone.
func noteFiles(as []tmf621.Attachment) ([]federation.File, error) {
	files := make([]federation.File, 0, len(as))
	for _, a := range as {
		if a.Content == "" && a.Size > 0 {
			return nil, apperr.Field("attachment", "%q has no content: files are sent inline, base64", a.Name)
		}
		data, err := a.Data()
		if err != nil {
			return nil, apperr.Field("attachment", "%v", err)
		}
		files = append(files, federation.File{Name: a.Name, ContentType: tmf621.FileType(a.MimeType, http.DetectContentType(data)), Data: data})
	}
	return files, nil
}

func (h *Handler) events(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	q := r.URL.Query()
	for k := range q {
		if k != "after" && k != "limit" {
			h.fail(w, r, apperr.Field(k, "unknown parameter (allowed: after, limit)"))
			return
		}
	}
	after, err := federation.ParseCursor(q.Get("after"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	limit := federation.FeedDefault
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > federation.FeedMax {
			h.fail(w, r, apperr.Field("limit", "must be a number from 1 to %d", federation.FeedMax))
			return
		}
	}
	page, err := h.fed.Events(r.Context(), p, after, limit)
	h.answer(w, r, http.StatusOK, page, err)
}

func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	hub, err := tmf621.DecodeHub(r.Body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.fed.Subscribe(r.Context(), p, hub.Callback)
	h.answer(w, r, http.StatusCreated, out, err)
}

func (h *Handler) unsubscribe(w http.ResponseWriter, r *http.Request, p *auth.Principal, id int64) {
	if err := h.fed.Unsubscribe(r.Context(), p, id); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// peerRegistration is the body of POST /federation/v1/peers.
type peerRegistration struct {
	UserID int64  `json:"user_id"`
	Name   string `json:"name"`
}

func (h *Handler) registerPeer(w http.ResponseWriter, r *http.Request) {
	p, err := h.api.Authenticate(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var reg peerRegistration
	if err := tmf621.DecodeJSON(r.Body, 64<<10, &reg); err != nil {
		h.fail(w, r, err)
		return
	}
	err = h.fed.RegisterPeer(r.Context(), p, reg.UserID, reg.Name)
	h.answer(w, r, http.StatusCreated, reg, err)
}

// receive takes a delivery pushed by a peer's hub: 401 unless signed with
// the subscription's secret within the tolerance; 201 when it is new, 200
// for a replay, which is not applied again.
func (h *Handler) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	fresh, err := h.fed.Receive(r.Context(), r.PathValue("connector"), r.Header, body)
	h.answer(w, r, created(fresh), map[string]bool{"applied": fresh}, err)
}
