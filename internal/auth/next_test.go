package auth

import (
	"net/url"
	"strings"
	"testing"
)

var nextCases = []struct{ in, want string }{
	{"/tickets/5", "/tickets/5"},
	{"/tickets?status=open&q=a%20b#m3", "/tickets?status=open&q=a%20b#m3"},
	{"/queue/compute", "/queue/compute"},
	{"", "/"},
	{"tickets", "/"},
	{"//evil.example", "/"},
	{"/\t/evil.example", "/"},
	{"/\n/evil.example", "/"},
	{"/\r\n/evil.example", "/"},
	{"/\\evil.example", "/"},
	{"/\\/evil.example", "/"},
	{"\\\\evil.example", "/"},
	{" //evil.example", "/"},
	{"/ /evil.example", "/"},
	{"/\u00a0/evil.example", "/"},
	{"/\u2028/evil.example", "/"},
	{"/\x00/evil.example", "/"},
	{"/\x7f", "/"},
	{"/%2F/evil.example", "/"},
	{"/tickets//5", "/"},
	{"https://evil.example/", "/"},
	{"http:/evil.example", "/"},
	{"javascript:alert(1)", "/"},
	{"/\xff", "/"},
	{"/" + strings.Repeat("a", 3000), "/"},
}

func TestSafeNext(t *testing.T) {
	for _, c := range nextCases {
		if got := SafeNext(c.in); got != c.want {
			t.Errorf("SafeNext(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// browserResolve resolves a Location header the way a browser does (the
// WHATWG URL parser): leading and trailing C0 controls and spaces are
// trimmed, tabs and newlines anywhere are dropped, and "\" is read as "/".
func browserResolve(base *url.URL, loc string) (*url.URL, error) {
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= ' ' })
	loc = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(loc)
	ref, err := url.Parse(loc)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(ref), nil
}

// FuzzSafeNext checks that whatever comes in, the answer is the input or
// "/", has no control character or white space, and stays on this site
// when a browser follows it.
func FuzzSafeNext(f *testing.F) {
	for _, c := range nextCases {
		f.Add(c.in)
	}
	base, _ := url.Parse("https://help.example/login")
	f.Fuzz(func(t *testing.T, s string) {
		got := SafeNext(s)
		if got != "/" && got != s {
			t.Fatalf("SafeNext(%q) = %q, neither the input nor /", s, got)
		}
		if strings.ContainsFunc(got, func(r rune) bool { return r < ' ' || r == 0x7f || r == ' ' || r == '\\' }) {
			t.Fatalf("SafeNext(%q) = %q keeps a control character, a space or a backslash", s, got)
		}
		u, err := browserResolve(base, got)
		if err != nil {
			t.Fatalf("SafeNext(%q) = %q does not parse: %v", s, got, err)
		}
		if u.Scheme != base.Scheme || u.Host != base.Host || u.User != nil {
			t.Fatalf("SafeNext(%q) = %q leads to %s", s, got, u)
		}
	})
}
