// Package app is helpmesh's composition root: it opens the database, builds
// the domain stores, the HTTP surfaces and the workers, and starts and stops
// them together.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/helpmesh/helpmesh/internal/api"
	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/blob"
	"github.com/helpmesh/helpmesh/internal/change"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/credential"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/fedapi"
	"github.com/helpmesh/helpmesh/internal/federation"
	"github.com/helpmesh/helpmesh/internal/forwarded"
	"github.com/helpmesh/helpmesh/internal/identity"
	"github.com/helpmesh/helpmesh/internal/incident"
	"github.com/helpmesh/helpmesh/internal/jobs"
	"github.com/helpmesh/helpmesh/internal/knownerror"
	"github.com/helpmesh/helpmesh/internal/lifecycle"
	"github.com/helpmesh/helpmesh/internal/live"
	"github.com/helpmesh/helpmesh/internal/mail"
	"github.com/helpmesh/helpmesh/internal/notifybus"
	"github.com/helpmesh/helpmesh/internal/observe"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/setting"
	"github.com/helpmesh/helpmesh/internal/sla"
	"github.com/helpmesh/helpmesh/internal/status"
	"github.com/helpmesh/helpmesh/internal/subscription"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
	"github.com/helpmesh/helpmesh/internal/web"
	"github.com/helpmesh/helpmesh/internal/webhook"
	"github.com/helpmesh/helpmesh/internal/worktime"
)

// App is one running helpmesh instance.
type App struct {
	Config  config.Config
	Log     *slog.Logger
	DB      *db.DB
	Users   *user.Store
	Units   *unit.Store
	Tickets *ticket.Store
	// Settings are the instance's settings (theme, mail secret).
	Settings *setting.Store
	// Identity links external identities and applies claim mapping rules.
	Identity *identity.Store
	Blobs    blob.Store
	API      *api.API // the REST API, also inside Handler
	Handler  http.Handler
	Jobs     *jobs.Queue   // durable side effects (mail.go)
	Mail     *mail.Gateway // email gateway (mail.go)
	// Events is the event stream every follower reads.
	Events *event.Log
	// Live tells this process's open pages of changes.
	Live *live.Hub
	// Bus tells the other processes on the database of new events and
	// stale caches (LISTEN/NOTIFY on PostgreSQL).
	Bus *notifybus.Bus
	// Webhooks delivers events to subscribed URLs.
	Webhooks *webhook.Store
	// Timers run the ticket lifecycle: auto-close, reminders, unsolved.
	Timers *lifecycle.Timers
	// Connectors synchronise the tickets of external services with their
	// peers.
	Connectors *connector.Engine
	// Federation serves other helpmesh instances under /federation/v1/
	// and receives what they push.
	Federation     *federation.Store
	FederationAPI  *fedapi.Handler // /federation/v1/
	peerDeliveries peerDeliveries
	// Incidents are the service incidents; Status renders the public
	// status page from them (status.go).
	Incidents *incident.Store
	Status    *status.Page
	// KnownErrors is the known-error database.
	KnownErrors *knownerror.Store
	// Subscriptions are the status page's subscriptions by mail and the
	// announcements to services' users (subscription.go).
	Subscriptions *subscription.Store
	// Changes are the changes and downtimes (the status page's
	// maintenance).
	Changes *change.Store

	// workers are started by Run and stopped when its context ends.
	workers []func(ctx context.Context) error
	// onShutdown runs when the HTTP server starts shutting down: it ends
	// what would otherwise keep a connection busy (live-update streams).
	onShutdown []func()
}

// New opens the database, applies migrations and builds everything.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dsn := cfg.DB
	if !cfg.IsPostgres() {
		dsn = cfg.SQLitePath()
	}
	d, err := db.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: log, DB: d}
	if err := a.build(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) build(ctx context.Context) error {
	applied, err := a.DB.Migrate(ctx)
	if err != nil {
		return err
	}
	for _, m := range applied {
		a.Log.Info("applied migration", "name", m)
	}
	blobs, err := blob.NewDir(a.Config.AttachmentsDir())
	if err != nil {
		return err
	}
	a.Blobs = blobs
	a.Bus = notifybus.New(a.DB, a.Log)
	a.AddWorker(a.Bus.Run)
	a.Users = user.NewStore(a.DB)
	a.Users.Changed = func() { a.Bus.Announce(notifybus.Principals) }
	a.Bus.Subscribe(notifybus.Principals, a.Users.DropPrincipals)
	if n, left, err := a.Users.CanonicalizeCertificates(ctx); err != nil {
		return err
	} else if n > 0 || len(left) > 0 {
		a.Log.Info("rewrote registered certificate subjects in canonical form", "rewritten", n)
		for _, dn := range left {
			a.Log.Warn("a registered certificate subject does not parse or duplicates another one; it matches no certificate", "dn", dn)
		}
	}
	a.Units = unit.NewStore(a.DB)
	a.Units.Changed = func() { a.Bus.Announce(notifybus.Units) }
	a.Bus.Subscribe(notifybus.Units, a.Units.ForgetLookups)
	a.Settings = setting.NewStore(a.DB)
	a.Events = event.New(a.DB, event.Options{Log: a.Log, Numbered: func() { a.Bus.Announce(notifybus.Events) }})
	a.Bus.Subscribe(notifybus.Events, a.Events.Wake)
	clocks := &sla.Clocks{Units: a.Units, Default: a.Config.Lifecycle.Calendar, Warning: a.Config.Lifecycle.QoSWarning}
	a.Tickets = ticket.NewStore(a.DB, ticket.Options{Emit: a.emit, Log: a.Log, OwnAddress: a.ownAddress, ResponseClock: clocks.Deadlines})
	a.AddWorker(func(ctx context.Context) error { return a.sweepBlobs(ctx, blobs) })
	lc := a.Config.Lifecycle
	a.Timers, err = lifecycle.New(lifecycle.Options{Tickets: a.Tickets, Calendar: lc.Calendar, UnitCalendar: a.unitCalendar, Interval: lc.TimerInterval, Log: a.Log,
		Policy: lifecycle.Policy{CloseAfter: lc.CloseAfter, Reminders: lc.WaitingReminders, Unsolved: lc.WaitingUnsolved,
			AlarmRepage: lc.AlarmRepage}})
	if err != nil {
		return err
	}
	a.AddWorker(a.Timers.Run)
	if err := a.bootstrap(ctx); err != nil {
		return err
	}
	if err := a.buildMail(ctx); err != nil {
		return err
	}
	a.Live = live.NewHub(a.Tickets)
	a.Live.Follow(a.Events)
	policy, err := outbound.NewPolicy(a.Config.OutboundAllow)
	if err != nil {
		return err
	}
	a.buildWebhooks(policy)
	a.buildConnectors(policy)
	a.buildFederation(policy)
	a.buildStatus()
	if err := a.buildSubscriptions(); err != nil {
		return err
	}
	counts := event.NewCounter(a.Events)
	if err := a.Events.Start(ctx); err != nil { // before any request
		return err
	}
	a.AddWorker(a.Events.Run) // after every follower is registered

	idp, err := a.buildIdentity()
	if err != nil {
		return err
	}

	wh := web.New(web.Deps{
		Log: a.Log, DB: a.DB, Users: a.Users, Units: a.Units, Tickets: a.Tickets, Blobs: a.Blobs, Settings: a.Settings,
		BaseURL: a.Config.PublicURL(), MaxBody: a.Config.MaxBodyBytes, MaxUpload: a.Config.MaxUploadBytes, UploadTimeout: a.Config.UploadTimeout,
		Live: a.Live, Followers: a.Events, Outbox: webOutbox{a.Mail}, Mailer: webMailer{a.Mail}, Sessions: idp.sessions, Authenticators: idp.certAuth,
		Identity: a.Identity, SignOn: idp.signOn, SSOOnly: a.Config.SSOOnly, BreakGlass: a.Config.BreakGlass,
		Connectors:  a.Connectors,
		KnownErrors: a.KnownErrors, Incidents: a.Incidents, Announcements: a.Subscriptions, Changes: a.Changes,
	})
	a.onShutdown = append(a.onShutdown, wh.EndStreams)
	// One registry for every surface: the Go runtime, the process, the
	// requests of every route (observe) and what the API adds.
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.API = api.New(api.Deps{
		Registry: registry,
		Log:      a.Log, DB: a.DB, Users: a.Users, Units: a.Units, Tickets: a.Tickets, Blobs: a.Blobs, Events: a.Events, EventCounts: counts.Counts,
		MaxBody: a.Config.MaxBodyBytes, MaxUpload: a.Config.MaxUploadBytes, UploadTimeout: a.Config.UploadTimeout,
		Outbox: a.Mail, Relay: a.Config.SMTPRelay != "", Audit: a.Identity, Webhooks: a.Webhooks, Sessions: wh.Sessions(), Connectors: a.Connectors,
		Backlogs:     api.Backlogs{Outbox: a.Mail.Backlog, Jobs: a.Jobs.Pending, JobsFailed: a.Jobs.Failed, Mail: a.mailStats},
		MetricsToken: a.Config.MetricsToken,
		// The session cookie, then certificates.
		Authenticators: append([]credential.Authenticator{wh.APIAuthenticator()}, idp.certAuth...),
		Incidents:      a.Incidents,
		KnownErrors:    a.KnownErrors,
		Subscriptions:  a.Subscriptions,
		Changes:        a.Changes,
		Fetcher:        outbound.Getter{Client: policy.Client(outbound.Timeout), UserAgent: "helpmesh-gocdb-import"},
		BaseURL:        a.Config.PublicURL(),
	})
	mux := http.NewServeMux()
	mux.Handle("/api/", a.API)
	a.FederationAPI = fedapi.New(a.Federation, a.API, api.WriteJSON)
	mux.Handle(fedapi.Prefix, a.FederationAPI)
	a.mountStatus(mux)
	a.mountSubscriptions(mux)
	mux.Handle("GET /healthz", a.API)
	mux.Handle("GET /gocdbpi/public/", a.API)
	mux.Handle("GET /metrics", a.API)
	mux.Handle("/", wh)
	proxies, err := forwarded.Parse(a.Config.TrustedProxies)
	if err != nil {
		return err
	}
	// The forwarded middleware first: the request log shows the client
	// behind a trusted proxy.
	a.Handler = proxies.Middleware(observe.NewHTTP(registry, a.Log).Wrap(mux))
	return nil
}

// buildWebhooks makes the webhook store, its follower of the event stream
// and its sender, whose requests go only where HELPMESH_OUTBOUND_ALLOW and
// the public Internet allow (policy).
func (a *App) buildWebhooks(policy *outbound.Policy) {
	a.Webhooks = webhook.NewStore(a.DB, webhook.Options{
		Checker: policy, Units: a.Tickets, Briefs: a.Tickets, BaseURL: a.Config.BaseURL, Log: a.Log,
		BackoffBase: a.Config.OutboundRetry,
		Poster:      outbound.Poster{Client: policy.Client(outbound.Timeout), UserAgent: "helpmesh-webhooks"},
	})
	a.Webhooks.Follow(a.Events)
	a.Webhooks.FollowChat(a.Events)
	a.AddWorker(a.Webhooks.Run)
}

// buildConnectors makes the connector engine with the kinds of peer this
// helpmesh knows (kinds), its follower of the event stream and its worker;
// its requests go only where policy allows.
func (a *App) buildConnectors(policy *outbound.Policy) {
	a.Connectors = connector.New(a.DB, connector.Options{
		Kinds: kinds(), Tickets: a.Tickets, Services: a.Units, Checker: policy, Client: policy.Client(connectorTimeout),
		Blobs: a.Blobs, MaxFile: a.Config.MaxUploadBytes, Instance: a.Config.PublicURL(), Log: a.Log,
		ReconcileInterval: a.Config.ReconcileInterval,
	})
	a.Connectors.Follow(a.Events)
	a.AddWorker(a.Connectors.Run)
}

// connectorTimeout bounds one request to a peer (research/federation.md
// §5: 15 to 30 s).
const connectorTimeout = 20 * time.Second

// unitCalendar returns the calendar of unit id for the lifecycle timers:
// its own, or nil for the default.
func (a *App) unitCalendar(ctx context.Context, id int64) (*worktime.Calendar, error) {
	cal, err := a.Units.WorkCalendar(ctx, id, nil)
	if apperr.Is(err, apperr.NotFound) {
		return nil, nil
	}
	return cal, err
}

// ownAddress tells whether addr is one the mail gateway takes mail for (a
// unit's address, a reply-token address, the helpdesk address).
func (a *App) ownAddress(ctx context.Context, addr string) (bool, error) {
	if a.Mail == nil {
		return false, nil
	}
	return a.Mail.KnownRecipient(ctx, addr)
}

// emit appends every ticket event to the event stream, inside the
// change's transaction.
func (a *App) emit(ctx context.Context, q db.Querier, ev ticket.Event) error {
	var data any = ev
	if a.Mail != nil {
		data = a.Mail.EventData(ev)
	}
	return a.Events.Append(ctx, q, ev.Type(), ev.TicketID, data)
}

// bootstrap creates the first administrator when HELPMESH_BOOTSTRAP_TOKEN is
// set and no user exists yet.
func (a *App) bootstrap(ctx context.Context) error {
	if a.Config.BootstrapToken == "" {
		return a.setupURL(ctx)
	}
	n, err := a.Users.Count(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if n > 0 {
		return nil
	}
	u, err := a.Users.Create(ctx, user.NewUser{Email: "admin@localhost", Name: "Administrator", Role: auth.RoleAdmin})
	if apperr.Is(err, apperr.Conflict) {
		return nil // another node won the race
	}
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if _, err := a.Users.CreateTokenWithSecret(ctx, u.ID, "bootstrap", a.Config.BootstrapToken); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	a.Log.Info("created administrator admin@localhost with the bootstrap token")
	return nil
}

// setupURL logs, when no user exists yet, the one-time address where the
// first administrator is created: <base URL>/setup/<token>. It is a
// warning, so that it shows at every log level but error: nobody can sign
// in until someone opens it.
func (a *App) setupURL(ctx context.Context) error {
	token, err := a.Users.NewSetupToken(ctx)
	if err != nil {
		return fmt.Errorf("first-run setup: %w", err)
	}
	if token == "" {
		return nil
	}
	base := a.Config.PublicURL()
	if a.Config.BaseURL == "" {
		// Listening on every interface (":8080", "0.0.0.0:8080"): this
		// machine answers as localhost.
		if host, port, err := net.SplitHostPort(a.Config.HTTPAddr); err == nil && (host == "" || net.ParseIP(host).IsUnspecified()) {
			base = "http://" + net.JoinHostPort("localhost", port)
		}
	}
	url := strings.TrimRight(base, "/") + "/setup/" + token
	a.Log.Warn("no user exists yet: open this address once to create the first administrator", "setup_url", url)
	return nil
}

// Blobs a refused request or a crash left without an attachment row are
// removed once they are blobGrace old (long enough for any request that
// stored one to commit its row), at start and every blobSweepEvery.
const (
	blobGrace      = 24 * time.Hour
	blobSweepEvery = time.Hour
)

// sweepBlobs removes unreferenced blobs until ctx ends.
func (a *App) sweepBlobs(ctx context.Context, blobs *blob.Dir) error {
	t := time.NewTicker(blobSweepEvery)
	defer t.Stop()
	for {
		n, err := blobs.Sweep(ctx, time.Now().Add(-blobGrace), a.Tickets.ReferencedBlobs)
		if err != nil && ctx.Err() == nil {
			a.Log.Warn("sweeping unreferenced attachments", "err", err)
		} else if n > 0 {
			a.Log.Info("removed unreferenced attachments", "files", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// AddWorker registers a background loop that Run starts and stops.
func (a *App) AddWorker(w func(ctx context.Context) error) { a.workers = append(a.workers, w) }

// Close indexes for search what is not yet and releases the database.
func (a *App) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := a.Tickets.Close(ctx)
	return errors.Join(err, a.DB.Close())
}

// Run serves HTTP (and starts the workers) until ctx ends, then shuts down
// gracefully: in-flight requests finish within the configured grace period.
func (a *App) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.Config.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.Config.HTTPAddr, err)
	}
	return a.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           bodyDeadline(a.Handler, a.Config.ReadTimeout),
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout: bodyDeadline gives each body its time, and the
		// handlers that take uploads extend it.
		WriteTimeout:   5 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if a.Config.TLSCert != "" {
		cfg, err := a.tlsConfig()
		if err != nil {
			return err
		}
		srv.TLSConfig = cfg
		ln = tls.NewListener(ln, cfg)
	}
	for _, f := range a.onShutdown {
		srv.RegisterOnShutdown(f)
	}
	wctx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	var wg sync.WaitGroup
	for _, w := range a.workers {
		wg.Go(func() {
			if err := w(wctx); err != nil && !errors.Is(err, context.Canceled) {
				a.Log.Error("worker stopped", "err", err)
			}
		})
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.Log.Info("helpmesh is serving", "addr", ln.Addr().String(), "url", a.Config.PublicURL(), "db", string(a.DB.Engine))
	select {
	case err := <-errc:
		stopWorkers()
		wg.Wait()
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	a.Log.Info("shutting down", "grace", a.Config.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	stopWorkers()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func (a *App) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(a.Config.TLSCert, a.Config.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if a.Config.TLSClientCA != "" {
		// An optional client certificate: verified against the client CA
		// (and the CRLs) when given; people without one sign in otherwise.
		if err := auth.ClientAuth(cfg, a.Config.TLSClientCA, a.Config.TLSCRLs); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// bodyDeadline gives the body of every request timeout to arrive, so that a
// client trickling it byte by byte cannot hold a connection for long;
// handlers that take uploads extend the deadline (web and API, with
// UploadTimeout). net/http lifts the deadline once the body has been read to
// its end (TestBodyDeadlineEndsWithTheBody): an expired read deadline would
// otherwise cancel the request's context while its handler still works.
func bodyDeadline(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
		}
		next.ServeHTTP(w, r)
	})
}
