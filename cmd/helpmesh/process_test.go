package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
)

// The binary under test is built once per test process.
var binary struct {
	once sync.Once
	path string
	err  error
	dir  string
}

// helpmeshBinary builds cmd/helpmesh into a temporary directory.
func helpmeshBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "helpmesh-bin-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "helpmesh")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// server is a `helpmesh serve` child process.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	token  string
	stderr *bytes.Buffer
	logW   *lockedWriter // writes stderr
	done   chan error
}

// log returns what the process wrote to stderr so far.
func (s *server) log() string {
	s.logW.mu.Lock()
	defer s.logW.mu.Unlock()
	return s.stderr.String()
}

// startProcess runs `helpmesh serve` on a free loopback port with dataDir
// and dsn ("" for SQLite in dataDir), with the environment variables env
// ("NAME=value") added, and waits until /healthz answers.
func startProcess(t *testing.T, dataDir, dsn, token string, env ...string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(helpmeshBinary(t), "serve")
	cmd.Env = append(os.Environ(), "HELPMESH_DATA="+dataDir, "HELPMESH_DB="+dsn, "HELPMESH_HTTP="+addr,
		"HELPMESH_BOOTSTRAP_TOKEN="+token, "HELPMESH_LOG_LEVEL=warn", "HELPMESH_SHUTDOWN_GRACE=20s",
		"HELPMESH_MAIL_BATCH=0") // each mail at once: the test counts them in the outbox
	s := &server{t: t, cmd: cmd, url: "http://" + addr, token: token, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	s.logW = &lockedWriter{w: s.stderr}
	cmd.Stderr = s.logW
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("server stderr:\n%s", s.log())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("helpmesh serve exited: %v\n%s", err, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("helpmesh serve did not answer on %s within 30s\n%s", addr, s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait waits for the process to exit and returns its exit code.
func (s *server) wait(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.t.Fatalf("helpmesh serve did not exit within %v", timeout)
	}
	return s.cmd.ProcessState.ExitCode()
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestCrashDuringCreates kills -9 the server during a burst of concurrent
// creates; after a restart on the same database every ticket that was
// answered 201 is there, with its first message and its history.
func TestCrashDuringCreates(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		dataDir := t.TempDir()
		dsn := apptest.DSN(t, e)
		token := "hm_crash_test_bootstrap_token"
		s := startProcess(t, dataDir, dsn, token)
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		// A requester with an outside address, who gets an auto-reply per
		// ticket (kept in the outbox: no relay).
		admin := client.New(s.url, token, hc)
		u, err := admin.CreateUser(context.Background(), client.NewUser{Email: "crash@ext.example", Name: "Crash Requester"})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := admin.CreateToken(context.Background(), u.ID, client.NewToken{Name: "crash"})
		if err != nil {
			t.Fatal(err)
		}
		c := client.New(s.url, tok.Token, hc)

		const workers = 8
		const killAfter = 150 // successful creates before kill -9
		var (
			mu      sync.Mutex
			created = map[int64]string{} // id -> subject
			n       atomic.Int64
			wg      sync.WaitGroup
			killed  = make(chan struct{})
		)
		for w := range workers {
			wg.Go(func() {
				for i := 0; ; i++ {
					subject := fmt.Sprintf("crash w%d n%d", w, i)
					tk, err := c.CreateTicket(context.Background(), client.NewTicket{Subject: subject, Body: "body of " + subject, Watchers: []string{"watch@ext.example"}})
					if err != nil {
						select {
						case <-killed:
							return // the server is gone
						default:
							t.Errorf("create before the kill: %v", err)
							return
						}
					}
					mu.Lock()
					created[tk.ID] = subject
					mu.Unlock()
					// Every other ticket gets a reply, which its watcher is
					// told of.
					if i%2 == 0 {
						if _, err := c.Reply(context.Background(), tk.ID, "reply to "+subject); err != nil {
							select {
							case <-killed:
								return
							default:
								t.Errorf("reply before the kill: %v", err)
								return
							}
						}
					}
					if n.Add(1) == killAfter {
						if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
							t.Errorf("kill: %v", err)
						}
						close(killed)
					}
				}
			})
		}
		wg.Wait()
		if code := s.wait(10 * time.Second); code != -1 {
			t.Errorf("exit code after kill -9: %d", code)
		}
		if len(created) < killAfter {
			t.Fatalf("only %d tickets created", len(created))
		}
		t.Logf("%s: %d tickets answered 201 before and during kill -9", e, len(created))

		s2 := startProcess(t, dataDir, dsn, token)
		c2 := client.New(s2.url, token, nil)
		ctx := context.Background()
		for id, subject := range created {
			tk, err := c2.Ticket(ctx, id)
			if err != nil {
				t.Errorf("ticket %d (%q) answered 201 but is gone: %v", id, subject, err)
				continue
			}
			if tk.Subject != subject || tk.Status != "new" {
				t.Errorf("ticket %d: %q %s, want %q new", id, tk.Subject, tk.Status, subject)
			}
		}
		// Every ticket in the database (also those whose answer was lost) has
		// its first message and its creation history: nothing half-written.
		total := 0
		for cursor := ""; ; {
			page, err := c2.Tickets(ctx, client.ListOptions{Limit: 200, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, tk := range page.Items {
				total++
				hs, err := c2.History(ctx, tk.ID)
				if err != nil || len(hs) < 1 || hs[0].Action != "created" {
					t.Errorf("ticket %d history: %+v %v", tk.ID, hs, err)
				}
				ms, err := c2.Messages(ctx, tk.ID)
				if err != nil || len(ms) < 1 || len(ms) > 2 || ms[0].Body != "body of "+tk.Subject || len(hs) != len(ms) {
					t.Errorf("ticket %d messages: %+v %v; history %+v", tk.ID, ms, err, hs)
				}
				if len(ms) == 2 && ms[1].Body != "reply to "+tk.Subject {
					t.Errorf("ticket %d: reply %q", tk.ID, ms[1].Body)
				}
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if total < len(created) {
			t.Errorf("%d tickets after restart, %d were answered 201", total, len(created))
		}
		// Search finds them all (on SQLite, the search index is written
		// shortly after the ticket: the restarted server catches up).
		found := map[int64]bool{}
		for cursor := ""; ; {
			page, err := c2.Tickets(ctx, client.ListOptions{Q: "crash body", Limit: 200, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, tk := range page.Items {
				found[tk.ID] = true
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if len(found) != total {
			t.Errorf("search after restart found %d of %d tickets", len(found), total)
		}
		for id := range created {
			if !found[id] {
				t.Errorf("ticket %d answered 201 but search does not find it", id)
			}
		}
		// Every ticket's creation was told exactly once: one auto-reply
		// each, none left to tell, no notification failed.
		if dsn == "" {
			dsn = filepath.Join(dataDir, "helpmesh.db")
		}
		d, err := db.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		for deadline := time.Now().Add(20 * time.Second); ; {
			waiting, err := lagOf(ctx, d, "mail")
			if err != nil {
				t.Fatal(err)
			}
			if waiting == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d ticket events still waiting 20s after the restart", waiting)
			}
			time.Sleep(50 * time.Millisecond)
		}
		var tickets, told, failed int
		if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(*) FILTER (WHERE (SELECT COUNT(*) FROM outbox o WHERE o.ticket_id = t.id AND o.kind = 'auto_reply') = 1),
			(SELECT COUNT(*) FROM jobs WHERE state = 'failed') FROM tickets t`).Scan(&tickets, &told, &failed); err != nil {
			t.Fatal(err)
		}
		if tickets != total || told != total || failed != 0 {
			t.Errorf("%d tickets, %d with exactly one auto-reply, %d failed jobs; want %d, %d, 0", tickets, told, failed, total, total)
		}
		// Every reply was told exactly once: its watcher has one mail per
		// reply in the database, also for replies whose answer was lost.
		var replies, replyMails int
		if err := d.R.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM messages m WHERE m.body LIKE 'reply to %'),
			(SELECT COUNT(*) FROM outbox o WHERE o.kind = 'reply' AND o.rcpt = 'watch@ext.example')`).Scan(&replies, &replyMails); err != nil {
			t.Fatal(err)
		}
		if replies == 0 || replyMails != replies {
			t.Errorf("%d replies, %d mails to the watcher; want one each", replies, replyMails)
		}
		t.Logf("%s: %d tickets and %d replies, each told once after kill -9", e, tickets, replies)
		// The restarted server still works.
		if _, err := c2.CreateTicket(ctx, client.NewTicket{Subject: "after", Body: "b"}); err != nil {
			t.Errorf("create after restart: %v", err)
		}
	})
}

// TestGracefulShutdown sends SIGTERM while a request is in flight: the
// request completes, new connections are refused, the process exits 0 and
// the data is intact at the next start.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		dataDir := t.TempDir()
		dsn := apptest.DSN(t, e)
		token := "hm_sigterm_test_bootstrap_token"
		s := startProcess(t, dataDir, dsn, token)

		// A create whose body arrives slowly: in flight when SIGTERM comes.
		pr, pw := io.Pipe()
		req, err := http.NewRequest("POST", s.url+"/api/v1/tickets", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		type result struct {
			status int
			body   string
			err    error
		}
		res := make(chan result, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				res <- result{err: err}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			res <- result{status: resp.StatusCode, body: string(b)}
		}()
		if _, err := io.WriteString(pw, `{"subject": "in flight during SIGTERM", `); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // the handler is reading the body
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// The listener closes; the in-flight request goes on.
		deadline := time.Now().Add(5 * time.Second)
		for {
			conn, err := net.DialTimeout("tcp", strings.TrimPrefix(s.url, "http://"), time.Second)
			if err != nil {
				break
			}
			conn.Close()
			if time.Now().After(deadline) {
				t.Fatal("the listener still accepts connections 5s after SIGTERM")
			}
			time.Sleep(20 * time.Millisecond)
		}
		select {
		case <-s.done:
			t.Fatal("the process exited before its in-flight request finished")
		default:
		}
		if _, err := io.WriteString(pw, `"body": "finished after SIGTERM"}`); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		r := <-res
		if r.err != nil || r.status != 201 {
			t.Fatalf("in-flight request: %d %s %v", r.status, r.body, r.err)
		}
		if code := s.wait(20 * time.Second); code != 0 {
			t.Errorf("exit code after SIGTERM: %d\n%s", code, s.stderr.String())
		}

		s2 := startProcess(t, dataDir, dsn, token)
		page, err := client.New(s2.url, token, nil).Tickets(context.Background(), client.ListOptions{Q: "flight"})
		if err != nil || len(page.Items) != 1 || page.Items[0].Subject != "in flight during SIGTERM" {
			t.Errorf("after restart: %+v %v", page, err)
		}
		if err := s2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := s2.wait(20 * time.Second); code != 0 {
			t.Errorf("exit code of an idle server after SIGTERM: %d", code)
		}
	})
}

// lagOf is how many events the follower name has not told yet.
func lagOf(ctx context.Context, d *db.DB, name string) (int64, error) {
	stats, err := event.New(d, event.Options{}).Stats(ctx)
	if err != nil {
		return 0, err
	}
	for _, s := range stats {
		if s.Name == name {
			return s.Lag, nil
		}
	}
	return 0, fmt.Errorf("no follower %q", name)
}
