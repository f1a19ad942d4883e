package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// seeds are real-world shapes of hostile or broken mail.
func seeds() []string {
	deep := func(n int) string {
		var b strings.Builder
		b.WriteString("From: deep@ext.example\r\nSubject: deep\r\nMessage-ID: <deep@x>\r\nMIME-Version: 1.0\r\n")
		for i := range n {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
		}
		b.WriteString("Content-Type: text/plain\r\n\r\nbottom\r\n")
		for i := n - 1; i >= 0; i-- {
			fmt.Fprintf(&b, "--b%d--\r\n", i)
		}
		return b.String()
	}
	return []string{
		"From: a@ext.example\r\nTo: support@helpmesh.test\r\nSubject: plain\r\nMessage-ID: <p1@x>\r\n\r\nhello\r\n",
		// broken boundary: declared, never closed, and a different one used
		"From: a@ext.example\r\nSubject: broken\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"AAA\"\r\n\r\n--BBB\r\nContent-Type: text/plain\r\n\r\ntext\r\n--AAA\r\nContent-Type: application/pdf; name=\"x.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64***\r\n",
		// wrong charsets
		"From: =?x-unknown?B?Zm9v?= <a@ext.example>\r\nSubject: =?iso-8859-1?q?Gr=FC=DFe?= =?utf-8?b?////?=\r\nContent-Type: text/plain; charset=\"klingon\"\r\n\r\n\xe4\xf6\xfc\r\n",
		"From: a@ext.example\r\nSubject: sjis\r\nContent-Type: text/plain; charset=shift_jis\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=82=B1=82=F1=82=C9=82=BF=82=CD=\r\n=ZZ\r\n",
		// huge header
		"From: a@ext.example\r\nSubject: " + strings.Repeat("long ", 20000) + "\r\nReferences: " + strings.Repeat("<r@x> ", 5000) + "\r\n\r\nbody\r\n",
		// deep nesting
		deep(60),
		// 8-bit headers, NUL and control characters
		"From: J\xf6rg M\xfcller <j\xf6rg@ext.example>\r\nSubject: Caf\xe9 \x00\x01 cr\x0d lf\r\nMessage-ID: <\xff\xfe@x>\r\n\r\n\x00body\r\n",
		// HTML only with script, inline image, signed part, 2231 file name
		"From: a@ext.example\r\nSubject: html\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=s\r\n\r\n--s\r\nContent-Type: multipart/related; boundary=r\r\n\r\n--r\r\nContent-Type: text/html\r\n\r\n<p onclick=x()>Hi<script>alert(1)</script><img src=cid:i1></p>\r\n--r\r\nContent-Type: image/png\r\nContent-ID: <i1>\r\nContent-Disposition: inline; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--r--\r\n--s\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n\r\nsig\r\n--s--\r\n",
		// no header/body separator, bare LF, empty
		"Subject: no body",
		"From: a@ext.example\nSubject: lf only\nIn-Reply-To: <hm.1.p.aaaa.bbbbbbbbbbbbbbbb@helpmesh.test>\n\nreply\n",
		"",
		"\r\n\r\n",
		// a bounce report
		"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=d\r\n\r\n--d\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n--d\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y\r\nSubject: inner\r\n\r\ninner\r\n--d--\r\n",
	}
}

// FuzzDeliver runs arbitrary bytes through the whole inbound pipeline: it
// must never panic (a recovered panic shows as a quarantine reason), never
// fail with anything but a rejection, and never lose the mail.
func FuzzDeliver(f *testing.F) {
	for _, s := range seeds() {
		f.Add([]byte(s))
	}
	e := newEnv(f, "")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := e.g.Deliver(ctx, Envelope{Source: "fuzz", Rcpts: []string{"support@" + testDomain}}, raw)
		var rej *Rejection
		if err != nil && !errors.As(err, &rej) {
			t.Fatalf("Deliver: %v", err)
		}
		if strings.HasPrefix(out.Reason, "internal error while processing") {
			t.Fatalf("pipeline panicked: %s", out.Reason)
		}
		if err == nil && out.Action == "" {
			t.Fatalf("no outcome: %+v", out)
		}
	})
}

func TestSeedsNeverLost(t *testing.T) {
	e := newEnv(t, "")
	for i, s := range seeds() {
		out, err := e.g.Deliver(context.Background(), Envelope{Source: "test", Rcpts: []string{"support@" + testDomain}}, []byte(s))
		var rej *Rejection
		if err != nil && !errors.As(err, &rej) {
			t.Errorf("seed %d: %v", i, err)
		}
		if strings.HasPrefix(out.Reason, "internal error") {
			t.Errorf("seed %d panicked: %s", i, out.Reason)
		}
		t.Logf("seed %d: %s %s %v", i, out.Action, out.Reason, err)
	}
	// The HTML-only seed: sanitised HTML, text kept, attachment name safe.
	var body, html string
	if err := e.db.R.QueryRow(`SELECT body, body_html FROM messages WHERE body_html <> '' ORDER BY id LIMIT 1`).Scan(&body, &html); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "script") || strings.Contains(html, "onclick") || !strings.Contains(body, "Hi") {
		t.Errorf("HTML not sanitised or no text: %q / %q", html, body)
	}
	rows, _ := e.db.R.Query(`SELECT filename FROM attachments`)
	defer rows.Close()
	for rows.Next() {
		var n string
		rows.Scan(&n)
		if strings.ContainsAny(n, "/\\") || strings.HasPrefix(n, ".") {
			t.Errorf("unsafe file name %q", n)
		}
	}
}
