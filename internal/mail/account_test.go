package mail

import (
	"context"
	"strings"
	"testing"
)

func TestSendTextQueuesAccountMail(t *testing.T) {
	engines(t, testSendText)
}

func testSendText(t *testing.T, dsn string) {
	g := newEnv(t, dsn).g
	ctx := context.Background()
	if err := g.SendText(ctx, "Ada@Example.org", "Your sign-in link", "Open https://x/login/abc to sign in."); err != nil {
		t.Fatal(err)
	}
	out, err := g.Outbox(ctx, "", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, o := range out {
		if o.Kind == KindAccount && o.To == "ada@example.org" && o.Subject == "Your sign-in link" {
			found = true
			raw, err := g.OutboxRaw(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"Auto-Submitted: auto-generated", "https://x/login/abc", LoopHeader} {
				if !strings.Contains(string(raw), want) {
					t.Errorf("account mail lacks %q:\n%s", want, raw)
				}
			}
		}
	}
	if !found {
		t.Fatalf("no account mail in the outbox: %+v", out)
	}
	for _, bad := range []struct{ to, subject string }{{"not an address", "x"}, {"a@b.org", "two\r\nlines"}} {
		if err := g.SendText(ctx, bad.to, bad.subject, "x"); err == nil {
			t.Errorf("SendText(%q, %q) accepted", bad.to, bad.subject)
		}
	}
}
