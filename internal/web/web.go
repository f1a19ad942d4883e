// Package web serves helpmesh's HTML pages: the portal where requesters ask
// for help and follow up, the workspace where support staff work their
// queues, and the administration pages. Pages are rendered on the server
// with html/template; htmx and a few lines of our own script make them
// livelier, but every action works as a plain form post.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/blob"
	"github.com/helpmesh/helpmesh/internal/change"
	"github.com/helpmesh/helpmesh/internal/credential"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/forwarded"
	"github.com/helpmesh/helpmesh/internal/identity"
	"github.com/helpmesh/helpmesh/internal/incident"
	"github.com/helpmesh/helpmesh/internal/knownerror"
	"github.com/helpmesh/helpmesh/internal/live"
	"github.com/helpmesh/helpmesh/internal/observe"
	"github.com/helpmesh/helpmesh/internal/savedview"
	"github.com/helpmesh/helpmesh/internal/setting"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// Mailer sends the portal's own mail: one-time sign-in links and password
// reset links. The mail gateway's outbox implements it; Send must be
// durable (queue the mail) rather than talk SMTP in the request.
type Mailer interface {
	Send(ctx context.Context, to, subject, text string) error
}

// OutboxMail is one outgoing or quarantined mail as the admin pages show it.
type OutboxMail struct {
	ID        int64
	TicketID  int64  // 0: about no ticket
	Kind      string // what the mail is (new_ticket, reply, link, …); "" for quarantined mail
	To        string // the recipient; the sender of quarantined mail
	Subject   string
	Preview   string // the start of its text
	State     string
	Attempts  int
	LastError string
	CreatedAt time.Time
}

// Outbox lists outgoing mail and quarantined incoming mail for the admin
// pages, and lets administrators send failed mail again or discard mail
// not sent yet; the mail gateway implements it. Lists are newest first,
// of the mails with an id below before (0: from the newest).
type Outbox interface {
	Outgoing(ctx context.Context, before int64, limit int) ([]OutboxMail, error)
	Quarantined(ctx context.Context, before int64, limit int) ([]OutboxMail, error)
	Retry(ctx context.Context, id int64) error
	Discard(ctx context.Context, id int64) error
}

// KnownErrors gives the active known errors by service slug (the
// known-error store).
type KnownErrors interface {
	ActiveByService(ctx context.Context) (map[string][]*knownerror.KnownError, error)
	List(ctx context.Context, f knownerror.Filter) ([]*knownerror.KnownError, error)
}

// Incidents gives the unresolved incidents of a service (the incident
// store): the staff ticket page shows them.
type Incidents interface {
	ActiveForService(ctx context.Context, serviceID int64) ([]*incident.Incident, error)
}

// Changes gives the open and recent changes of a service (the change
// store): the staff ticket page shows them.
type Changes interface {
	ForService(ctx context.Context, slug string) ([]*change.Change, error)
}

// Deps is what the web handler needs.
type Deps struct {
	// Changes, when set, shows a service's open and recent changes on the
	// staff ticket page.
	Changes Changes
	// KnownErrors, when set, shows the active known errors of a service
	// on the new-ticket form.
	KnownErrors KnownErrors
	// Incidents, when set, shows a service's open incidents on the staff
	// ticket page.
	Incidents Incidents
	Log       *slog.Logger
	DB        *db.DB
	Users     *user.Store
	Units     *unit.Store
	Tickets   *ticket.Store
	Blobs     blob.Store
	// Settings holds the theme; New keeps it in the database when nil.
	Settings Settings
	// SavedViews holds staff's saved queue views; New keeps them in the
	// database when nil.
	SavedViews SavedViews
	// UploadTimeout is how long a signed-in person's multipart form may
	// take to arrive (other bodies have the server's shorter deadline).
	UploadTimeout time.Duration
	// Sessions is shared with other sign-in handlers (OIDC); New makes one
	// when nil.
	Sessions *Sessions
	// Authenticators are tried, in order, for requests without a session.
	Authenticators []credential.Authenticator
	Mailer         Mailer // nil: links cannot be mailed (the pages say so)
	// Identity, when set, serves federated identity: the OIDC sign-in
	// (/auth/oidc/{name} and its callback, with SignOn's providers, offered
	// on the sign-in page too), the supporter privileges pages (/access)
	// and the API tokens page (/account/tokens).
	Identity *identity.Store
	SignOn   *SignOn // nil: no single sign-on provider
	// SSOOnly refuses password and mail-link sign-in except for the
	// BreakGlass addresses.
	SSOOnly      bool
	BreakGlass   []string
	Outbox       Outbox // nil: the outbox page says mail is not set up
	BaseURL      string // public URL, for links in mail
	InstanceName string // default name shown in pages; settings override it
	MaxBody      int64  // form body limit
	MaxUpload    int64  // one attachment
	Now          func() time.Time
	// Live tells open pages of changes.
	Live *live.Hub
	// Followers tells the state of the event stream's followers; nil: the
	// admin page says so.
	Followers Followers
	// Connectors shows the connectors (/admin/connectors) and each
	// ticket's links and sync log; nil: none.
	Connectors Connectors

	// Announcements, when set, serves /announcements: unit admins'
	// announcements to their services' users.
	Announcements Announcer
}

// SignInProvider is a single sign-on button on the sign-in pages.
type SignInProvider struct {
	Name  string // in /auth/oidc/{name}
	Label string // on the button
}

// Handler serves the web portal.
type Handler struct {
	d        Deps
	sessions *Sessions
	throttle *throttle
	links    *links
	views    *views
	mux      *http.ServeMux
	handler  http.Handler
	// cop refuses unsafe requests from other sites (pages and, through
	// APIAuthenticator, the API with the session cookie).
	cop *http.CrossOriginProtection
	// baseURL is BaseURL without a trailing slash.
	baseURL string
	// breakGlass holds the lower-cased BreakGlass addresses.
	breakGlass map[string]bool
	// certLog is when certificate holders were last logged signing in.
	certLog certificateLog
	// streams ends with EndStreams, and every live-update stream with it.
	streams    context.Context
	endStreams context.CancelFunc
	// choices keeps the new-ticket form's list of services rendered.
	choices serviceChoices
}

// New builds the web handler, to be mounted at "/".
func New(d Deps) *Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MaxBody <= 0 {
		d.MaxBody = 10 << 20
	}
	if d.MaxUpload <= 0 {
		d.MaxUpload = 10 << 20
	}
	if d.InstanceName == "" {
		d.InstanceName = "helpmesh"
	}
	secure := strings.HasPrefix(d.BaseURL, "https://")
	if d.Sessions == nil {
		d.Sessions = NewSessions(d.DB, secure, d.Now)
	}
	if d.Settings == nil {
		d.Settings = setting.NewStore(d.DB)
	}
	if d.SavedViews == nil {
		d.SavedViews = savedview.NewStore(d.DB, d.Now)
	}
	now := func() time.Time { return d.Now().UTC() }
	h := &Handler{
		d:        d,
		sessions: d.Sessions,
		throttle: &throttle{db: d.DB, now: now},
		links:    &links{db: d.DB, now: now},
		views:    mustViews(),
		mux:      http.NewServeMux(),
		baseURL:  strings.TrimRight(d.BaseURL, "/"),
	}
	h.breakGlass = map[string]bool{}
	for _, e := range d.BreakGlass {
		h.breakGlass[strings.ToLower(strings.TrimSpace(e))] = true
	}
	h.streams, h.endStreams = context.WithCancel(context.Background())
	h.routes()
	cop := http.NewCrossOriginProtection()
	h.cop = cop
	if d.BaseURL != "" {
		if u, err := url.Parse(d.BaseURL); err == nil && u.Host != "" {
			_ = cop.AddTrustedOrigin(u.Scheme + "://" + u.Host)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.errorPage(w, r, http.StatusForbidden, "This request came from another site and was refused.")
	}))
	h.handler = h.headers(cop.Handler(h.authenticate(h.mux)))
	return h
}

// EndStreams ends the open live-update streams (and any opened later), so
// that a graceful shutdown need not wait for them: browsers reconnect to
// another node or after the restart.
func (h *Handler) EndStreams() { h.endStreams() }

// Sessions returns the session store, for other sign-in handlers.
func (h *Handler) Sessions() *Sessions { return h.sessions }

// ServeHTTP serves the pages, and tells the route pattern to the request
// metrics (package observe).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := h.mux.Handler(r)
	observe.SetRoute(r, pattern)
	h.handler.ServeHTTP(w, r)
}

func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("GET /static/{file}", h.static)
	m.HandleFunc("GET /theme.css", h.themeCSS)
	m.HandleFunc("GET /favicon.ico", h.favicon)

	m.HandleFunc("GET /login", h.loginPage)
	m.HandleFunc("POST /login", h.breakGlassOnly(h.login))
	m.HandleFunc("POST /logout", h.logout)
	m.HandleFunc("GET /login/link", h.linkRequestPage)
	m.HandleFunc("POST /login/link", h.ssoRefuses(h.linkRequest))
	m.HandleFunc("GET /login/link/{token}", h.linkPage)
	m.HandleFunc("POST /login/link/{token}", h.ssoRefuses(h.linkSignIn))
	m.HandleFunc("GET /password/forgot", h.forgotPage)
	m.HandleFunc("POST /password/forgot", h.breakGlassOnly(h.forgot))
	m.HandleFunc("GET /password/reset/{token}", h.resetPage)
	m.HandleFunc("POST /password/reset/{token}", h.reset)
	m.HandleFunc("GET /setup/{token}", h.setupPage)
	m.HandleFunc("POST /setup/{token}", h.setup)

	m.HandleFunc("GET /{$}", h.signedIn(h.home))
	m.HandleFunc("GET /tickets", h.signedIn(h.myTickets))
	m.HandleFunc("GET /tickets/new", h.signedIn(h.newTicketPage))
	m.HandleFunc("POST /tickets/new", h.signedIn(h.newTicket))
	m.HandleFunc("POST /tickets", h.signedIn(h.newTicket))
	m.HandleFunc("GET /tickets/{id}", h.signedIn(h.ticketPage))
	m.HandleFunc("POST /tickets/{id}/messages", h.signedIn(h.addMessage))
	m.HandleFunc("POST /tickets/{id}/watchers", h.signedIn(h.addWatcher))
	m.HandleFunc("POST /tickets/{id}/watchers/remove", h.signedIn(h.removeWatcher))
	m.HandleFunc("POST /tickets/{id}/relations", h.signedIn(h.addRelation))
	m.HandleFunc("POST /tickets/{id}/relations/remove", h.signedIn(h.removeRelation))
	m.HandleFunc("POST /tickets/{id}/status", h.signedIn(h.setStatus))
	m.HandleFunc("POST /tickets/{id}/escalate", h.signedIn(h.escalate))
	m.HandleFunc("POST /tickets/{id}/fields", h.signedIn(h.setFields))
	m.HandleFunc("GET /tickets/{id}/events", h.signedIn(h.ticketEvents))
	m.HandleFunc("GET /attachments/{id}/{name}", h.signedIn(h.attachment))

	m.HandleFunc("GET /queue", h.staff(h.queueIndex))
	m.HandleFunc("GET /search", h.staff(h.allTickets))
	m.HandleFunc("GET /queue/{unit}", h.staff(h.queue))
	m.HandleFunc("POST /queue/{unit}/bulk", h.staff(h.bulk))
	m.HandleFunc("GET /queue/{unit}/events", h.staff(h.queueEvents))
	m.HandleFunc("POST /views", h.staff(h.saveView))
	m.HandleFunc("POST /views/{id}/delete", h.staff(h.deleteView))

	m.HandleFunc("GET /admin", h.admin(h.adminIndex))
	m.HandleFunc("GET /admin/units", h.signedIn(h.adminUnits))
	m.HandleFunc("POST /admin/units", h.admin(h.createUnit))
	m.HandleFunc("GET /admin/units/{slug}", h.signedIn(h.adminUnit))
	m.HandleFunc("POST /admin/units/{slug}", h.signedIn(h.updateUnit))
	m.HandleFunc("POST /admin/units/{slug}/members", h.signedIn(h.setMember))
	m.HandleFunc("POST /admin/units/{slug}/members/{uid}/remove", h.signedIn(h.removeMember))
	m.HandleFunc("GET /admin/services", h.admin(h.adminServices))
	m.HandleFunc("POST /admin/services", h.admin(h.createService))
	m.HandleFunc("POST /admin/services/{slug}", h.admin(h.updateService))
	m.HandleFunc("GET /admin/users", h.admin(h.adminUsers))
	m.HandleFunc("POST /admin/users", h.admin(h.createUser))
	m.HandleFunc("POST /admin/users/{id}", h.admin(h.editUser))
	m.HandleFunc("POST /admin/users/{id}/disabled", h.admin(h.setUserDisabled))
	m.HandleFunc("POST /admin/users/{id}/password", h.admin(h.setUserPassword))
	m.HandleFunc("GET /admin/outbox", h.admin(h.adminOutbox))
	m.HandleFunc("POST /admin/outbox/{id}/retry", h.admin(h.retryMail))
	m.HandleFunc("POST /admin/outbox/{id}/discard", h.admin(h.discardMail))
	m.HandleFunc("GET /admin/events", h.admin(h.adminEvents))
	if h.d.Announcements != nil {
		m.HandleFunc("GET /announcements", h.signedIn(h.announcementsPage))
		m.HandleFunc("POST /announcements", h.signedIn(h.announce))
	}
	m.HandleFunc("GET /admin/connectors", h.admin(h.adminConnectors))
	m.HandleFunc("POST /admin/connectors/{name}/items/{id}/{action}", h.admin(h.connectorItem))
	m.HandleFunc("POST /admin/connectors/{name}/reconcile", h.admin(h.connectorReconcile))
	m.HandleFunc("GET /admin/settings", h.admin(h.adminSettings))
	m.HandleFunc("POST /admin/settings", h.admin(h.saveSettings))

	m.HandleFunc("GET /account/notifications", h.signedIn(h.notificationsPage))
	m.HandleFunc("POST /account/notifications", h.signedIn(h.saveNotifications))

	if h.d.Identity != nil {
		m.HandleFunc("GET /auth/oidc", h.oidcProviders)
		m.HandleFunc("GET /auth/oidc/{name}", h.oidcStart)
		m.HandleFunc("GET /auth/oidc/{name}/callback", h.oidcCallback)
		m.HandleFunc("POST /auth/logout", h.logout)
		m.HandleFunc("GET /access", h.signedIn(h.accessPage))
		m.HandleFunc("POST /access", h.signedIn(h.requestAccess))
		m.HandleFunc("GET /access/requests/{id}", h.signedIn(h.accessRequestPage))
		m.HandleFunc("POST /access/requests/{id}/decide", h.signedIn(h.decideAccess))
		m.HandleFunc("GET /account/tokens", h.signedIn(h.tokensPage))
		m.HandleFunc("POST /account/tokens", h.signedIn(h.createToken))
		m.HandleFunc("POST /account/tokens/{id}/revoke", h.signedIn(h.revokeToken))
	}

	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.errorPage(w, r, http.StatusNotFound, "There is no page at this address.")
	})
}

// contentSecurityPolicy allows only our own scripts and styles: no inline
// script, no inline style, no eval.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; manifest-src 'self'"

// headers sets the security headers of every response.
func (h *Handler) headers(next http.Handler) http.Handler {
	hsts := strings.HasPrefix(h.d.BaseURL, "https://")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if hsts || forwarded.Secure(r) {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

type ctxKey int

const (
	principalKey ctxKey = iota
	sessionKey
	csrfKey
)

// preCSRFCookie carries the form token of visitors who are not signed in
// (double-submit), so that the sign-in forms are protected too.
const preCSRFCookie = "hm_csrf"

// authenticate resolves the principal of the request (session, or one of
// the Authenticators), then checks the form token of every unsafe request.
func (h *Handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/static/") {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		ss, err := h.sessions.Get(ctx, r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		var p *auth.Principal
		var token string
		if ss != nil {
			p, err = h.d.Users.Principal(ctx, ss.UserID)
			if apperr.Is(err, apperr.Unauthorized) {
				_ = h.sessions.End(w, r) // the user was disabled or deleted
				p, ss, err = nil, nil, nil
			}
			if err != nil {
				h.fail(w, r, err)
				return
			}
			if p != nil {
				p.Via = "session"
				token = ss.CSRF
			}
		}
		if p == nil {
			for _, a := range h.d.Authenticators {
				if p, err = a(r); err != nil {
					h.fail(w, r, err)
					return
				}
				if p != nil {
					h.noteCertificate(r, p)
					break
				}
			}
		}
		if token == "" {
			if c, err := r.Cookie(preCSRFCookie); err == nil && len(c.Value) >= 20 && len(c.Value) < 100 {
				token = c.Value
			} else {
				token = auth.RandomString(24)
				http.SetCookie(w, &http.Cookie{Name: preCSRFCookie, Value: token, Path: "/", HttpOnly: true,
					Secure: h.sessions.secure, SameSite: http.SameSiteStrictMode})
			}
		}
		ctx = context.WithValue(ctx, principalKey, p)
		ctx = context.WithValue(ctx, sessionKey, ss)
		ctx = context.WithValue(ctx, csrfKey, token)
		r = r.WithContext(ctx)
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			ok := h.checkForm(w, r, token, p != nil)
			// The form is parsed on this copy of the request, so the
			// server never sees (and never removes) its temporary files.
			defer h.removeUploads(r)
			if !ok {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// signedOutMaxBody bounds the body of a request from a visitor who is not
// signed in: the sign-in and mail-link forms need a few hundred bytes, and
// nobody may make the server store more than that before they signed in.
const signedOutMaxBody = 16 << 10

// checkForm parses the body of an unsafe request (within the size limit:
// MaxBody when signedIn, signedOutMaxBody otherwise) and checks its form
// token.
func (h *Handler) checkForm(w http.ResponseWriter, r *http.Request, want string, signedIn bool) bool {
	limit := h.d.MaxBody
	if !signedIn {
		limit = min(limit, signedOutMaxBody)
	}
	tooLarge := func() bool {
		h.errorPage(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("What you sent is larger than the limit of %s.", humanSize(limit)))
		return false
	}
	if r.ContentLength > limit {
		return tooLarge()
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if signedIn && h.d.UploadTimeout > 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.d.UploadTimeout))
		}
		err = r.ParseMultipartForm(8 << 20)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge()
		}
		h.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	if got == "" || !equalTokens(got, want) {
		h.errorPage(w, r, http.StatusForbidden, "This form has expired or did not come from this site. Go back, reload the page and try again.")
		return false
	}
	return true
}

// removeUploads deletes the temporary files of the request's multipart
// form, if it has one.
func (h *Handler) removeUploads(r *http.Request) {
	if r.MultipartForm == nil {
		return
	}
	if err := r.MultipartForm.RemoveAll(); err != nil {
		h.d.Log.Warn("web: remove uploaded temporary files", "path", r.URL.Path, "err", err)
	}
}

// principal returns the person behind the request, or nil.
func principal(r *http.Request) *auth.Principal {
	p, _ := r.Context().Value(principalKey).(*auth.Principal)
	return p
}

func csrfToken(r *http.Request) string {
	s, _ := r.Context().Value(csrfKey).(string)
	return s
}

// signedIn sends visitors who are not signed in to the sign-in page, with
// the way back.
func (h *Handler) signedIn(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if principal(r) == nil {
			if r.Method != http.MethodGet {
				h.errorPage(w, r, http.StatusUnauthorized, "Your session has ended. Sign in again.")
				return
			}
			target := "/login"
			if r.URL.Path != "/" {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		fn(w, r)
	}
}

// staff lets in only people who work tickets of some unit.
func (h *Handler) staff(fn http.HandlerFunc) http.HandlerFunc {
	return h.signedIn(func(w http.ResponseWriter, r *http.Request) {
		if !principal(r).IsStaff() {
			h.errorPage(w, r, http.StatusForbidden, "This page is for support staff.")
			return
		}
		fn(w, r)
	})
}

// admin lets in only administrators of the instance.
func (h *Handler) admin(fn http.HandlerFunc) http.HandlerFunc {
	return h.signedIn(func(w http.ResponseWriter, r *http.Request) {
		if !principal(r).IsAdmin() {
			h.errorPage(w, r, http.StatusForbidden, "This page is for administrators.")
			return
		}
		fn(w, r)
	})
}

// fail shows the error page that fits err: its kind decides the status,
// and internal errors are logged but never shown.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	msg := "Something went wrong on our side. It has been logged; please try again in a moment."
	err = h.d.DB.Unavailable(err)
	var e *apperr.Error
	if errors.As(err, &e) {
		msg = e.Error()
		switch e.Kind {
		case apperr.Invalid, apperr.Unprocessable:
			status = http.StatusUnprocessableEntity
		case apperr.NotFound:
			status, msg = http.StatusNotFound, "There is nothing here, or you may not see it. "+capitalize(e.Message)+"."
		case apperr.Forbidden:
			status = http.StatusForbidden
		case apperr.Conflict:
			status = http.StatusConflict
		case apperr.Unauthorized:
			status = http.StatusUnauthorized
		case apperr.TooLarge:
			status = http.StatusRequestEntityTooLarge
		case apperr.RateLimited:
			status = http.StatusTooManyRequests
		case apperr.Unavailable:
			status, msg = http.StatusServiceUnavailable, "The helpdesk is busy for a moment; nothing was saved. Please try again in a few seconds."
			w.Header().Set("Retry-After", strconv.Itoa(int(db.RetryAfter.Seconds())))
		default:
			msg = "Something went wrong on our side. It has been logged; please try again in a moment."
		}
	}
	if status == http.StatusInternalServerError {
		if errors.Is(err, context.Canceled) {
			return
		}
		h.d.Log.Error("web request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	h.errorPage(w, r, status, msg)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func asAppErr(err error, target **apperr.Error) bool { return errors.As(err, target) }
