package forwarded

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestMiddleware(t *testing.T) {
	p, err := Parse([]string{"10.0.0.0/8", "::ffff:192.0.2.0/120", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		peer, xff, proto string
		remote, peerSeen string
		secure           bool
	}{
		{"10.1.2.3:4000", "203.0.113.7", "https", "203.0.113.7:0", "10.1.2.3:4000", true},
		{"10.1.2.3:4000", "198.51.100.1, 203.0.113.7, 10.9.9.9", "http", "203.0.113.7:0", "10.1.2.3:4000", false},
		{"192.0.2.5:1", "[2001:db8::7]:55", "HTTPS", "[2001:db8::7]:0", "192.0.2.5:1", true},
		{"[2001:db8::1]:1", "::ffff:203.0.113.9", "", "203.0.113.9:0", "[2001:db8::1]:1", false},
		// Untrusted peer: both headers ignored.
		{"198.51.100.2:5", "203.0.113.7", "https", "198.51.100.2:5", "198.51.100.2:5", false},
		// Malformed or only trusted hops: the peer stays the address.
		{"10.1.2.3:4000", "203.0.113.7, bogus", "ftp", "10.1.2.3:4000", "10.1.2.3:4000", false},
		{"10.1.2.3:4000", "10.2.2.2", "", "10.1.2.3:4000", "10.1.2.3:4000", false},
		{"10.1.2.3:4000", "", "", "10.1.2.3:4000", "10.1.2.3:4000", false},
		{"not-an-address", "203.0.113.7", "https", "not-an-address", "not-an-address", false},
	}
	for _, c := range cases {
		var got *http.Request
		h := p.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r }))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if c.proto != "" {
			r.Header.Set("X-Forwarded-Proto", c.proto)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got.RemoteAddr != c.remote || Peer(got) != c.peerSeen || Secure(got) != c.secure {
			t.Errorf("%s %q %q: remote %q peer %q secure %v; want %q %q %v", c.peer, c.xff, c.proto,
				got.RemoteAddr, Peer(got), Secure(got), c.remote, c.peerSeen, c.secure)
		}
	}
}

func TestParse(t *testing.T) {
	if _, err := Parse([]string{"10.0.0.0/8", "nope"}); err == nil {
		t.Error("a bad entry was accepted")
	}
	p, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Trusts("127.0.0.1:1") {
		t.Error("an empty list trusts an address")
	}
}
