package web

import (
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// TestSignInLog: a person signed in by a client certificate is logged
// once, not at every page, and again after certificateLogEvery; a used
// sign-in link is logged as refused.
func TestSignInLog(t *testing.T) {
	var logs testenv.LogBuffer
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var e *env
	e = newEnv(t, filepath.Join(t.TempDir(), "h.db"), func(d *Deps) {
		d.Log = slog.New(slog.NewTextHandler(&logs, nil))
		d.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		// Stands for the certificate authenticator: the header names the
		// holder of a verified certificate.
		d.Authenticators = append(d.Authenticators, func(r *http.Request) (*auth.Principal, error) {
			if r.Header.Get("X-Test-Holder") == "" {
				return nil, nil
			}
			p := e.principal(e.staff)
			p.Via = "certificate"
			return p, nil
		})
	})
	c := e.client()
	page := func() {
		req, _ := http.NewRequest("GET", e.srv.URL+"/tickets", nil)
		req.Header.Set("X-Test-Holder", "sam")
		if r := c.do(req); r.status != 200 {
			t.Fatalf("page with a certificate: %d", r.status)
		}
	}
	page()
	page()
	if n := strings.Count(logs.String(), `msg="signed in"`); n != 1 {
		t.Fatalf("%d sign-ins logged for two pages, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `via=certificate client=127.0.0.1 email=sam@support.example.org`) {
		t.Errorf("certificate sign-in: %s", logs.String())
	}
	mu.Lock()
	now = now.Add(certificateLogEvery)
	mu.Unlock()
	page()
	if n := strings.Count(logs.String(), `msg="signed in"`); n != 2 {
		t.Errorf("%d sign-ins logged an hour later, want 2", n)
	}
	if r := c.post("/login/link/no-such-token", nil); r.status != 404 {
		t.Fatalf("used link: %d", r.status)
	}
	if !strings.Contains(logs.String(), `level=INFO msg="sign-in refused" via=link`) {
		t.Errorf("a used link is not logged: %s", logs.String())
	}
}
