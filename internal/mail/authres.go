package mail

import (
	"strings"
)

// authResult is one result of an Authentication-Results header (RFC 8601):
// a method ("dkim", "dmarc", "spf", ...), its result ("pass", "fail", ...)
// and its properties ("header.d" -> "example.org"), names in lower case.
type authResult struct {
	Method string
	Result string
	Props  map[string]string
}

// maxAuthResults bounds the results read from one header.
const maxAuthResults = 50

// parseAuthResults reads the value of one Authentication-Results header:
// its authserv-id (lower case) and results. ok is false for a value that
// is not one: no authserv-id, or a result without method=result.
func parseAuthResults(v string) (authservID string, results []authResult, ok bool) {
	parts := splitOutside(stripComments(v), ';')
	head := fieldsOutside(parts[0])
	if len(head) == 0 || len(head) > 2 {
		return "", nil, false
	}
	authservID = strings.ToLower(unquote(head[0]))
	if authservID == "" {
		return "", nil, false
	}
	for i, part := range parts[1:] {
		if i >= maxAuthResults {
			break
		}
		words := fieldsOutside(part)
		if len(words) == 0 {
			continue
		}
		if len(words) == 1 && strings.EqualFold(words[0], "none") {
			continue // "no-result"
		}
		method, result, found := strings.Cut(words[0], "=")
		method, _, _ = strings.Cut(method, "/") // method version
		if !found || method == "" || result == "" {
			return "", nil, false
		}
		r := authResult{Method: strings.ToLower(method), Result: strings.ToLower(unquote(result)), Props: map[string]string{}}
		for _, w := range words[1:] {
			k, val, found := strings.Cut(w, "=")
			if !found || k == "" {
				return "", nil, false
			}
			k = strings.ToLower(k)
			if _, dup := r.Props[k]; !dup {
				r.Props[k] = unquote(val)
			}
		}
		results = append(results, r)
	}
	return authservID, results, true
}

// authVerified tells whether the topmost Authentication-Results headers
// added by the MTA whose authserv-id is trusted (headers above any other
// Authentication-Results header; a sender can put any header lower down)
// say that DKIM or DMARC passed for the domain of from.
func authVerified(values []string, trusted, from string) bool {
	trusted = strings.ToLower(strings.TrimSpace(trusted))
	_, domain, found := strings.Cut(from, "@")
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if trusted == "" || !found || domain == "" {
		return false
	}
	for _, v := range values {
		id, results, ok := parseAuthResults(v)
		if !ok || id != trusted {
			return false
		}
		for _, r := range results {
			if r.Result != "pass" {
				continue
			}
			if (r.Method == "dkim" && sameDomain(r.Props["header.d"], domain)) ||
				(r.Method == "dmarc" && sameDomain(r.Props["header.from"], domain)) {
				return true
			}
		}
	}
	return false
}

func sameDomain(d, domain string) bool {
	return strings.EqualFold(strings.TrimSuffix(d, "."), domain)
}

// stripComments removes RFC 5322 comments (nested parentheses, with
// backslash escapes), keeping quoted strings as they are.
func stripComments(s string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (quoted || depth > 0):
			if depth == 0 {
				b.WriteByte(c)
				if i+1 < len(s) {
					b.WriteByte(s[i+1])
				}
			}
			i++
		case quoted:
			b.WriteByte(c)
			if c == '"' {
				quoted = false
			}
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
			if depth == 0 {
				b.WriteByte(' ')
			}
		case depth > 0:
		case c == '"':
			quoted = true
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// splitOutside splits s at sep outside quoted strings; it always returns
// at least one part.
func splitOutside(s string, sep byte) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// fieldsOutside splits s at white space outside quoted strings, and joins
// "key = value" written with spaces around the equals sign.
func fieldsOutside(s string) []string {
	var words []string
	var cur strings.Builder
	quoted, have := false, false
	flush := func() {
		if have {
			words = append(words, cur.String())
			cur.Reset()
			have = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && quoted && i+1 < len(s):
			cur.WriteByte(c)
			cur.WriteByte(s[i+1])
			i++
		case c == '"':
			quoted = !quoted
			cur.WriteByte(c)
			have = true
		case !quoted && (c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			flush()
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	flush()
	// "a = b", "a= b", "a =b" -> "a=b"
	var out []string
	for _, w := range words {
		if n := len(out); n > 0 && (strings.HasPrefix(w, "=") || strings.HasSuffix(out[n-1], "=")) {
			out[n-1] += w
			continue
		}
		out = append(out, w)
	}
	return out
}

// unquote returns the content of a quoted string, or s as it is.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
