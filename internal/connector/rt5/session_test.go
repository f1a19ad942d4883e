package rt5

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/connector"
)

// fakeSessionRT plays RT's authentication: REST 1.0's index opens a
// session for the token "tok"; REST2 takes the session's cookie (a
// request that changes something only with RT's Origin) or the token.
type fakeSessionRT struct {
	t         *testing.T
	srv       *httptest.Server
	logins    atomic.Int32
	tokenUses atomic.Int32 // REST2 requests authenticated by the token
	mu        sync.Mutex
	valid     string // the value of the open session ("" none)
	// brokenSessions makes every cookie refused (the login answers a good
	// token with a session that does not work).
	brokenSessions bool
	// crossSite makes REST2 refuse cookie requests that change something,
	// as RT does when its configured URL differs from the client's.
	crossSite bool
}

func newFakeSessionRT(t *testing.T) *fakeSessionRT {
	f := &fakeSessionRT{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSessionRT) expire() {
	f.mu.Lock()
	f.valid = ""
	f.mu.Unlock()
}

func (f *fakeSessionRT) serve(w http.ResponseWriter, r *http.Request) {
	const cookieName = "RT_SID_rt.example.80"
	if r.URL.Path == loginPath {
		n := f.logins.Add(1)
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: fmt.Sprintf("s%d", n), Path: "/"})
		if r.Header.Get("Authorization") != "token tok" {
			_, _ = w.Write([]byte("RT/5.0.3 401 Credentials required\n"))
			return
		}
		f.mu.Lock()
		if !f.brokenSessions {
			f.valid = fmt.Sprintf("s%d", n)
		}
		f.mu.Unlock()
		_, _ = w.Write([]byte("RT/5.0.3 200 Ok\n\n# Invalid object specification: ''\n"))
		return
	}
	if ck, err := r.Cookie(cookieName); err == nil {
		if r.Header.Get("Authorization") != "" {
			f.t.Errorf("%s %s: both a cookie and the token", r.Method, r.URL.Path)
		}
		if r.Method != "GET" && (f.crossSite || r.Header.Get("Origin") != f.srv.URL) {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"message":"Cross-site request forgery protection refused this request"}`))
			return
		}
		f.mu.Lock()
		ok := f.valid != "" && ck.Value == f.valid
		f.mu.Unlock()
		if !ok {
			http.Redirect(w, r, "/", http.StatusFound)
			return
		}
	} else if r.Header.Get("Authorization") == "token tok" {
		f.tokenUses.Add(1)
	} else {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/correspond") {
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`["Correspondence added"]`))
		return
	}
	_, _ = w.Write([]byte(`{"items":[],"page":1,"pages":1,"total":0}`))
}

func (f *fakeSessionRT) client(t *testing.T, token string) *Client {
	c := fakeClient(t, f.srv, time.Second)
	c.token = token
	return c
}

func poll(c *Client) error {
	_, _, err := c.Poll(context.Background(), "5", nil)
	return err
}

func push(c *Client) error {
	return c.Push(context.Background(), connector.Ref{RemoteID: "7"}, connector.Change{Kind: connector.KindMessage, Body: "hi"})
}

func TestSessionLoginOnceAndRenewed(t *testing.T) {
	f := newFakeSessionRT(t)
	c := f.client(t, "tok")
	var wg sync.WaitGroup
	for range 8 { // concurrent first requests share one login
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := poll(c); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := push(c); err != nil {
		t.Fatal(err)
	}
	if n := f.logins.Load(); n != 1 {
		t.Fatalf("%d logins for 9 requests, want 1", n)
	}
	if n := f.tokenUses.Load(); n != 0 {
		t.Fatalf("the token was sent to REST2 %d times", n)
	}
	f.expire() // RT cleaned the session up
	if err := push(c); err != nil {
		t.Fatalf("after the session expired: %v", err)
	}
	if err := poll(c); err != nil {
		t.Fatal(err)
	}
	if n := f.logins.Load(); n != 2 {
		t.Fatalf("%d logins, want 2 (one again after the expiry)", n)
	}
	if n := f.tokenUses.Load(); n != 0 {
		t.Fatalf("the token was sent to REST2 %d times", n)
	}
}

func TestSessionRefusedAgainIsAnErrorNotALoop(t *testing.T) {
	f := newFakeSessionRT(t)
	f.brokenSessions = true
	c := f.client(t, "tok")
	err := poll(c)
	if !isPermanent(err) || !strings.Contains(err.Error(), "expired login") {
		t.Fatalf("%v", err)
	}
	if n := f.logins.Load(); n != 2 {
		t.Fatalf("%d logins, want 2 (the first and one again)", n)
	}
}

func TestSessionCrossSiteFallsBackToToken(t *testing.T) {
	f := newFakeSessionRT(t)
	f.crossSite = true
	c := f.client(t, "tok")
	if err := poll(c); err != nil { // a POST search: refused as cross-site, repeated with the token
		t.Fatal(err)
	}
	if err := push(c); err != nil {
		t.Fatal(err)
	}
	if n := f.tokenUses.Load(); n != 2 {
		t.Fatalf("token used %d times, want 2", n)
	}
	if n := f.logins.Load(); n != 1 {
		t.Fatalf("%d logins, want 1", n)
	}
}

func TestSessionTokenRefused(t *testing.T) {
	f := newFakeSessionRT(t)
	c := f.client(t, "wrong")
	err := poll(c)
	if !isPermanent(err) || !strings.Contains(err.Error(), "refused the token") {
		t.Fatalf("%v", err)
	}
}
