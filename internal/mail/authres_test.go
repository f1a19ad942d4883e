package mail

import (
	"reflect"
	"testing"
)

func TestParseAuthResults(t *testing.T) {
	for _, c := range []struct {
		in      string
		id      string
		results []authResult
		ok      bool
	}{
		{"mx.example.org; dkim=pass header.d=example.com header.s=sel", "mx.example.org",
			[]authResult{{"dkim", "pass", map[string]string{"header.d": "example.com", "header.s": "sel"}}}, true},
		// version, comments (nested, with ';' inside), quoted values, several results, folding
		{"MX.Example.ORG 1; dkim=pass (2048-bit key; (nested) unprotected) header.d=Example.com\r\n\theader.i=@example.com;\r\n dmarc=pass (p=none dis=none) header.from=\"example.com\"; spf=fail smtp.mailfrom=x@evil.example", "mx.example.org",
			[]authResult{
				{"dkim", "pass", map[string]string{"header.d": "Example.com", "header.i": "@example.com"}},
				{"dmarc", "pass", map[string]string{"header.from": "example.com"}},
				{"spf", "fail", map[string]string{"smtp.mailfrom": "x@evil.example"}},
			}, true},
		// reason with a quoted ';', spaces around '=', method version
		{`mx; dkim/1 = fail reason="bad; sig" header.d = example.com`, "mx",
			[]authResult{{"dkim", "fail", map[string]string{"reason": "bad; sig", "header.d": "example.com"}}}, true},
		{"mx.example.org; none", "mx.example.org", nil, true},
		{"mx.example.org", "mx.example.org", nil, true},
		{"", "", nil, false},
		{"; dkim=pass header.d=example.com", "", nil, false},
		{"mx; dkim header.d=example.com", "", nil, false},
		{"mx; dkim=pass header.d", "", nil, false},
		{"mx extra words; dkim=pass", "", nil, false},
		{"(only a comment", "", nil, false},
	} {
		id, res, ok := parseAuthResults(c.in)
		if ok != c.ok || id != c.id || !reflect.DeepEqual(res, c.results) {
			t.Errorf("parseAuthResults(%q) = %q, %+v, %v; want %q, %+v, %v", c.in, id, res, ok, c.id, c.results, c.ok)
		}
	}
}

// authVerified counts only the topmost headers of the trusted MTA, and
// only a DKIM or DMARC pass for the domain of the From address.
func TestAuthVerified(t *testing.T) {
	const mx = "mx.example.org"
	from := "sam@uni.example"
	for _, c := range []struct {
		name    string
		headers []string
		trusted string
		want    bool
	}{
		{"dkim pass", []string{mx + "; dkim=pass header.d=uni.example"}, mx, true},
		{"dmarc pass", []string{mx + "; spf=none; dmarc=pass header.from=UNI.example."}, mx, true},
		{"authserv-id case", []string{"MX.EXAMPLE.ORG; dkim=pass header.d=uni.example"}, mx, true},
		{"second header of the same MTA", []string{mx + "; spf=pass smtp.mailfrom=uni.example", mx + "; dkim=pass header.d=uni.example"}, mx, true},
		{"no trusted MTA configured", []string{mx + "; dkim=pass header.d=uni.example"}, "", false},
		{"no header", nil, mx, false},
		{"another MTA", []string{"mx.evil.example; dkim=pass header.d=uni.example"}, mx, false},
		{"ours below another MTA's (sender-made)", []string{"mx.other.example; dkim=none", mx + "; dkim=pass header.d=uni.example"}, mx, false},
		{"below a broken one", []string{"garbage; dkim", mx + "; dkim=pass header.d=uni.example"}, mx, false},
		{"dkim fail", []string{mx + "; dkim=fail header.d=uni.example"}, mx, false},
		{"dkim of another domain", []string{mx + "; dkim=pass header.d=evil.example"}, mx, false},
		{"dkim of a parent domain", []string{mx + "; dkim=pass header.d=example"}, mx, false},
		{"dkim of a subdomain", []string{mx + "; dkim=pass header.d=mail.uni.example"}, mx, false},
		{"dkim without a domain", []string{mx + "; dkim=pass header.i=@uni.example"}, mx, false},
		{"dmarc of another domain", []string{mx + "; dmarc=pass header.from=evil.example"}, mx, false},
		{"spf pass only", []string{mx + "; spf=pass smtp.mailfrom=sam@uni.example"}, mx, false},
		{"pass in a comment", []string{mx + "; dkim=fail (dkim=pass header.d=uni.example) header.d=uni.example"}, mx, false},
		{"pass in a reason", []string{mx + `; dkim=fail reason="dkim=pass header.d=uni.example" header.d=uni.example`}, mx, false},
	} {
		if got := authVerified(c.headers, c.trusted, from); got != c.want {
			t.Errorf("%s: authVerified(%q) = %v, want %v", c.name, c.headers, got, c.want)
		}
	}
	if authVerified([]string{mx + "; dkim=pass header.d=uni.example"}, mx, "no-address") {
		t.Error("verified a sender without a domain")
	}
}
