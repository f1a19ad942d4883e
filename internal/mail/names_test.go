package mail

import (
	"context"
	"net/mail"
	"testing"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// TestAwkwardNamesAndRecipients checks that display names full of mail
// syntax are composed by the library (quoted or encoded, never breaking the
// header), and that a recipient whose mail cannot be composed is kept as
// failed without holding back the mails of the others.
func TestAwkwardNamesAndRecipients(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx := context.Background()
		u := *e.unit
		u.Name = `Storage" <ceo@bank.example>`
		if _, err := e.units.UpdateUnit(ctx, u); err != nil {
			t.Fatal(err)
		}
		// A second member whose stored address no mail library takes.
		bad, err := e.users.Create(ctx, user.NewUser{Email: "bad@uni.example", Name: "Bad Address"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.units.SetMember(ctx, e.unit.ID, bad.ID, auth.UnitMember); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.W.ExecContext(ctx, `UPDATE users SET email = 'bad address@uni.example' WHERE id = $1`, bad.ID); err != nil {
			t.Fatal(err)
		}
		support := "support@" + testDomain
		out := e.deliver(mailMsg(`"Evil\" <x@y>" <weird@evil.example>`, support, "Help", "Please."), support)
		if out.Action != "created" {
			t.Fatalf("deliver: %+v", out)
		}
		e.work()
		ob := e.outbox()
		ar := find(ob, KindAutoReply, "weird@evil.example")
		if ar == nil || ar.State != "held" {
			t.Fatalf("no auto-reply to the sender with an awkward name: %+v", ob)
		}
		if n := find(ob, KindNewTicket, "staff@uni.example"); n == nil || n.State != "held" {
			t.Errorf("no new-ticket notice to the good member: %+v", ob)
		}
		if n := find(ob, KindNewTicket, "bad address@uni.example"); n == nil || n.State != "failed" || n.LastError == "" {
			t.Errorf("the bad member's notice is not kept as failed: %+v", n)
		}
		raw, err := e.g.OutboxRaw(ctx, ar.ID)
		if err != nil {
			t.Fatal(err)
		}
		h := header(t, raw)
		from, err := h.AddressList("From")
		if err != nil || len(from) != 1 || from[0].Address != "helpdesk@"+testDomain || from[0].Name != `Storage" <ceo@bank.example> (helpmesh)` {
			t.Errorf("From %q: %+v %v", h.Get("From"), from, err)
		}
		to, err := h.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != "weird@evil.example" || to[0].Name != `Evil" <x@y>` {
			t.Errorf("To %q: %+v %v", h.Get("To"), to, err)
		}
		if _, err := mail.ParseAddress(h.Get("Reply-To")); err != nil {
			t.Errorf("Reply-To %q: %v", h.Get("Reply-To"), err)
		}
	})
}

// TestAttachmentNameBidi checks that an attachment name from mail loses
// its bidirectional controls, as one from the API does: "\u202eexe.pdf"
// would read as "fdp.exe".
func TestAttachmentNameBidi(t *testing.T) {
	e := newEnv(t, "")
	support := "support@" + testDomain
	raw := "From: ann@ext.example\r\nTo: " + support + "\r\nSubject: invoice\r\nMessage-ID: <bidi.1@ext.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n" +
		"--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=UTF-8''%E2%80%AEexe.pdf\r\n\r\nMZ\r\n--B--\r\n"
	out := e.deliver([]byte(raw), support)
	ms := e.messages(out.TicketID)
	if len(ms) != 1 || len(ms[0].Attachments) != 1 || ms[0].Attachments[0].Filename != "exe.pdf" {
		t.Fatalf("attachments: %+v", ms)
	}
}

// TestDedupeBySenderAndUnit checks what makes two deliveries the same mail:
// Message-ID, sender and unit. Another sender's mail with a Message-ID seen
// before, or one to another unit, is mail of its own; the same mail again
// is a duplicate.
func TestDedupeBySenderAndUnit(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx := context.Background()
		other, err := e.units.CreateUnit(ctx, unit.Unit{Slug: "other", Name: "Other", Email: "other@" + testDomain})
		if err != nil {
			t.Fatal(err)
		}
		support := "support@" + testDomain
		msg := func(from, to, subject string) []byte {
			return []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <same.1@list.example>\r\n\r\ntext\r\n")
		}
		first := e.deliver(msg("ann@ext.example", support, "first"), support)
		if first.Action != "created" {
			t.Fatalf("first: %+v", first)
		}
		for _, c := range []struct {
			name, from, to, action string
		}{
			{"the same mail again", "ann@ext.example", support, "duplicate"},
			{"the same mail to the unit's comment address", "ann@ext.example", "support-comment@" + testDomain, "duplicate"},
			{"another sender, same Message-ID", "mallory@evil.example", support, "created"},
			{"the same sender to another unit", "ann@ext.example", other.Email, "created"},
		} {
			out := e.deliver(msg(c.from, c.to, c.name), c.to)
			if out.Action != c.action {
				t.Errorf("%s: %+v, want %s", c.name, out, c.action)
			}
			if c.action == "created" && out.TicketID == first.TicketID {
				t.Errorf("%s: went to the first ticket", c.name)
			}
		}
		// The first ticket has its one message; each new one its own.
		if ms := e.messages(first.TicketID); len(ms) != 1 {
			t.Errorf("first ticket: %d messages", len(ms))
		}
	})
}
