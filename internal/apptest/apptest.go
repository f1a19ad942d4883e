// Package apptest starts a whole helpmesh (app.New + app.Serve) in-process
// on a loopback port for one test, on SQLite or PostgreSQL, and gives the
// test an administrator's API client.
//
//	func TestSomething(t *testing.T) {
//		apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
//			in := apptest.Start(t, e)
//			u, c := in.NewUser(t, "ann@example.org", "user")
//			tk, err := c.CreateTicket(ctx, client.NewTicket{Subject: "s", Body: "b"})
//			...
//		})
//	}
//
// The instance is shut down (gracefully, as on SIGTERM) and its database
// closed when the test ends. SQLite lives in t.TempDir(); PostgreSQL is a
// fresh database from testenv.PostgresDSN, so a PostgreSQL test skips
// without the test cluster, and fails under CI=true.
//
// The server's log is kept in memory and printed only when the test fails.
package apptest

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/app"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/observe"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// Engine is a database engine an instance runs on.
type Engine string

// The engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// Engines runs fn as a subtest on each engine, named "sqlite" and
// "postgres". The subtests are not parallel; fn may call t.Parallel.
func Engines(t *testing.T, fn func(t *testing.T, e Engine)) {
	t.Helper()
	for _, e := range []Engine{SQLite, Postgres} {
		t.Run(string(e), func(t *testing.T) { fn(t, e) })
	}
}

// DSN returns a database for a test on engine e: a path in t.TempDir() for
// SQLite, a fresh PostgreSQL database (testenv.PostgresDSN) otherwise. It is
// what config.Config.DB takes ("" means SQLite in the data directory, so
// for SQLite it returns "").
func DSN(t testing.TB, e Engine) string {
	t.Helper()
	if e == Postgres {
		return testenv.PostgresDSN(t)
	}
	return ""
}

// Instance is one running helpmesh.
type Instance struct {
	// URL is the base URL, http://127.0.0.1:PORT.
	URL string
	// App gives direct access to the stores and configuration.
	App *app.App
	// Engine the instance runs on.
	Engine Engine
	// AdminToken is the bootstrap token of admin@localhost.
	AdminToken string
	// Admin is a client with AdminToken.
	Admin *client.Client
	// HTTP is the plain HTTP client the clients use.
	HTTP *http.Client

	logs *testenv.LogBuffer
}

// Logs is what the server logged so far.
func (in *Instance) Logs() string { return in.logs.String() }

// Start builds and serves a helpmesh on engine e for the test t. opts may
// change the configuration before the app is built (for example
// cfg.MaxBodyBytes); DataDir, DB, HTTPAddr and BootstrapToken are set
// already.
func Start(t testing.TB, e Engine, opts ...func(cfg *config.Config)) *Instance {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.DB = DSN(t, e)
	cfg.BootstrapToken = "hm_bootstrap_" + auth.RandomString(24)
	cfg.ShutdownGrace = 10 * time.Second
	// Each mail at once, as the tests expect; a test of the batching sets
	// a window of its own.
	cfg.MailBatch = 0
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("apptest: listen: %v", err)
	}
	cfg.HTTPAddr = ln.Addr().String()
	for _, o := range opts {
		o(&cfg)
	}
	logs := &testenv.LogBuffer{}
	// The handler helpmesh serve uses, at the configured level and format.
	log := observe.NewLogger(logs, cfg.LogFormat, cfg.LogLevel)
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("apptest: app.New on %s: %v", e, err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("apptest: serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("apptest: the server did not stop within 30s")
		}
		if err := a.Close(); err != nil {
			t.Errorf("apptest: close: %v", err)
		}
		if t.Failed() {
			t.Logf("apptest: server log (%s):\n%s", e, logs.String())
		}
	})
	hc := &http.Client{Timeout: 60 * time.Second}
	in := &Instance{URL: "http://" + cfg.HTTPAddr, App: a, Engine: e, AdminToken: cfg.BootstrapToken, HTTP: hc, logs: logs}
	in.Admin = client.New(in.URL, in.AdminToken, hc)
	return in
}

// Client returns a client of the instance with token.
func (in *Instance) Client(token string) *client.Client { return client.New(in.URL, token, in.HTTP) }

// NewUser creates a user with role "user" or "admin" and a write token, and
// returns the user and a client with that token. The name is the part of the
// email before the @.
func (in *Instance) NewUser(t testing.TB, email, role string) (*client.User, *client.Client) {
	t.Helper()
	ctx := context.Background()
	name, _, _ := strings.Cut(email, "@")
	u, err := in.Admin.CreateUser(ctx, client.NewUser{Email: email, Name: name, Role: role})
	if err != nil {
		t.Fatalf("apptest: create user %s: %v", email, err)
	}
	tok, err := in.Admin.CreateToken(ctx, u.ID, client.NewToken{Name: "apptest"})
	if err != nil {
		t.Fatalf("apptest: token for %s: %v", email, err)
	}
	return u, in.Client(tok.Token)
}

// NewUnit creates a support unit; handler makes it the ticket handler team.
func (in *Instance) NewUnit(t testing.TB, slug string, handler bool) *client.Unit {
	t.Helper()
	u, err := in.Admin.CreateUnit(context.Background(), client.Unit{Slug: slug, Name: "Unit " + slug, Handler: handler})
	if err != nil {
		t.Fatalf("apptest: create unit %s: %v", slug, err)
	}
	return u
}

// AddMember makes user a member ("member" or "admin") of the unit.
func (in *Instance) AddMember(t testing.TB, unitSlug string, userID int64, role string) {
	t.Helper()
	if _, err := in.Admin.AddMember(context.Background(), unitSlug, userID, role); err != nil {
		t.Fatalf("apptest: add user %d to %s: %v", userID, unitSlug, err)
	}
}

// NewService creates a service of the catalogue worked by unitSlug.
func (in *Instance) NewService(t testing.TB, slug, unitSlug string) *client.Service {
	t.Helper()
	s, err := in.Admin.CreateService(context.Background(), client.Service{Slug: slug, Name: "Service " + slug, Unit: unitSlug})
	if err != nil {
		t.Fatalf("apptest: create service %s: %v", slug, err)
	}
	return s
}

// Response is a raw HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends a raw request (for tests of malformed input): token may be ""
// (no Authorization header), contentType may be "" (none sent).
func (in *Instance) Do(t testing.TB, method, path, token, contentType string, body io.Reader) Response {
	t.Helper()
	req, err := http.NewRequest(method, in.URL+path, body)
	if err != nil {
		t.Fatalf("apptest: %s %s: %v", method, path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := in.HTTP.Do(req)
	if err != nil {
		t.Fatalf("apptest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("apptest: %s %s: read body: %v", method, path, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}
