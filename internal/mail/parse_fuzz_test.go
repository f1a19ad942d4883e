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
