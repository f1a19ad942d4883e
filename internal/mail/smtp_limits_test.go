package mail

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"testing"
)

// refsHeader is a References header of n Message-IDs, folded.
func refsHeader(n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("<ref%d.%d@client.example>", i, seq.Add(1))
	}
	return "References: " + strings.Join(ids, "\r\n ")
}

// TestSMTPPermanentRefusals checks that mail that can never be taken gets
// a permanent 5xx at the SMTP listener, not a 451 the sending MTA would
// retry for days: a line over the limit, a References header of 1,000 ids.
func TestSMTPPermanentRefusals(t *testing.T) {
	e := newEnv(t, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := e.g.NewSMTPServer(SMTPOptions{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	support := "support@" + testDomain

	send := func(raw []byte) error {
		c, err := smtp.Dial(ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Mail("x@ext.example"); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt(support); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(raw); err != nil {
			return err
		}
		return w.Close()
	}
	unfolded := strings.ReplaceAll(refsHeader(1000), "\r\n ", " ")
	for _, c := range []struct {
		name    string
		raw     []byte
		refused bool // else taken
	}{
		{"a 20 KB line", mailMsg("x@ext.example", support, "long line", strings.Repeat("x", 20<<10)), true},
		{"1,000 References ids on one line", mailMsg("x@ext.example", support, "many refs", "text", unfolded), true},
		{"1,000 References ids folded", mailMsg("x@ext.example", support, "many refs", "text", refsHeader(1000)), false},
		{"a sane mail", mailMsg("x@ext.example", support, "fine", "text", refsHeader(20)), false},
	} {
		err := send(c.raw)
		if c.refused && (err == nil || !strings.HasPrefix(err.Error(), "5")) || !c.refused && err != nil {
			t.Errorf("%s: %v, want refused %v with a 5xx", c.name, err, c.refused)
		}
	}
	// The mailgate command has no line limit: such mail is taken, or
	// bounced, never left for the MTA to retry.
	for _, refs := range []string{unfolded, refsHeader(1000)} {
		var out bytes.Buffer
		raw := mailMsg("x@ext.example", support, "many refs", "text", refs)
		if code := e.g.Mailgate(context.Background(), bytes.NewReader(raw), "x@ext.example", true, []string{support}, &out); code == ExitTempFail {
			t.Errorf("mailgate with 1,000 References ids: exit %d (%s)", code, out.String())
		}
	}
}
