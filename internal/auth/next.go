package auth

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SafeNext returns s when it is a place on this site to go to after signing
// in (or after a form), and "/" otherwise. It accepts only an absolute path
// with no scheme, host or user information, and refuses every control
// character and white space, backslashes and "//": browsers drop tabs and
// newlines from a URL and read "\" as "/", so "/\t/evil.example" and
// "/\evil.example" would lead to another site.
func SafeNext(s string) string {
	const home = "/"
	if s == "" || len(s) > 2048 || !utf8.ValidString(s) || !strings.HasPrefix(s, "/") ||
		strings.Contains(s, "//") || strings.ContainsRune(s, '\\') {
		return home
	}
	for _, c := range s {
		if unicode.IsControl(c) || unicode.IsSpace(c) {
			return home
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || strings.ContainsRune(u.Path, '\\') {
		return home
	}
	return s
}
