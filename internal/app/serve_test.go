package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/app"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/user"
)

// server is an instance served by app.Serve whose shutdown the test
// controls.
type server struct {
	url  string
	app  *app.App
	stop context.CancelFunc
	done chan struct{} // closed when Serve returned, with err
	err  error
}

func serve(t *testing.T, opts func(c *config.Config)) *server {
	t.Helper()
	cfg := config.Default()
	cfg.MailBatch = 0 // each mail at once
	cfg.DataDir = t.TempDir()
	cfg.ShutdownGrace = 10 * time.Second
	opts(&cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPAddr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{url: "http://" + cfg.HTTPAddr, app: a, stop: cancel, done: make(chan struct{})}
	go func() {
		s.err = a.Serve(ctx, ln)
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Error("the server did not stop")
		}
		a.Close()
	})
	return s
}

// signIn returns a browser-like client signed in as a new user with a
// password, and a ticket of theirs.
func (s *server) signIn(t *testing.T) (*http.Client, *ticket.Ticket) {
	t.Helper()
	ctx := context.Background()
	const pw = "a-long-enough-password"
	u, err := s.app.Users.Create(ctx, user.NewUser{Email: "ada@example.org", Name: "Ada", Role: auth.RoleUser, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.app.Users.Principal(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := s.app.Tickets.Create(ctx, p, ticket.NewTicket{Subject: "live", Body: "b"})
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	res, err := c.Get(s.url + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no form token on /login")
	}
	res, err = c.PostForm(s.url+"/login", url.Values{"csrf": {string(m[1])}, "email": {u.Email}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" {
		t.Fatalf("sign-in: %d at %s", res.StatusCode, res.Request.URL)
	}
	return c, tk
}

// A body trickled byte by byte is cut off after the read timeout, also on
// /login; an upload by a signed-in person may take longer.
func TestSlowBodies(t *testing.T) {
	s := serve(t, func(c *config.Config) { c.ReadTimeout = time.Second; c.UploadTimeout = 20 * time.Second })

	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n")
	start := time.Now()
	cut := make(chan time.Duration, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn) // the answer, until the server closes
		cut <- time.Since(start)
	}()
	var took time.Duration
trickle:
	for range 100 {
		select {
		case took = <-cut:
			break trickle
		case <-time.After(100 * time.Millisecond):
			_, _ = conn.Write([]byte("e"))
		}
	}
	if took == 0 || took > 4*time.Second {
		t.Errorf("a body trickled to /login held the connection for %s (read timeout 1s)", time.Since(start).Round(time.Millisecond))
	}

	// Uploads that take 3s to arrive (three times the read timeout) are
	// taken, through the API and through the web form.
	c, tk := s.signIn(t)
	_, token, err := s.app.Users.CreateToken(context.Background(), tk.Requester.ID, "t", "write", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Get(fmt.Sprintf("%s/tickets/%d", s.url, tk.ID))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if csrf == nil {
		t.Fatal("no form token on the ticket page")
	}
	for _, up := range []struct {
		name, path, file string
		c                *http.Client
		header           http.Header
		want             int
	}{
		{"API", fmt.Sprintf("/api/v1/tickets/%d/messages", tk.ID), "file", http.DefaultClient, http.Header{"Authorization": {"Bearer " + token}}, http.StatusCreated},
		{"web", fmt.Sprintf("/tickets/%d/messages", tk.ID), "attachments", c, http.Header{}, http.StatusOK},
	} {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			_ = mw.WriteField("body", "slowly")
			if up.name == "web" {
				_ = mw.WriteField("csrf", string(csrf[1]))
			}
			fw, _ := mw.CreateFormFile(up.file, "slow.txt")
			for range 15 {
				time.Sleep(200 * time.Millisecond)
				_, _ = fw.Write([]byte(strings.Repeat("x", 100)))
			}
			pw.CloseWithError(mw.Close())
		}()
		req, _ := http.NewRequest("POST", s.url+up.path, pr)
		req.Header = up.header
		req.Header.Set("Content-Type", mw.FormDataContentType())
		res, err := up.c.Do(req)
		if err != nil {
			t.Fatalf("slow %s upload: %v", up.name, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != up.want {
			t.Errorf("slow %s upload: %d %.300s", up.name, res.StatusCode, b)
		}
	}
	msgs, err := s.app.Tickets.Messages(context.Background(), s.principal(t, tk.Requester.ID), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(msgs); n != 3 {
		t.Errorf("%d messages after two uploads, want 3", n)
	}
}

func (s *server) principal(t *testing.T, id int64) *auth.Principal {
	t.Helper()
	p, err := s.app.Users.Principal(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// An open live-update stream does not hold up a graceful shutdown.
func TestShutdownEndsLiveStreams(t *testing.T) {
	s := serve(t, func(c *config.Config) {})
	c, tk := s.signIn(t)
	res, err := c.Get(fmt.Sprintf("%s/tickets/%d/events", s.url, tk.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events: %d %s", res.StatusCode, ct)
	}
	if _, err := bufio.NewReader(res.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.stop()
	select {
	case <-s.done:
		if s.err != nil {
			t.Errorf("shutdown: %v", s.err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("shutdown took %s with a stream open", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not stop")
	}
}
