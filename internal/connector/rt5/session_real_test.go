package rt5

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// countingTransport counts the logins and the REST2 requests that carry
// the token, on their way to the real RT.
type countingTransport struct {
	next              http.RoundTripper
	logins, tokenUses atomic.Int32
}

func (ct *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case r.URL.Path == loginPath:
		ct.logins.Add(1)
	case strings.HasPrefix(r.URL.Path, "/REST/2.0/") && r.Header.Get("Authorization") != "":
		ct.tokenUses.Add(1)
	}
	return ct.next.RoundTrip(r)
}

func countingClient(t *testing.T) (*Client, *countingTransport, testenv.RT5Service) {
	t.Helper()
	c, env := realClient(t, "")
	hc := *c.hc
	ct := &countingTransport{next: hc.Transport}
	if ct.next == nil {
		ct.next = http.DefaultTransport
	}
	hc.Transport = ct
	c.hc = &hc
	return c, ct, env
}

// TestRealSessionLoginOnceAndAfterExpiry: against the real RT, the client
// logs in once with its token and then uses RT's session for reads and
// writes (POST needs RT's Origin); when RT no longer knows the session
// (here: a cookie RT never issued) it logs in again, once, and goes on.
func TestRealSessionLoginOnceAndAfterExpiry(t *testing.T) {
	c, ct, env := countingClient(t)
	ctx := context.Background()
	_, cursor, err := c.Poll(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := c.Create(ctx, connector.Ticket{Subject: token(t), Body: "session test", LocalID: 1,
		Requester: connector.Person{Email: "ana@example.org"}, Status: "new", Priority: "less_urgent"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Push(ctx, ref, connector.Change{Kind: connector.KindNote, Body: "first"}); err != nil {
		t.Fatal(err)
	}
	if n := ct.logins.Load(); n != 1 {
		t.Fatalf("%d logins, want 1", n)
	}
	if n := ct.tokenUses.Load(); n != 0 {
		t.Fatalf("the token went to REST2 %d times, want 0 (RT checks it with bcrypt each time)", n)
	}
	if c.sess.cookie == "" || c.sess.tokenOnly {
		t.Fatalf("no session (token only: %v)", c.sess.tokenOnly)
	}
	name, _, _ := strings.Cut(c.sess.cookie, "=")
	c.sess.cookie = name + "=0123456789abcdef0123456789abcdef" // a session RT does not have
	if err := c.Push(ctx, ref, connector.Change{Kind: connector.KindNote, Body: "second"}); err != nil {
		t.Fatalf("after the session was lost: %v", err)
	}
	if _, _, err := c.Poll(ctx, cursor, []connector.Ref{ref}); err != nil {
		t.Fatal(err)
	}
	if n := ct.logins.Load(); n != 2 {
		t.Fatalf("%d logins, want 2", n)
	}
	if n := ct.tokenUses.Load(); n != 0 {
		t.Fatalf("the token went to REST2 %d times", n)
	}
	var notes int
	for _, h := range (rtRoot{t, env}).history(c, ref.RemoteID) {
		if h.Type == "Comment" {
			notes++
		}
	}
	if notes != 2 {
		t.Fatalf("%d comments in RT, want 2 (none lost, none twice)", notes)
	}
}

// TestRealRequestLatency (HELPMESH_RT5_LATENCY=n) prints the latency of n
// REST2 reads of the queue through a session and n with the token on each,
// interleaved so that both see the same load.
func TestRealRequestLatency(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("HELPMESH_RT5_LATENCY"))
	if n <= 0 {
		t.Skip("set HELPMESH_RT5_LATENCY=<requests> to measure")
	}
	withSession, env := realClient(t, "")
	withToken, _ := realClient(t, "")
	withToken.sess.tokenOnly = true
	ctx := context.Background()
	if _, err := withSession.sessionCookie(ctx); err != nil { // the login is not measured
		t.Fatal(err)
	}
	var sess, tok []time.Duration
	for range n {
		for _, m := range []struct {
			c   *Client
			out *[]time.Duration
		}{{withSession, &sess}, {withToken, &tok}} {
			start := time.Now()
			if _, err := m.c.call(ctx, "GET", "/queue/"+env.Queue, nil, nil); err != nil {
				t.Fatal(err)
			}
			*m.out = append(*m.out, time.Since(start))
		}
	}
	pct := func(d []time.Duration, p int) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[(len(s)-1)*p/100]
	}
	t.Logf("RT REST2 GET, %d requests each: session p50 %v p95 %v; token p50 %v p95 %v",
		n, pct(sess, 50).Round(time.Millisecond), pct(sess, 95).Round(time.Millisecond),
		pct(tok, 50).Round(time.Millisecond), pct(tok, 95).Round(time.Millisecond))
}
