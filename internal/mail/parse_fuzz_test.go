package mail

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// unsafeAttr finds an event handler or a javascript: URL inside a tag.
var unsafeAttr = regexp.MustCompile(`<[^>]*(\son[a-z]+\s*=|javascript:)`)

// FuzzParse fuzzes the mail parser alone, without a database, so that it
// runs thousands of inputs a second (FuzzDeliver covers the whole pipeline
// but is slowed by the database). It starts from FuzzDeliver's corpus.
//
// Properties: the parser never panics (parse turns a panic into an error,
// which is reported here), never takes long, and what it returns is safe to
// store and show: valid UTF-8 text, HTML without script, file names without
// path separators, a Message-ID.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDeliver", "*"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		_, line, _ := strings.Cut(string(b), "\n")
		line = strings.TrimSpace(line)
		if s, ok := strings.CutPrefix(line, "[]byte("); ok {
			if v, err := strconv.Unquote(strings.TrimSuffix(s, ")")); err == nil {
				f.Add([]byte(v))
			}
		}
	}
	f.Add([]byte("From: a@b.example\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nbody\r\n"))
	f.Add([]byte("Content-Type: text/html\r\n\r\n<script>alert(1)</script><img src=x onerror=alert(2)>"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		start := time.Now()
		p, err := parse(raw, "", false)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("parse took %v for %d bytes", d, len(raw))
		}
		if err != nil {
			if strings.Contains(err.Error(), "panicked") {
				t.Fatalf("parser panicked: %v", err)
			}
			return
		}
		if p.MessageID == "" {
			t.Error("no Message-ID (a synthetic one is expected)")
		}
		for _, s := range []string{p.Subject, p.Text, p.FromName} {
			if !utf8.ValidString(s) {
				t.Errorf("invalid UTF-8 in %q", s)
			}
		}
		if h := strings.ToLower(p.HTML); strings.Contains(h, "<script") || unsafeAttr.MatchString(h) {
			t.Errorf("unsafe HTML kept: %q", p.HTML)
		}
		for _, fl := range p.Files {
			if fl.Name == "" || strings.ContainsAny(fl.Name, "/\\\x00") || bytes.HasPrefix([]byte(fl.Name), []byte(".")) ||
				strings.ContainsFunc(fl.Name, func(r rune) bool { return unicode.Is(unicode.Bidi_Control, r) || unicode.IsControl(r) }) {
				t.Errorf("unsafe file name %q", fl.Name)
			}
		}
	})
}

// FuzzAuthResults fuzzes the Authentication-Results parser: it never
// panics, what it accepts has an authserv-id and named methods, and a
// header never counts below one of another MTA (which a sender can write).
func FuzzAuthResults(f *testing.F) {
	for _, s := range []string{
		"mx.helpmesh.test; dkim=pass (2048-bit key) header.d=ext.example header.s=sel",
		"mx.helpmesh.test 1; dkim=pass header.d=ext.example; dmarc=pass (p=reject) header.from=ext.example; spf=fail smtp.mailfrom=x@y",
		`mx.helpmesh.test; dkim=fail reason="a ; b (c)" header.d = "ext.example"`,
		"mx.helpmesh.test; none",
		"(comment (nested \\) still) mx.helpmesh.test; dkim=pass header.d=ext.example",
		"\"quoted id\"; dkim=pass",
		";;;==",
	} {
		f.Add(s, "sam@ext.example")
	}
	f.Fuzz(func(t *testing.T, v, from string) {
		start := time.Now()
		id, results, ok := parseAuthResults(v)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("parseAuthResults took %v for %d bytes", d, len(v))
		}
		if ok && id == "" {
			t.Errorf("accepted %q without an authserv-id", v)
		}
		if !ok && (id != "" || results != nil) {
			t.Errorf("refused %q but returned %q, %+v", v, id, results)
		}
		for _, r := range results {
			if r.Method == "" || r.Result == "" || strings.ContainsAny(r.Method, " \t\r\n;=") {
				t.Errorf("%q: result %+v", v, r)
			}
		}
		if !ok {
			return
		}
		got := authVerified([]string{v}, id, from)
		if got && !strings.Contains(strings.ToLower(v), "pass") {
			t.Errorf("%q verified %q without a pass", v, from)
		}
		// Another MTA's header on top: nothing below it counts.
		if authVerified([]string{"other.mta.invalid; dkim=none", v}, id, from) && id != "other.mta.invalid" {
			t.Errorf("%q counted below another MTA's header", v)
		}
		if authVerified([]string{v}, id+"x", from) {
			t.Errorf("%q counted for another authserv-id", v)
		}
	})
}
