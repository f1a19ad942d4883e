package ticket

import (
	"strings"
	"testing"
)

func TestSafeFilename(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\ann\secret.txt`, "secret.txt"},
		{"/abs/path/x.png", "x.png"},
		{".htaccess", "htaccess"},
		{"...", "attachment"},
		{"", "attachment"},
		{"/", "attachment"},
		{"a\x00b\r\nc\t.txt", "abc.txt"},
		{"evil\u202egnp.exe", "evilgnp.exe"},
		{"\u202eexe.pdf", "exe.pdf"},
		{"a\u2066b\u2069\u200f\u061c.txt", "ab.txt"},
		{"bad\xffutf8.txt", "badutf8.txt"},
		{"  spaced .txt  ", "spaced .txt"},
		{`<img src=x onerror="x()">.log`, `<img src=x onerror="x()">.log`},
		{"naïve 😀 résumé.pdf", "naïve 😀 résumé.pdf"},
		{strings.Repeat("a", 300) + ".txt", strings.Repeat("a", 196) + ".txt"},
	} {
		if got := SafeFilename(c.in, "attachment"); got != c.want {
			t.Errorf("SafeFilename(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := SafeFilename(SafeFilename(c.in, "attachment"), "attachment"); got != c.want {
			t.Errorf("SafeFilename twice (%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
