package outbound

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// offline is a resolver that answers no name, so tests never use the
// network; "localhost" is the one name it knows.
func offline() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests")
	}}
}

func mustPolicy(t testing.TB, allow ...string) *Policy {
	t.Helper()
	p, err := NewPolicy(allow)
	if err != nil {
		t.Fatal(err)
	}
	p.Resolver = offline()
	return p
}

func TestCheckURLRefusesPrivateRanges(t *testing.T) {
	ctx := context.Background()
	closed := mustPolicy(t)
	open := mustPolicy(t, "127.0.0.0/8", "10.1.2.3", "::1/128")
	for _, c := range []struct {
		url      string
		openToo  bool // refused with the allow-list too
		whatever bool // the form is wrong: refused by both
	}{
		{url: "http://127.0.0.1/hook"},
		{url: "http://127.9.9.9:8080/hook"},
		{url: "http://10.1.2.3/hook"},
		{url: "https://10.0.0.1/hook", openToo: true},
		{url: "http://192.168.1.10/", openToo: true},
		{url: "http://172.16.0.1/", openToo: true},
		{url: "http://169.254.169.254/latest/meta-data/", openToo: true},
		{url: "http://[::1]:9000/hook"},
		{url: "http://[fe80::1]/", openToo: true},
		{url: "http://[fd00::1]/", openToo: true},
		{url: "http://0.0.0.0/", openToo: true},
		{url: "http://[::]/", openToo: true},
		{url: "http://224.0.0.1/", openToo: true},
		{url: "http://100.64.0.1/", openToo: true},
		{url: "http://[::ffff:169.254.169.254]/", openToo: true},
		{url: "http://[::ffff:127.0.0.1]/"},
		{url: "ftp://8.8.8.8/", whatever: true},
		{url: "file:///etc/passwd", whatever: true},
		{url: "http:///nohost", whatever: true},
		{url: "http://user:pw@8.8.8.8/", whatever: true},
		{url: "http://8.8.8.8/#frag", whatever: true},
		{url: "http://8.8.8.8:99999/", whatever: true},
		{url: "mailto:a@example.org", whatever: true},
		{url: "", whatever: true},
		{url: "http://no-such-host.invalid/", whatever: true},
	} {
		err := closed.CheckURL(ctx, c.url)
		if !errors.Is(err, ErrRefused) {
			t.Errorf("without an allow-list, %q: %v, want refused", c.url, err)
		}
		err = open.CheckURL(ctx, c.url)
		if refused := errors.Is(err, ErrRefused); refused != (c.openToo || c.whatever) {
			t.Errorf("with the allow-list, %q: %v", c.url, err)
		}
	}
	for _, ok := range []string{"https://8.8.8.8/hook", "http://[2606:4700:4700::1111]:8443/x?y=1", "http://1.1.1.1"} {
		if err := closed.CheckURL(ctx, ok); err != nil {
			t.Errorf("%q: %v, want allowed", ok, err)
		}
	}
}

func TestPolicyRejectsBadAllowList(t *testing.T) {
	for _, bad := range []string{"nope", "10.0.0.0/33", "1.2.3", ""} {
		if _, err := NewPolicy([]string{bad}); err == nil {
			t.Errorf("NewPolicy(%q) accepted", bad)
		}
	}
}

// TestClientChecksTheDialedAddress: a URL that passed no check (or whose
// name resolves elsewhere now) is refused when it is dialed, and a
// redirect is answered, not followed.
func TestClientChecksTheDialedAddress(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/final", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	ctx := context.Background()
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	closed := Poster{Client: mustPolicy(t).Client(0)}
	for _, u := range []string{srv.URL + "/hook", byName + "/hook"} {
		code, err := closed.Post(ctx, u, nil, []byte(`{}`))
		if !errors.Is(err, ErrRefused) || code != 0 {
			t.Errorf("POST %s without an allow-list: %d, %v; want refused", u, code, err)
		}
	}
	if hits != 0 {
		t.Fatalf("the receiver got %d requests from a refused client", hits)
	}

	open := Poster{Client: mustPolicy(t, "127.0.0.0/8").Client(0)}
	if code, err := open.Post(ctx, srv.URL+"/hook", map[string]string{"webhook-id": "x"}, []byte(`{}`)); err != nil || code != http.StatusNoContent {
		t.Errorf("POST with 127.0.0.0/8 allowed: %d, %v", code, err)
	}
	if code, err := open.Post(ctx, srv.URL+"/redirect", nil, []byte(`{}`)); err != nil || code != http.StatusFound {
		t.Errorf("a redirect: %d, %v; want 302 answered, not followed", code, err)
	}
	if hits != 2 {
		t.Errorf("the receiver got %d requests, want 2 (the redirect not followed)", hits)
	}
}

// FuzzCheckURL: whatever the input, CheckURL does not panic; what it
// allows is http(s) with a host, and a literal address it allows is one
// the policy allows.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1/", "https://8.8.8.8:443/x", "http://[::1]/", "http://[fe80::1%25eth0]/",
		"http://10.1.2.3", "ftp://x", "http://a@b/", "http://0x7f.1/", "http://2130706433/", "http://[::ffff:10.0.0.1]/", "//x", "http:8.8.8.8"} {
		f.Add(s)
	}
	p := mustPolicy(f, "10.1.0.0/16")
	f.Fuzz(func(t *testing.T, raw string) {
		err := p.CheckURL(context.Background(), raw)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("CheckURL(%q) = %v, not a refusal", raw, err)
			}
			return
		}
		u, perr := ParseURL(raw)
		if perr != nil {
			t.Fatalf("CheckURL allowed %q that ParseURL refuses: %v", raw, perr)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Hostname() == "" {
			t.Fatalf("CheckURL allowed %q", raw)
		}
		a, aerr := netip.ParseAddr(u.Hostname())
		if aerr != nil {
			t.Fatalf("CheckURL allowed %q, whose host is a name the offline resolver cannot know", raw)
		}
		if !p.AllowsAddr(a) {
			t.Fatalf("CheckURL allowed %q, whose address %s the policy refuses", raw, a)
		}
	})
}
