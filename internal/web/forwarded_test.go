package web_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/user"
)

// headerTransport sends every request from a chosen local address with the
// given headers, as a reverse proxy (or someone posing as one) would.
type headerTransport struct {
	base   http.RoundTripper
	header http.Header
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.header {
		r.Header[k] = v
	}
	return h.base.RoundTrip(r)
}

// TestForwardedClientAddress: behind a trusted proxy the sign-in throttle
// counts against the X-Forwarded-For address and the scheme follows
// X-Forwarded-Proto; from an untrusted peer both headers are ignored, and
// so is a malformed X-Forwarded-For.
func TestForwardedClientAddress(t *testing.T) {
	a := startApp(t, nil, func(c *config.Config) { c.TrustedProxies = []string{"127.0.0.2"} })
	const password = "ada-password-1234"
	if _, err := a.Users.Create(context.Background(), user.NewUser{Email: "ada@example.org", Name: "Ada", Password: password}); err != nil {
		t.Fatal(err)
	}
	client := func(local, forwardedFor, proto string) *http.Client {
		c, _ := newClient(t)
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
		h := http.Header{}
		if forwardedFor != "" {
			h.Set("X-Forwarded-For", forwardedFor)
		}
		if proto != "" {
			h.Set("X-Forwarded-Proto", proto)
		}
		c.Transport = headerTransport{base: &http.Transport{DialContext: d.DialContext}, header: h}
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return c
	}
	login := func(c *http.Client, pw string) *http.Response {
		t.Helper()
		csrf := formToken(t, c, a.URL+"/login")
		resp, err := c.PostForm(a.URL+"/login", map[string][]string{"email": {"ada@example.org"}, "password": {pw}, "csrf": {csrf}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// An attacker behind the proxy fails until the account is locked for
	// their forwarded address (the proxy appended it to a forged list).
	attacker := client("127.0.0.2", "198.51.100.1, 203.0.113.7", "")
	failures := 0
	for ; failures < 10; failures++ {
		resp := login(attacker, "wrong-password-"+strings.Repeat("x", failures))
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", failures, resp.StatusCode)
		}
	}
	if resp := login(attacker, password); failures == 10 || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the forwarded address after %d failures: %d, want 429", failures, resp.StatusCode)
	}
	if resp := login(client("127.0.0.2", "198.51.100.1, 203.0.113.7, 127.0.0.2", ""), password); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the same client through a second trusted hop: %d, want 429", resp.StatusCode)
	}
	// The owner, behind the same proxy from another address, signs in,
	// over HTTPS as the proxy says: the session cookie is Secure and HSTS
	// is sent.
	owner := client("127.0.0.2", "203.0.113.8", "https")
	resp := login(owner, password)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner behind the proxy: %d, want 303", resp.StatusCode)
	}
	secure := false
	for _, c := range resp.Cookies() {
		secure = secure || (c.Value != "" && c.Secure && c.HttpOnly)
	}
	if !secure || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("X-Forwarded-Proto https from the proxy: Secure cookie %v, HSTS %q", secure, resp.Header.Get("Strict-Transport-Security"))
	}
	// The same headers from an untrusted peer are ignored: its own
	// address is not locked, and it is not HTTPS.
	resp = login(client("127.0.0.1", "203.0.113.7", "https"), password)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("X-Forwarded-For from an untrusted peer: %d, want 303", resp.StatusCode)
	}
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("X-Forwarded-Proto from an untrusted peer gave HSTS")
	}
	for _, c := range resp.Cookies() {
		if c.Secure {
			t.Errorf("X-Forwarded-Proto from an untrusted peer made cookie %s Secure", c.Name)
		}
	}
	// Malformed values are ignored (the proxy's own address counts), never
	// a 500; a bad right-most element does not let the forged one through.
	for _, xff := range []string{"203.0.113.7, not-an-address", "203.0.113.7, ", strings.Repeat("1", 300), "fe80::1%eth0", "203.0.113.7 198.51.100.1"} {
		if resp := login(client("127.0.0.2", xff, "javascript"), password); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("malformed X-Forwarded-For %.40q: %d, want 303", xff, resp.StatusCode)
		}
	}
}
