package mail

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/db"
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
		// a staff member's address in From with Authentication-Results
		// headers: one forged below another MTA's, one broken, one folded
		"Authentication-Results: mx.helpmesh.test (\"quoted\" (nested)); dkim=pass\r\n header.d=uni.example; dmarc=pass header.from=uni.example\r\nAuthentication-Results: mx.other.example; dkim=none\r\nAuthentication-Results: mx.helpmesh.test; dkim=pass header.d=uni.example\r\nAuthentication-Results: ;;;=\r\nFrom: Sam Staff <staff@uni.example>\r\nTo: support-comment@helpmesh.test\r\nSubject: Re: [helpmesh #1] note\r\nMessage-ID: <ar1@x>\r\n\r\ninternal\r\n",
		// a display name full of mail syntax, a right-to-left override in a file name
		"From: \"Evil\\\" <x@y>\" <weird@evil.example>\r\nTo: Storage\" <ceo@bank.example> <support@helpmesh.test>\r\nSubject: names\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\ntext\r\n--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=UTF-8''%E2%80%AEexe.pdf\r\n\r\nMZ\r\n--B--\r\n",
		// a bounce report
		"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=d\r\n\r\n--d\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n--d\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y\r\nSubject: inner\r\n\r\ninner\r\n--d--\r\n",
	}
}

// FuzzDeliver runs arbitrary bytes through the whole inbound pipeline: it
// must never panic (a recovered panic shows as a quarantine reason), never
// fail with anything but a rejection, and never lose the mail.
//
// Every run starts from the same state (see snapshot), so that what a mail
// does depends on the mail alone: with the rows of earlier runs kept, an
// input run twice is a duplicate the second time and its sender is
// registered by its first run, so the minimiser's smaller candidates cannot
// reproduce the coverage that made the fuzzer keep it (see TestMain), and
// the database grew with every run.
func FuzzDeliver(f *testing.F) {
	for _, s := range seeds() {
		f.Add([]byte(s))
	}
	e := newEnv(f, "")
	snap := takeSnapshot(f, e)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw []byte) {
		defer snap.restore(t)
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
		// What the mail did is told: every event's mails are composed
		// and stored, none is left for the job queue to retry.
		if _, err := e.g.DispatchDue(ctx); err != nil {
			t.Fatalf("DispatchDue: %v", err)
		}
		waiting := e.waiting()
		var retried int
		if err := e.db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = $1`, JobNotify).Scan(&retried); err != nil {
			t.Fatal(err)
		}
		if waiting != 0 || retried != 0 {
			t.Fatalf("%d events waiting, %d handed to the job queue", waiting, retried)
		}
	})
}

// TestMain bounds the fuzzer's minimisation of each new input to
// minimizeBudget, unless -fuzzminimizetime is given. The pipeline runs on
// instrumented SQLite, database/sql and goroutines of their own, whose
// coverage varies from run to run (write batches, WAL checkpoints, pool
// connections): an input kept for new coverage that includes such bits is
// never reproduced whole by a smaller candidate, so the minimiser tries all
// of them, quadratic in the input's length at milliseconds each, up to the
// default limit of 60 s, and the fuzzer counts no runs meanwhile.
func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.fuzzminimizetime" })
	if !given {
		if err := flag.Set("test.fuzzminimizetime", minimizeBudget); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

const minimizeBudget = "2s"

// snapshot is the state of an env's SQLite database and blob store, which
// restore brings back: it deletes the rows added since (every table's rows
// above its largest rowid then; row ids are reused, so a run's tickets get
// the same ids each time) and the stored blobs.
type snapshot struct {
	e       *env
	deletes []string
	maxIDs  []any
}

func takeSnapshot(tb testing.TB, e *env) *snapshot {
	tb.Helper()
	ctx := context.Background()
	if e.db.Engine != db.SQLite {
		tb.Fatal("snapshot: SQLite only")
	}
	rows, err := e.db.W.QueryContext(ctx, `SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY rowid`)
	if err != nil {
		tb.Fatal(err)
	}
	type table struct{ name, sql string }
	var tables []table
	virtual := map[string]bool{}
	for rows.Next() {
		var t table
		if err := rows.Scan(&t.name, &t.sql); err != nil {
			tb.Fatal(err)
		}
		tables = append(tables, t)
		if strings.HasPrefix(strings.ToUpper(t.sql), "CREATE VIRTUAL TABLE") {
			virtual[t.name] = true
		}
	}
	if err := rows.Close(); err != nil {
		tb.Fatal(err)
	}
	s := &snapshot{e: e}
	// Children after parents: delete in the reverse order of creation.
	for _, t := range slices.Backward(tables) {
		if shadow(t.name, virtual) {
			continue // an FTS5 table's own storage, kept by the table itself
		}
		if strings.Contains(strings.ToUpper(t.sql), "WITHOUT ROWID") {
			tb.Fatalf("snapshot: table %s has no rowid; teach snapshot about it", t.name)
		}
		var maxID int64
		q := `"` + strings.ReplaceAll(t.name, `"`, `""`) + `"`
		if err := e.db.W.QueryRowContext(ctx, `SELECT COALESCE(MAX(rowid), 0) FROM `+q).Scan(&maxID); err != nil {
			tb.Fatalf("snapshot: %s: %v", t.name, err)
		}
		s.deletes = append(s.deletes, `DELETE FROM `+q+` WHERE rowid > $1`)
		s.maxIDs = append(s.maxIDs, maxID)
	}
	return s
}

// shadow tells whether name is a shadow table of one of the virtual tables.
func shadow(name string, virtual map[string]bool) bool {
	for v := range virtual {
		if rest, ok := strings.CutPrefix(name, v+"_"); ok && slices.Contains([]string{"data", "idx", "content", "docsize", "config"}, rest) {
			return true
		}
	}
	return false
}

func (s *snapshot) restore(tb testing.TB) {
	err := s.e.db.Tx(context.Background(), func(q db.Querier) error {
		if _, err := q.ExecContext(context.Background(), `PRAGMA defer_foreign_keys = ON`); err != nil {
			return err
		}
		for i, d := range s.deletes {
			if _, err := q.ExecContext(context.Background(), d, s.maxIDs[i]); err != nil {
				return fmt.Errorf("%s: %w", d, err)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("restore: %v", err)
	}
	des, err := os.ReadDir(s.e.blobDir)
	if err != nil {
		tb.Fatalf("restore: %v", err)
	}
	for _, de := range des {
		if de.Name() != "tmp" {
			if err := os.RemoveAll(filepath.Join(s.e.blobDir, de.Name())); err != nil {
				tb.Fatalf("restore: %v", err)
			}
		}
	}
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
