package web

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/blob"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/live"
	"github.com/helpmesh/helpmesh/internal/testenv"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

const testPassword = "correct horse battery"

// env is a web handler on a fresh database with a few people, a support
// unit, the ticket handler team and two services.
type env struct {
	t        testing.TB
	db       *db.DB
	users    *user.Store
	units    *unit.Store
	tickets  *ticket.Store
	blobs    blob.Store
	h        *Handler
	srv      *httptest.Server
	mail     *fakeMailer
	req      *user.User // a requester
	other    *user.User // another requester
	staff    *user.User // member of unit "compute"
	admin    *user.User
	unit     *unit.Unit
	handlers *unit.Unit
}

type sentMail struct{ To, Subject, Text string }

type fakeMailer struct {
	mu   sync.Mutex
	sent []sentMail
}

func (f *fakeMailer) Send(ctx context.Context, to, subject, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, sentMail{to, subject, text})
	return nil
}

func (f *fakeMailer) last() sentMail {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		return sentMail{}
	}
	return f.sent[len(f.sent)-1]
}

// engines runs fn on SQLite, and on PostgreSQL when the test cluster is
// available (scripts/test starts it; under CI=true it must be).
func engines(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, filepath.Join(t.TempDir(), "helpmesh.db")) })
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv(testenv.EnvPostgresDSN) == "" && !testenv.InCI() {
			t.Skip("no PostgreSQL (run scripts/test)")
		}
		fn(t, testenv.PostgresDSN(t))
	})
}

// newEnv builds the env; edits adjust the handler's Deps before it is built.
func newEnv(t testing.TB, dsn string, edits ...func(d *Deps)) *env {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	bs, err := blob.NewDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	// The event stream, followed by the live hub as in helpmesh serve.
	events := event.New(d, event.Options{Poll: 20 * time.Millisecond})
	tickets := ticket.NewStore(d, ticket.Options{Emit: func(ctx context.Context, q db.Querier, ev ticket.Event) error {
		return events.Append(ctx, q, ev.Type(), ev.TicketID, ev)
	}})
	hub := live.NewHub(tickets)
	hub.Follow(events)
	runCtx, stop := context.WithCancel(context.Background())
	var running sync.WaitGroup
	running.Go(func() { _ = events.Run(runCtx) })
	t.Cleanup(func() { stop(); running.Wait() })
	e := &env{t: t, db: d, users: user.NewStore(d), units: unit.NewStore(d), tickets: tickets, blobs: bs, mail: &fakeMailer{}}
	mk := func(email, name string, role auth.Role) *user.User {
		u, err := e.users.Create(ctx, user.NewUser{Email: email, Name: name, Role: role, Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	e.req = mk("ada@example.org", "Ada Lovelace", auth.RoleUser)
	e.other = mk("bob@example.org", "Bob Other", auth.RoleUser)
	e.staff = mk("sam@support.example.org", "Sam Support", auth.RoleUser)
	e.admin = mk("root@example.org", "Alex Admin", auth.RoleAdmin)
	if e.unit, err = e.units.CreateUnit(ctx, unit.Unit{Slug: "compute", Name: "Compute support", Email: "compute@support.example.org"}); err != nil {
		t.Fatal(err)
	}
	if e.handlers, err = e.units.CreateUnit(ctx, unit.Unit{Slug: "tht", Name: "Ticket handler team", Handler: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.units.SetMember(ctx, e.unit.ID, e.staff.ID, auth.UnitMember); err != nil {
		t.Fatal(err)
	}
	for _, s := range []unit.Service{
		{Slug: "cloud-compute", Name: "Cloud Compute", Description: "Virtual machines and containers", UnitSlug: "compute"},
		{Slug: "hpc", Name: "High-throughput computing", Description: "Batch jobs on the grid", UnitSlug: "compute"},
	} {
		if _, err := e.units.CreateService(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	deps := Deps{DB: d, Users: e.users, Units: e.units, Tickets: e.tickets, Blobs: bs, Mailer: e.mail,
		BaseURL: "", InstanceName: "Test Helpdesk", Live: hub, Followers: events}
	for _, edit := range edits {
		edit(&deps)
	}
	e.h = New(deps)
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	return e
}

// client is a browser-like HTTP client with cookies that does not follow
// redirects, so that tests see them.
type client struct {
	t    testing.TB
	e    *env
	http *http.Client
	csrf string
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: e.t, e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// clientFrom is a client whose connections come from the local address ip
// (another loopback address), as another person's browser would.
func (e *env) clientFrom(ip string) *client {
	c := e.client()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c.http.Transport = &http.Transport{DialContext: d.DialContext}
	return c
}

type resp struct {
	status   int
	body     string
	location string
	header   http.Header
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) do(req *http.Request) resp {
	c.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if m := csrfRe.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return resp{status: res.StatusCode, body: string(b), location: res.Header.Get("Location"), header: res.Header}
}

func (c *client) get(path string) resp {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.e.srv.URL+path, nil)
	return c.do(req)
}

// token returns a valid form token, loading a page for it when needed.
func (c *client) token() string {
	if c.csrf == "" {
		c.get("/login")
	}
	return c.csrf
}

func (c *client) post(path string, form url.Values, header ...string) resp {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if !form.Has("csrf") {
		form.Set("csrf", c.token())
	}
	req, _ := http.NewRequest("POST", c.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(req)
}

type upload struct{ field, name, content string }

func (c *client) postMultipart(path string, form url.Values, files ...upload) resp {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if !form.Has("csrf") {
		form.Set("csrf", c.token())
	}
	for k, vs := range form {
		for _, v := range vs {
			_ = mw.WriteField(k, v)
		}
	}
	for _, f := range files {
		fw, _ := mw.CreateFormFile(f.field, f.name)
		_, _ = io.WriteString(fw, f.content)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", c.e.srv.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

func (c *client) login(email string) {
	c.t.Helper()
	r := c.post("/login", url.Values{"email": {email}, "password": {testPassword}})
	if r.status != http.StatusSeeOther {
		c.t.Fatalf("login %s: status %d: %s", email, r.status, excerpt(r.body))
	}
	c.csrf = ""
	c.get("/")
}

func excerpt(s string) string {
	if i := strings.Index(s, "<main"); i >= 0 {
		s = s[i:]
	}
	if len(s) > 600 {
		s = s[:600]
	}
	return s
}

func (e *env) principal(u *user.User) *auth.Principal {
	p, err := e.users.Principal(context.Background(), u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}
