package web

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
)

func TestSignInRequired(t *testing.T) {
	e := newEnv(t, t.TempDir()+"/h.db")
	c := e.client()
	for path, want := range map[string]string{
		"/":            "/login",
		"/tickets":     "/login?next=%2Ftickets",
		"/tickets/new": "/login?next=%2Ftickets%2Fnew",
		"/tickets/1":   "/login?next=%2Ftickets%2F1",
		"/queue":       "/login?next=%2Fqueue",
		"/admin/users": "/login?next=%2Fadmin%2Fusers",
	} {
		r := c.get(path)
		if r.status != http.StatusSeeOther || r.location != want {
			t.Errorf("GET %s: %d to %q, want 303 to %q", path, r.status, r.location, want)
		}
	}
	r := c.get("/login")
	if r.status != 200 || !strings.Contains(r.body, `name="email"`) || !strings.Contains(r.body, `name="password"`) {
		t.Fatalf("login page: %d %s", r.status, excerpt(r.body))
	}
}

func TestRequesterFlow(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		c := e.client()
		if r := c.post("/login", url.Values{"email": {"ada@example.org"}, "password": {"wrong password!"}}); r.status != 401 || !strings.Contains(r.body, "Wrong email or password") {
			t.Fatalf("wrong password: %d", r.status)
		}
		r := c.post("/login", url.Values{"email": {"Ada@Example.org"}, "password": {testPassword}, "next": {"/tickets/new"}})
		if r.status != 303 || r.location != "/tickets/new" {
			t.Fatalf("login: %d %q", r.status, r.location)
		}
		c.csrf = ""
		r = c.get("/tickets/new")
		for _, want := range []string{`name="subject"`, `name="body"`, `name="service"`, "I don't know", "Cloud Compute", "service interrupted"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("new ticket page lacks %q", want)
			}
		}
		r = c.postMultipart("/tickets/new", url.Values{"subject": {"VM will not boot"}, "body": {"It hangs at GRUB."}, "service": {"cloud-compute"},
			"type": {"incident"}, "priority": {"very_urgent"}}, upload{"attachments", "console.log", "kernel panic"})
		if r.status != 303 || !strings.HasPrefix(r.location, "/tickets/") {
			t.Fatalf("create: %d %q %s", r.status, r.location, excerpt(r.body))
		}
		page := c.get(r.location)
		for _, want := range []string{"VM will not boot", "It hangs at GRUB.", "console.log", "Very urgent", "Cloud Compute", "Compute support", "Your ticket was created"} {
			if !strings.Contains(page.body, want) {
				t.Errorf("ticket page lacks %q", want)
			}
		}
		att := regexp.MustCompile(`href="(/attachments/\d+/[^"]+)"`).FindStringSubmatch(page.body)
		if att == nil {
			t.Fatal("no attachment link")
		}
		f := c.get(att[1])
		if f.status != 200 || f.body != "kernel panic" || !strings.HasPrefix(f.header.Get("Content-Disposition"), "attachment") {
			t.Errorf("attachment: %d %q %q", f.status, f.body, f.header.Get("Content-Disposition"))
		}
		list := c.get("/tickets")
		if !strings.Contains(list.body, "VM will not boot") {
			t.Error("my tickets lacks the new ticket")
		}
		// "I don't know" goes to the ticket handler team.
		r = c.post("/tickets/new", url.Values{"subject": {"Where do I ask?"}, "body": {"No idea which service."}, "service": {""}})
		if r.status != 303 {
			t.Fatalf("create without service: %d %s", r.status, excerpt(r.body))
		}
		if page := c.get(r.location); !strings.Contains(page.body, "Ticket handler team") {
			t.Error("a ticket without a service is not with the ticket handler team")
		}
		// Another requester sees neither ticket.
		o := e.client()
		o.login("bob@example.org")
		if r := o.get(att[1]); r.status != 404 {
			t.Errorf("another requester gets the attachment: %d", r.status)
		}
		if r := o.get(r.location); r.status != 404 {
			t.Errorf("another requester sees the ticket: %d", r.status)
		}
		if r := o.get("/tickets"); strings.Contains(r.body, "VM will not boot") {
			t.Error("another requester lists the ticket")
		}
	})
}

func TestInternalNotesStayInternal(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		req := e.client()
		req.login("ada@example.org")
		r := req.post("/tickets/new", url.Values{"subject": {"Quota"}, "body": {"Need more disk."}, "service": {"hpc"}, "type": {"service_request"}})
		loc := r.location
		staff := e.client()
		staff.login("sam@support.example.org")
		if r := staff.post(loc+"/messages", url.Values{"body": {"Public answer: done."}}); r.status != 303 {
			t.Fatalf("reply: %d %s", r.status, excerpt(r.body))
		}
		if r := staff.postMultipart(loc+"/messages", url.Values{"body": {"SECRET internal remark"}, "internal": {"1"}}, upload{"attachments", "secret.txt", "s3cret"}); r.status != 303 {
			t.Fatalf("note: %d %s", r.status, excerpt(r.body))
		}
		sp := staff.get(loc)
		if !strings.Contains(sp.body, "SECRET internal remark") || !strings.Contains(sp.body, "msg-internal") || !strings.Contains(sp.body, "Internal note") {
			t.Error("staff does not see the internal note as such")
		}
		att := regexp.MustCompile(`href="(/attachments/\d+/secret.txt)"`).FindStringSubmatch(sp.body)
		if att == nil {
			t.Fatal("no attachment link on the note")
		}
		rp := req.get(loc)
		if !strings.Contains(rp.body, "Public answer: done.") {
			t.Error("requester does not see the reply")
		}
		if strings.Contains(rp.body, "SECRET") || strings.Contains(rp.body, "secret.txt") || strings.Contains(rp.body, "internal note") {
			t.Error("requester sees the internal note")
		}
		if r := req.get(att[1]); r.status != 404 {
			t.Errorf("requester downloads the note's attachment: %d", r.status)
		}
		if r := req.post(loc+"/messages", url.Values{"body": {"sneaky"}, "internal": {"1"}}); r.status != 403 {
			t.Errorf("requester adds an internal note: %d", r.status)
		}
		// Staff changes fields; the requester verifies after solving.
		if r := staff.post(loc+"/fields", url.Values{"status": {"solved"}, "priority": {"urgent"}, "assignee": {"me"}}); r.status != 303 {
			t.Fatalf("fields: %d %s", r.status, excerpt(r.body))
		}
		if r := req.post(loc+"/fields", url.Values{"priority": {"top_priority"}}); r.status != 403 {
			t.Errorf("requester changes priority: %d", r.status)
		}
		rp = req.get(loc)
		if !strings.Contains(rp.body, "Was your problem solved?") {
			t.Fatal("no verify box on a solved ticket")
		}
		if r := req.post(loc+"/status", url.Values{"status": {"verified"}}); r.status != 303 {
			t.Fatalf("verify: %d %s", r.status, excerpt(r.body))
		}
		if r := req.post(loc+"/messages", url.Values{"body": {"more"}}); r.status != 409 {
			t.Errorf("message on a verified ticket: %d", r.status)
		}
	})
}

func TestCrossSiteAndTokens(t *testing.T) {
	e := newEnv(t, t.TempDir()+"/h.db")
	c := e.client()
	c.login("ada@example.org")
	form := url.Values{"subject": {"x"}, "body": {"y"}}
	cases := []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"no token", url.Values{"subject": {"x"}, "body": {"y"}, "csrf": {""}}, nil},
		{"wrong token", url.Values{"subject": {"x"}, "body": {"y"}, "csrf": {"forged-token-value-123456"}}, nil},
		{"cross-site fetch", form, []string{"Sec-Fetch-Site", "cross-site"}},
		{"foreign origin", form, []string{"Origin", "https://evil.example"}},
	}
	for _, tc := range cases {
		r := c.post("/tickets/new", tc.form, tc.header...)
		if r.status != 403 {
			t.Errorf("%s: status %d, want 403", tc.name, r.status)
		}
	}
	list, _ := e.tickets.List(context.Background(), e.principal(e.req), ticket.Filter{})
	if len(list) != 0 {
		t.Fatalf("a forged post created %d tickets", len(list))
	}
	// The form token of one session is worthless in another.
	o := e.client()
	o.login("bob@example.org")
	if r := c.post("/tickets/new", url.Values{"subject": {"x"}, "body": {"y"}, "csrf": {o.token()}}); r.status != 403 {
		t.Errorf("another session's token: %d", r.status)
	}
	// A login post without a token is refused too.
	anon := e.client()
	if r := anon.post("/login", url.Values{"email": {"ada@example.org"}, "password": {testPassword}, "csrf": {"nope"}}); r.status != 403 {
		t.Errorf("login without a token: %d", r.status)
	}
}

func TestThrottleLogin(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		c := e.client()
		for i := range maxFailuresPerAccount {
			if r := c.post("/login", url.Values{"email": {"ada@example.org"}, "password": {fmt.Sprintf("wrong-%d-password", i)}}); r.status != 401 {
				t.Fatalf("attempt %d: %d", i, r.status)
			}
		}
		r := c.post("/login", url.Values{"email": {"ada@example.org"}, "password": {testPassword}})
		if r.status != 429 || !strings.Contains(r.body, "Too many failed attempts") {
			t.Fatalf("after %d failures the right password gives %d", maxFailuresPerAccount, r.status)
		}
		// Another account from the same address is not locked.
		if r := c.post("/login", url.Values{"email": {"bob@example.org"}, "password": {testPassword}}); r.status != 303 {
			t.Fatalf("other account: %d", r.status)
		}
		// Nor is the same account from another address: failing on
		// purpose does not lock its owner out.
		owner := e.clientFrom("127.0.0.2")
		if r := owner.post("/login", url.Values{"email": {"ada@example.org"}, "password": {testPassword}}); r.status != 303 {
			t.Fatalf("the right password from another address: %d: %s", r.status, excerpt(r.body))
		}
	})
}

func TestSessionsSurviveRestart(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		c := e.client()
		c.login("ada@example.org")
		// A second handler on the same database: another node, or the same
		// one after a restart.
		h2 := New(Deps{DB: e.db, Users: e.users, Units: e.units, Tickets: e.tickets, Blobs: e.blobs})
		srv2 := httptest.NewServer(h2)
		defer srv2.Close()
		u, _ := url.Parse(e.srv.URL)
		u2, _ := url.Parse(srv2.URL)
		c.http.Jar.SetCookies(u2, c.http.Jar.Cookies(u))
		req, _ := http.NewRequest("GET", srv2.URL+"/tickets", nil)
		r := c.do(req)
		if r.status != 200 || !strings.Contains(r.body, "Ada Lovelace") {
			t.Fatalf("session on the second node: %d", r.status)
		}
		// Logout ends it everywhere.
		c.post("/logout", nil)
		req, _ = http.NewRequest("GET", srv2.URL+"/tickets", nil)
		c.http.Jar.SetCookies(u2, c.http.Jar.Cookies(u))
		if r := c.do(req); r.status != 303 {
			t.Fatalf("after logout: %d", r.status)
		}
	})
}

func TestMailLinks(t *testing.T) {
	e := newEnv(t, t.TempDir()+"/h.db")
	c := e.client()
	if r := c.post("/login/link", url.Values{"email": {"ada@example.org"}}); r.status != 303 {
		t.Fatalf("link request: %d %s", r.status, excerpt(r.body))
	}
	m := e.mail.last()
	tok := regexp.MustCompile(`/login/link/(\S+)`).FindStringSubmatch(m.Text)
	if m.To != "ada@example.org" || tok == nil {
		t.Fatalf("mail: %+v", m)
	}
	if r := c.get("/login/link/" + tok[1]); r.status != 200 || !strings.Contains(r.body, "Sign me in") {
		t.Fatalf("link page: %d", r.status)
	}
	if r := c.post("/login/link/"+tok[1], nil); r.status != 303 {
		t.Fatalf("link sign-in: %d", r.status)
	}
	if r := c.get("/tickets"); r.status != 200 {
		t.Fatalf("signed in by link: %d", r.status)
	}
	if r := e.client().post("/login/link/"+tok[1], nil); r.status != 404 {
		t.Fatalf("link used twice: %d", r.status)
	}
	// An unknown address gets the same answer and no mail.
	n := len(e.mail.sent)
	if r := e.client().post("/login/link", url.Values{"email": {"nobody@example.org"}}); r.status != 303 || len(e.mail.sent) != n {
		t.Fatalf("unknown address: %d, %d mails", r.status, len(e.mail.sent)-n)
	}
	// Password reset.
	a := e.client()
	a.post("/password/forgot", url.Values{"email": {"bob@example.org"}})
	tok = regexp.MustCompile(`/password/reset/(\S+)`).FindStringSubmatch(e.mail.last().Text)
	if tok == nil {
		t.Fatal("no reset mail")
	}
	if r := a.post("/password/reset/"+tok[1], url.Values{"password": {"short"}, "password2": {"short"}}); r.status != 422 {
		t.Fatalf("short password: %d", r.status)
	}
	if r := a.post("/password/reset/"+tok[1], url.Values{"password": {"a brand new secret"}, "password2": {"a brand new secret"}}); r.status != 303 {
		t.Fatalf("reset: %d %s", r.status, excerpt(r.body))
	}
	if _, err := e.users.CheckPassword(context.Background(), "bob@example.org", "a brand new secret"); err != nil {
		t.Fatalf("new password: %v", err)
	}
}

func TestBadInputIsA4xx(t *testing.T) {
	e := newEnv(t, t.TempDir()+"/h.db")
	c := e.client()
	c.login("sam@support.example.org")
	big := strings.Repeat("x", 11<<20)
	for _, tc := range []struct {
		method, path string
		form         url.Values
		want         int
	}{
		{"GET", "/tickets/abc", nil, 404},
		{"GET", "/tickets/-1", nil, 404},
		{"GET", "/tickets/99999999999999999999", nil, 404},
		{"GET", "/tickets/424242", nil, 404},
		{"GET", "/no/such/page", nil, 404},
		{"GET", "/queue/no-such-unit", nil, 404},
		{"GET", "/attachments/1/x", nil, 404},
		{"GET", "/static/app.css", nil, 404},
		{"GET", "/admin/users", nil, 403},
		{"POST", "/tickets/new", url.Values{"subject": {""}, "body": {"b"}}, 422},
		{"POST", "/tickets/new", url.Values{"subject": {"s"}, "body": {"b"}, "service": {"nope"}}, 422},
		{"POST", "/tickets/new", url.Values{"subject": {"s"}, "body": {"b"}, "priority": {"whenever"}}, 422},
		{"POST", "/tickets/new", url.Values{"subject": {"s"}, "body": {big}}, 413},
		{"POST", "/tickets/1/status", url.Values{"status": {"bogus"}}, 422},
		{"POST", "/queue/compute/bulk", url.Values{"action": {"status:solved"}}, 422},
		{"POST", "/queue/compute/bulk", url.Values{"ticket": {"1"}, "action": {"explode"}}, 422},
		{"POST", "/views", url.Values{"name": {"x"}, "path": {"https://evil.example/"}}, 422},
		{"DELETE", "/tickets/1", nil, 404},
	} {
		var r resp
		switch tc.method {
		case "GET":
			r = c.get(tc.path)
		case "POST":
			r = c.post(tc.path, tc.form)
		default:
			req, _ := http.NewRequest(tc.method, e.srv.URL+tc.path, nil)
			req.Header.Set("X-CSRF-Token", c.token())
			r = c.do(req)
		}
		if r.status != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, r.status, tc.want)
		}
		if r.status >= 500 {
			t.Errorf("%s %s: server error", tc.method, tc.path)
		}
	}
	r := c.get("/no/such/page")
	if !strings.Contains(r.body, "Page not found") || r.header.Get("Content-Security-Policy") == "" {
		t.Errorf("404 page: %s", excerpt(r.body))
	}
}

func TestEscapingAndHeaders(t *testing.T) {
	e := newEnv(t, t.TempDir()+"/h.db")
	c := e.client()
	c.login("ada@example.org")
	xss := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	r := c.postMultipart("/tickets/new", url.Values{"subject": {"S " + xss}, "body": {"B " + xss}}, upload{"attachments", `"><img src=x onerror=alert(3)>.txt`, "x"})
	if r.status != 303 {
		t.Fatalf("create: %d %s", r.status, excerpt(r.body))
	}
	p := c.get(r.location)
	if strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<img src=x") || strings.Contains(p.body, "onerror=alert(3)>") && !strings.Contains(p.body, "&#34;&gt;&lt;img") {
		t.Fatalf("unescaped payload in the page")
	}
	if !strings.Contains(p.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("escaped subject not found")
	}
	csp := p.header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP lacks %q: %s", want, csp)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows something unsafe: %s", csp)
	}
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin", "Cache-Control": "no-store"} {
		if got := p.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if regexp.MustCompile(`<script>|\sstyle="|\son[a-z]+="`).MatchString(p.body) {
		t.Error("the page has inline script, inline style or an event handler attribute")
	}
	// Cookies: HttpOnly and SameSite.
	for _, ck := range c.http.Jar.Cookies(mustURL(e.srv.URL)) {
		_ = ck // the jar hides attributes; checked on the raw header below
	}
	a := e.client()
	a.get("/login")
	res := a.post("/login", url.Values{"email": {"ada@example.org"}, "password": {testPassword}})
	for _, sc := range res.header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "hm_session=") && (!strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax")) {
			t.Errorf("session cookie: %s", sc)
		}
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestStaffAndAdminPages(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		req := e.client()
		req.login("ada@example.org")
		var ids []string
		for i := range 3 {
			r := req.post("/tickets/new", url.Values{"subject": {fmt.Sprintf("Problem %d", i)}, "body": {"details"}, "service": {"cloud-compute"}})
			ids = append(ids, strings.TrimPrefix(r.location, "/tickets/"))
		}
		if r := req.get("/queue/compute"); r.status != 403 {
			t.Errorf("requester in a queue: %d", r.status)
		}
		if r := req.get("/admin/units"); r.status != 403 {
			t.Errorf("requester in admin: %d", r.status)
		}
		s := e.client()
		s.login("sam@support.example.org")
		if r := s.get("/queue"); r.status != 303 || r.location != "/queue/compute" {
			t.Errorf("queue index: %d %q", r.status, r.location)
		}
		q := s.get("/queue/compute?view=assigned")
		if q.status != 200 || !strings.Contains(q.body, "Problem 2") || !strings.Contains(q.body, `<span class="count">3</span>`) {
			t.Fatalf("queue: %d %s", q.status, excerpt(q.body))
		}
		if r := s.get("/queue/tht"); r.status != 403 {
			t.Errorf("staff in another unit's queue: %d", r.status)
		}
		r := s.post("/queue/compute/bulk", url.Values{"ticket": ids, "action": {"assign:me"}, "return": {"/queue/compute?view=mine"}})
		if r.status != 303 || r.location != "/queue/compute?view=mine" {
			t.Fatalf("bulk: %d %q %s", r.status, r.location, excerpt(r.body))
		}
		if m := s.get("/queue/compute?view=mine"); !strings.Contains(m.body, "Problem 0") || !strings.Contains(m.body, "Sam Support") {
			t.Error("bulk assignment not in the mine view")
		}
		if r := s.post("/views", url.Values{"name": {"My urgent"}, "path": {"/queue/compute?view=mine&priority=urgent"}}); r.status != 303 {
			t.Fatalf("save view: %d", r.status)
		}
		if q := s.get("/queue/compute"); !strings.Contains(q.body, "My urgent") {
			t.Error("saved view not listed")
		}
		a := e.client()
		a.login("root@example.org")
		for _, p := range []string{"/admin/units", "/admin/units/compute", "/admin/services", "/admin/users", "/admin/outbox", "/admin/events", "/admin/settings", "/queue/tht", "/"} {
			if r := a.get(p); r.status != 200 {
				t.Errorf("admin GET %s: %d %s", p, r.status, excerpt(r.body))
			}
		}
		if r := a.get("/admin/events"); !strings.Contains(r.body, "live") || !strings.Contains(r.body, "this node only") {
			t.Errorf("the followers page does not show the live follower: %s", excerpt(r.body))
		}
		if r := s.get("/admin/events"); r.status != 403 {
			t.Errorf("a unit admin sees the followers page: %d", r.status)
		}
		if r := a.post("/admin/units", url.Values{"slug": {"storage"}, "name": {"Storage"}, "qos_level": {"medium"}, "mode": {"direct"}}); r.status != 303 {
			t.Fatalf("create unit: %d %s", r.status, excerpt(r.body))
		}
		if r := a.post("/admin/units", url.Values{"slug": {"Bad Slug"}, "name": {"x"}}); r.status != 422 {
			t.Errorf("bad slug: %d", r.status)
		}
		if r := a.post("/admin/units/storage/members", url.Values{"email": {"sam@support.example.org"}, "role": {"admin"}}); r.status != 303 {
			t.Fatalf("add member: %d %s", r.status, excerpt(r.body))
		}
		if r := a.post("/admin/services", url.Values{"slug": {"s3"}, "name": {"Object storage"}, "unit": {"storage"}}); r.status != 303 {
			t.Fatalf("create service: %d %s", r.status, excerpt(r.body))
		}
		if r := a.post("/admin/users", url.Values{"email": {"new@example.org"}, "name": {"New Person"}, "role": {"user"}}); r.status != 303 {
			t.Fatalf("create user: %d %s", r.status, excerpt(r.body))
		}
		if r := a.post("/admin/settings", url.Values{"name": {"EOSC Helpdesk"}, "tagline": {"Support"}, "accent": {"#0b7a5c"}}); r.status != 303 {
			t.Fatalf("settings: %d %s", r.status, excerpt(r.body))
		}
		if r := a.post("/admin/settings", url.Values{"name": {"x"}, "accent": {"red; }"}}); r.status != 422 {
			t.Errorf("bad colour: %d", r.status)
		}
		if r := a.get("/theme.css"); !strings.Contains(r.body, "--accent:#0b7a5c") {
			t.Errorf("theme: %s", r.body)
		}
		if r := a.get("/"); !strings.Contains(r.body, "EOSC Helpdesk") {
			t.Error("instance name not shown")
		}
		// A unit admin (not an instance admin) manages their own unit only.
		s.csrf = ""
		if r := s.get("/admin/units/storage"); r.status != 200 {
			t.Errorf("unit admin: %d", r.status)
		}
		if r := s.get("/admin/units/compute"); r.status != 403 {
			t.Errorf("member managing a unit: %d", r.status)
		}
		// The unit admin renames it, but only administrators change its
		// mail addresses (here: taking compute's), by the same rule as the API.
		form := url.Values{"name": {"Storage team"}, "email": {""}, "comment_email": {""}, "qos_level": {"medium"}, "mode": {"direct"}}
		if r := s.post("/admin/units/storage", form); r.status != 303 {
			t.Errorf("unit admin renames the unit: %d %s", r.status, excerpt(r.body))
		}
		form.Set("comment_email", "compute@support.example.org")
		form.Del("csrf") // each client posts its own
		if r := s.post("/admin/units/storage", form); r.status != 403 {
			t.Errorf("unit admin changes the unit's address: %d %s", r.status, excerpt(r.body))
		}
		form.Del("csrf")
		if r := a.post("/admin/units/storage", form); r.status != 422 || !strings.Contains(r.body, "address of another unit") {
			t.Errorf("admin gives storage compute's address: %d %s", r.status, excerpt(r.body))
		}
		form.Set("comment_email", "storage-comment@support.example.org")
		form.Del("csrf")
		if r := a.post("/admin/units/storage", form); r.status != 303 {
			t.Errorf("admin sets storage's address: %d %s", r.status, excerpt(r.body))
		}
	})
}

// TestLiveUpdates: an open ticket page is told of a change at once, and a
// requester's page is not told of an internal note, which staff's is.
func TestLiveUpdates(t *testing.T) {
	e := newEnv(t, t.TempDir()+"/h.db")
	c := e.client()
	c.login("ada@example.org")
	r := c.post("/tickets/new", url.Values{"subject": {"Live"}, "body": {"x"}, "service": {"hpc"}})
	staff := e.client()
	staff.login("sam@support.example.org")
	open := func(cl *client) (lines chan string) {
		req, _ := http.NewRequest("GET", e.srv.URL+r.location+"/events", nil)
		res, err := cl.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %q", ct)
		}
		lines = make(chan string, 16)
		go func() {
			sc := bufio.NewScanner(res.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		return lines
	}
	changed := func(lines chan string, within time.Duration) bool {
		deadline := time.After(within)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("stream ended")
				}
				if l == "event: changed" {
					return true
				}
			case <-deadline:
				return false
			}
		}
	}
	ada, sam := open(c), open(staff)
	staff.post(r.location+"/messages", url.Values{"body": {"a disk died"}, "internal": {"1"}})
	if !changed(sam, 5*time.Second) {
		t.Fatal("staff's page was not told of the note")
	}
	if changed(ada, 500*time.Millisecond) {
		t.Error("the requester's page was told of an internal note")
	}
	staff.post(r.location+"/messages", url.Values{"body": {"on it"}})
	if !changed(ada, 5*time.Second) {
		t.Fatal("the requester's page was not told of the reply")
	}
}

// TestBusyDatabase: a form sent while another process holds SQLite's write
// lock is answered 503 with Retry-After, not 500.
func TestBusyDatabase(t *testing.T) {
	path := t.TempDir() + "/h.db"
	e := newEnv(t, path)
	c := e.client()
	c.login("ada@example.org")
	r := c.post("/tickets/new", url.Values{"subject": {"Busy"}, "body": {"x"}, "service": {"hpc"}})
	unlock := dbtest.LockSQLite(t, e.db, path)
	defer unlock()
	res := c.post(r.location+"/messages", url.Values{"body": {"while locked"}})
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Errorf("reply while the database is locked: %d Retry-After %q", res.status, res.header.Get("Retry-After"))
	}
}

// Multipart forms are parsed before the handler runs, with files over 8 MiB
// spilled to temporary files: every one of them is removed again, whatever
// the answer, and a visitor who is not signed in cannot make the server
// store any.
func TestUploadsLeaveNoTemporaryFiles(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	e := newEnv(t, filepath.Join(t.TempDir(), "h.db"))
	big := strings.Repeat("x", 9<<20)
	left := func(what string) {
		t.Helper()
		files, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 0 {
			t.Errorf("%s: %d temporary files left, first %s", what, len(files), files[0].Name())
		}
	}
	out := e.client()
	for _, path := range []string{"/login", "/password/forgot", "/tickets/new"} {
		if r := out.postMultipart(path, url.Values{"email": {"ada@example.org"}}, upload{"f", "9MB.bin", big}); r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("signed out, 9 MB to %s: %d, want 413", path, r.status)
		}
		left("signed out " + path)
	}
	in := e.client()
	in.login("ada@example.org")
	if r := in.postMultipart("/tickets/new", url.Values{"subject": {"Big"}, "body": {"b"}, "service": {"hpc"}}, upload{"attachments", "9MB.bin", big}); r.status != http.StatusSeeOther {
		t.Errorf("signed in, 9 MB attachment: %d: %s", r.status, excerpt(r.body))
	}
	left("upload")
	if r := in.postMultipart("/tickets/new", url.Values{"csrf": {"forged-token-xxxxxxxxxxxxxxx"}}, upload{"attachments", "9MB.bin", big}); r.status != http.StatusForbidden {
		t.Errorf("signed in, bad form token: %d", r.status)
	}
	left("refused upload")
}

// The way back after signing in stays on this site, however it is spelled
// (the full set of spellings is in auth's SafeNext tests and fuzz test).
func TestNoOpenRedirect(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "h.db"))
	evil := []string{"/\t/evil.example", "/\\evil.example", "//evil.example", "/\r\n/evil.example", "https://evil.example/"}
	for _, next := range evil {
		r := e.client().post("/login", url.Values{"email": {"ada@example.org"}, "password": {testPassword}, "next": {next}})
		if r.status != http.StatusSeeOther || r.location != "/" {
			t.Errorf("sign-in with next=%q: %d to %q", next, r.status, r.location)
		}
	}
	in := e.client()
	in.login("bob@example.org")
	for _, next := range evil {
		if r := in.get("/login?next=" + url.QueryEscape(next)); r.location != "/" {
			t.Errorf("signed in, /login?next=%q: to %q", next, r.location)
		}
	}
	if r := in.get("/login?next=%2Ftickets%2F7"); r.location != "/tickets/7" {
		t.Errorf("a path of this site: to %q", r.location)
	}
}

// A unit's admin changes its name through the web form but not its mode:
// the same rule as in the API (unit.CheckChange).
func TestUnitAdminCannotChangeMode(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx := context.Background()
		if err := e.units.SetMember(ctx, e.unit.ID, e.staff.ID, auth.UnitAdmin); err != nil {
			t.Fatal(err)
		}
		c := e.client()
		c.login("sam@support.example.org")
		form := func(name, mode string) url.Values {
			return url.Values{"name": {name}, "email": {e.unit.Email}, "comment_email": {e.unit.CommentEmail}, "qos_level": {e.unit.QoSLevel}, "mode": {mode}}
		}
		if r := c.post("/admin/units/compute", form("Compute", string(unit.External))); r.status != http.StatusForbidden {
			t.Errorf("unit admin changes the mode: %d", r.status)
		}
		if r := c.post("/admin/units/compute", form("Compute help", string(e.unit.Mode))); r.status != http.StatusSeeOther {
			t.Errorf("unit admin changes the name: %d: %s", r.status, excerpt(r.body))
		}
		u, err := e.units.Unit(ctx, "compute")
		if err != nil {
			t.Fatal(err)
		}
		if u.Mode != e.unit.Mode || u.Name != "Compute help" {
			t.Errorf("unit after the changes: mode %q, name %q", u.Mode, u.Name)
		}
		if r := c.get("/admin/units/compute"); strings.Contains(r.body, `<select id="u-mode"`) {
			t.Errorf("the unit admin is offered the mode")
		}
	})
}

func TestThrottleAddr(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.7:4711":                 "192.0.2.7",
		"[::ffff:192.0.2.7]:4711":        "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:4711":    "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff:1:2:3]:4711": "2001:db8:1:2::/64",
		"not an address":                 "not an address",
	} {
		if got := throttleAddr(&http.Request{RemoteAddr: remote}); got != want {
			t.Errorf("throttleAddr(%q) = %q, want %q", remote, got, want)
		}
	}
}

// After a password reset no older link works, and the person may end
// their API tokens with it.
func TestResetEndsOlderLinksAndTokens(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx := context.Background()
		_, keep, err := e.users.CreateToken(ctx, e.req.ID, "script", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resetRe, signInRe := regexp.MustCompile(`/password/reset/(\S+)`), regexp.MustCompile(`/login/link/(\S+)`)
		ask := func(path string, re *regexp.Regexp) string {
			t.Helper()
			if r := e.client().post(path, url.Values{"email": {"ada@example.org"}}); r.status != http.StatusSeeOther {
				t.Fatalf("%s: %d", path, r.status)
			}
			m := re.FindStringSubmatch(e.mail.last().Text)
			if m == nil {
				t.Fatalf("%s: no link in %q", path, e.mail.last().Text)
			}
			return m[1]
		}
		first := ask("/password/forgot", resetRe)
		second := ask("/password/forgot", resetRe)
		signIn := ask("/login/link", signInRe)
		if r := e.client().get("/password/reset/" + first); r.status != http.StatusNotFound {
			t.Errorf("an older reset link after a newer was sent: %d", r.status)
		}
		c := e.client()
		pw := "a-new-password-for-ada"
		if r := c.post("/password/reset/"+second, url.Values{"password": {pw}, "password2": {pw}}); r.status != http.StatusSeeOther {
			t.Fatalf("reset: %d: %s", r.status, excerpt(r.body))
		}
		if r := e.client().post("/login/link/"+signIn, nil); r.status != http.StatusNotFound {
			t.Errorf("a sign-in link sent before the reset: %d", r.status)
		}
		if _, err := e.users.PrincipalByToken(ctx, keep); err != nil {
			t.Errorf("the token ended without being asked to: %v", err)
		}
		// A second reset, this time ending the tokens.
		third := ask("/password/forgot", resetRe)
		if r := e.client().post("/password/reset/"+third, url.Values{"password": {pw}, "password2": {pw}, "end_tokens": {"1"}}); r.status != http.StatusSeeOther {
			t.Fatalf("reset ending the tokens: %d", r.status)
		}
		if _, err := e.users.PrincipalByToken(ctx, keep); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("the token after a reset that ends them: %v", err)
		}
		if r := e.client().get("/password/reset/" + third); !strings.Contains(r.body, "used already") {
			t.Errorf("a used reset link: %d", r.status)
		}
	})
}
