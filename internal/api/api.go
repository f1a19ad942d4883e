// Package api serves the REST API /api/v1: JSON handlers over the domain
// stores, one error envelope, bearer-token authentication, /healthz and
// /metrics.
package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/blob"
	"github.com/helpmesh/helpmesh/internal/change"
	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/credential"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/incident"
	"github.com/helpmesh/helpmesh/internal/knownerror"
	"github.com/helpmesh/helpmesh/internal/observe"
	"github.com/helpmesh/helpmesh/internal/subscription"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
	"github.com/helpmesh/helpmesh/internal/webhook"
)

// Deps is what the API needs.
type Deps struct {
	Log       *slog.Logger
	DB        *db.DB
	Users     *user.Store
	Units     *unit.Store
	Tickets   *ticket.Store
	Blobs     blob.Store
	Events    EventFeed
	MaxBody   int64 // request body limit
	MaxUpload int64 // one attachment
	// EventCounts, when set, counts the events of the stream by type.
	EventCounts func() map[string]int64
	// UploadTimeout is how long a multipart upload may take to arrive
	// (other bodies have the server's shorter read deadline).
	UploadTimeout time.Duration
	// Authenticators are tried, in order, when a request has no bearer token.
	Authenticators []credential.Authenticator
	// Registry collects metrics; a new one when nil.
	Registry *prometheus.Registry
	// Outbox, when set, serves GET /api/v1/outbox and its quarantine;
	// Relay says whether mail leaves through a relay.
	Outbox Outbox
	Relay  bool
	// Audit, when set, serves GET /api/v1/audit.
	Audit AuditLog
	// Webhooks, when set, serves /api/v1/webhooks.
	Webhooks *webhook.Store
	// Sessions, when set, ends the browser sessions of a user who is
	// disabled.
	Sessions SessionEnder
	// Connectors, when set, serves /api/v1/connectors and the links of
	// tickets.
	Connectors *connector.Engine
	// Backlogs, when set, are in /metrics.
	Backlogs Backlogs
	// Incidents, when set, serves /api/v1/incidents.
	Incidents *incident.Store
	// KnownErrors, when set, serves /api/v1/known-errors.
	KnownErrors *knownerror.Store
	// Subscriptions, when set, serves /api/v1/subscriptions and
	// /api/v1/announcements (subscriptions.go).
	Subscriptions *subscription.Store
	// Changes, when set, serves /api/v1/changes and the GOCDB downtime
	// document at /gocdbpi/public/; Fetcher fetches the documents an
	// import names by URL; BaseURL is the instance's public URL.
	Changes *change.Store
	Fetcher Fetcher
	BaseURL string
	// MetricsToken, when set, is the bearer token GET /metrics asks for
	// (HELPMESH_METRICS_TOKEN); without it /metrics is open.
	MetricsToken string
}

// SessionEnder signs a user out of every browser; the web's session store
// implements it.
type SessionEnder interface {
	EndAll(ctx context.Context, userID int64) error
}

// API is the REST API handler.
type API struct {
	Deps
	mux    *http.ServeMux
	routes []string
}

// New builds the API.
func New(d Deps) *API {
	if d.Registry == nil {
		// A registry of its own, with the Go runtime and the process.
		d.Registry = prometheus.NewRegistry()
		d.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	a := &API{Deps: d, mux: http.NewServeMux()}
	if d.Events != nil {
		d.Registry.MustRegister(followerMetrics{d.Events, d.EventCounts, d.Log})
	}
	if d.Webhooks != nil {
		d.Registry.MustRegister(webhookMetrics{d.Webhooks, d.Log})
	}
	if d.Connectors != nil {
		d.Registry.MustRegister(connectorMetrics{d.Connectors, d.Log})
	}
	if b := d.Backlogs; b.Outbox != nil || b.Jobs != nil || b.JobsFailed != nil || b.Mail != nil {
		d.Registry.MustRegister(backlogMetrics{d.Backlogs, d.Log})
	}
	if d.Tickets != nil {
		d.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "helpmesh_tickets", Help: "Number of tickets.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, _ := d.Tickets.Count(ctx)
			return float64(n)
		}))
	}
	a.routesV1()
	return a
}

// Routes lists the patterns the API serves (for the OpenAPI coverage test).
func (a *API) Routes() []string { return a.routes }

func (a *API) handle(pattern string, h http.Handler) {
	a.routes = append(a.routes, pattern)
	a.mux.Handle(pattern, h)
}

func (a *API) routesV1() {
	a.handle("GET /healthz", http.HandlerFunc(a.healthz))
	a.handle("GET /metrics", a.metricsGuard(promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{})))
	a.handle("GET /api/v1/openapi.json", http.HandlerFunc(serveOpenAPI))

	a.authed("GET /api/v1/me", a.me)
	a.authed("GET /api/v1/me/notifications", a.myNotifications)
	a.authed("PATCH /api/v1/me/notifications", a.setMyNotifications)
	a.authed("POST /api/v1/users", a.createUser)
	a.authed("GET /api/v1/users", a.listUsers)
	a.authed("GET /api/v1/users/{id}", a.getUser)
	a.authed("PATCH /api/v1/users/{id}", a.updateUser)
	a.authed("POST /api/v1/users/{id}/tokens", a.createToken)
	a.authed("GET /api/v1/users/{id}/tokens", a.listTokens)
	a.authed("DELETE /api/v1/users/{id}/tokens/{tid}", a.revokeToken)

	a.authed("POST /api/v1/units", a.createUnit)
	a.authed("GET /api/v1/units", a.listUnits)
	a.authed("GET /api/v1/units/{slug}", a.getUnit)
	a.authed("PATCH /api/v1/units/{slug}", a.updateUnit)
	a.authed("GET /api/v1/units/{slug}/members", a.listMembers)
	a.authed("POST /api/v1/units/{slug}/members", a.addMember)
	a.authed("DELETE /api/v1/units/{slug}/members/{uid}", a.removeMember)

	a.authed("POST /api/v1/services", a.createService)
	a.authed("GET /api/v1/services", a.listServices)
	a.authed("GET /api/v1/services/{slug}", a.getService)
	a.authed("PATCH /api/v1/services/{slug}", a.updateService)

	a.authed("POST /api/v1/tickets", a.createTicket)
	a.authed("GET /api/v1/tickets", a.listTickets)
	a.authed("GET /api/v1/tickets/{id}", a.getTicket)
	a.authed("PATCH /api/v1/tickets/{id}", a.updateTicket)
	a.authed("POST /api/v1/tickets/{id}/messages", a.addMessage)
	a.authed("GET /api/v1/tickets/{id}/messages", a.listMessages)
	a.authed("GET /api/v1/tickets/{id}/history", a.history)
	a.authed("POST /api/v1/tickets/{id}/escalate", a.escalateTicket)
	a.authed("POST /api/v1/tickets/{id}/watchers", a.addWatcher)
	a.authed("DELETE /api/v1/tickets/{id}/watchers/{email}", a.removeWatcher)
	a.authed("POST /api/v1/tickets/{id}/relations", a.addRelation)
	a.authed("GET /api/v1/tickets/{id}/relations", a.listRelations)
	a.authed("DELETE /api/v1/tickets/{id}/relations/{rid}", a.removeRelation)
	a.authed("GET /api/v1/attachments/{id}", a.getAttachment)
	a.authed("GET /api/v1/events", a.events)

	if a.Webhooks != nil {
		a.authed("POST /api/v1/webhooks", a.createWebhook)
		a.authed("GET /api/v1/webhooks", a.listWebhooks)
		a.authed("GET /api/v1/webhooks/{id}", a.getWebhook)
		a.authed("DELETE /api/v1/webhooks/{id}", a.deleteWebhook)
		a.authed("GET /api/v1/webhooks/{id}/deliveries", a.webhookDeliveries)
	}

	if a.Connectors != nil {
		a.connectorRoutes()
	}
	if a.Incidents != nil {
		a.authed("POST /api/v1/incidents", a.createIncident)
		a.authed("GET /api/v1/incidents", a.listIncidents)
		a.authed("GET /api/v1/incidents/{id}", a.getIncident)
		a.authed("POST /api/v1/incidents/{id}/updates", a.addIncidentUpdate)
		a.authed("POST /api/v1/incidents/{id}/tickets", a.linkIncidentTicket)
	}

	if a.Subscriptions != nil {
		a.subscriptionRoutes()
	}
	if a.KnownErrors != nil {
		a.authed("POST /api/v1/known-errors", a.createKnownError)
		a.authed("GET /api/v1/known-errors", a.listKnownErrors)
		a.authed("GET /api/v1/known-errors/{id}", a.getKnownError)
		a.authed("PATCH /api/v1/known-errors/{id}", a.updateKnownError)
		a.authed("POST /api/v1/known-errors/{id}/tickets", a.linkKnownErrorTicket)
	}

	if a.Changes != nil {
		a.changeRoutes()
	}

	if a.Outbox != nil {
		a.authed("GET /api/v1/outbox", a.adminOnly("the mail outbox", a.outbox))
		a.authed("GET /api/v1/outbox/quarantine", a.adminOnly("the mail outbox", a.quarantine))
	}
	if a.Audit != nil {
		a.authed("GET /api/v1/audit", a.adminOnly("the audit log", a.audit))
	}
}

// authed registers a handler that needs a principal.
func (a *API) authed(pattern string, h func(w http.ResponseWriter, r *http.Request, p *auth.Principal)) {
	a.handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="helpmesh"`)
			a.writeError(w, r, err)
			return
		}
		if p.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
			a.writeError(w, r, apperr.New(apperr.Forbidden, "this token is read-only"))
			return
		}
		h(w, r, p)
	}))
}

func (a *API) authenticate(r *http.Request) (*auth.Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" || len(token) > 512 {
			return nil, apperr.New(apperr.Unauthorized, "the Authorization header must be: Bearer <token>")
		}
		return a.Users.PrincipalByToken(r.Context(), token)
	}
	for _, au := range a.Authenticators {
		p, err := au(r)
		if err != nil {
			return nil, err
		}
		if p != nil {
			return p, nil
		}
	}
	return nil, apperr.New(apperr.Unauthorized, "authentication required: send Authorization: Bearer <token>")
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.DB.Ping(ctx); err != nil {
		a.Log.Error("health check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "db": string(a.DB.Engine)})
		return
	}
	if a.DB.WritesBusy() {
		// Reads work, writes time out: another process holds the
		// database's write lock.
		w.Header().Set("Retry-After", retryAfter())
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "degraded", "db": string(a.DB.Engine), "writes": "timing out on a lock held by another process"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "db": string(a.DB.Engine)})
}

// ServeHTTP applies the body limit, recovers from panics, tells the route
// to the request metrics (package observe, around every surface) and turns
// the mux's own 404 and 405 answers into the error envelope.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	if r.ContentLength > a.MaxBody {
		a.writeError(sw, r, apperr.New(apperr.TooLarge, "the request body is larger than %d bytes", a.MaxBody))
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(sw, r.Body, a.MaxBody)
	}
	_, pattern := a.mux.Handler(r)
	observe.SetRoute(r, pattern)
	route := pattern
	if route == "" {
		route = "unmatched"
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.Log.Error("panic in API handler", "route", route, "panic", v)
			if sw.code == 0 {
				a.writeError(sw, r, apperr.New(apperr.Internal, "internal error"))
			}
		}
	}()
	if pattern == "" {
		cw := &captureWriter{header: http.Header{}}
		a.mux.ServeHTTP(cw, r)
		if cw.code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", cw.header.Get("Allow"))
			a.writeError(sw, r, &apperr.Error{Kind: "method_not_allowed", Message: r.Method + " is not allowed here; allowed: " + cw.header.Get("Allow")})
			return
		}
		a.writeError(sw, r, apperr.New(apperr.NotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
		return
	}
	a.mux.ServeHTTP(sw, r)
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// captureWriter records the status the mux answers for unmatched requests.
type captureWriter struct {
	header http.Header
	code   int
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
}
func (c *captureWriter) Write(b []byte) (int, error) { return len(b), nil }
