package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/user"
)

// TestForgedStaffMail: a From: header naming a staff member gives no
// staff rights unless the mail proves it (a reply token of the staff
// member's own, or DKIM passing at the trusted MTA); the comment address
// bounces it, and no staff words reach a ticket under a forged name.
func TestForgedStaffMail(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx := context.Background()
		support, comment := "support@"+testDomain, "support-comment@"+testDomain
		if _, err := e.users.Create(ctx, user.NewUser{Email: "admin@localhost", Name: "Admin", Role: auth.RoleAdmin}); err != nil {
			t.Fatal(err)
		}
		out := e.deliver(mailMsg("Rita <rita@ext.example>", support, "Disk full", "help"), support)
		tid := out.TicketID
		tag := fmt.Sprintf("Re: [helpmesh #%d] Disk full", tid)
		e.work()
		autoReply := find(e.outbox(), KindAutoReply, "rita@ext.example")
		notice := find(e.outbox(), KindNewTicket, "staff@uni.example")
		if autoReply == nil || notice == nil {
			t.Fatalf("outbox: %+v", e.outbox())
		}
		arRaw, _ := e.g.OutboxRaw(ctx, autoReply.ID)
		ntRaw, _ := e.g.OutboxRaw(ctx, notice.ID)
		ritaToken := strings.Trim(header(t, arRaw).Get("Reply-To"), "<>")
		staffToken := strings.Trim(header(t, ntRaw).Get("Reply-To"), "<>")
		if ritaToken == staffToken || !strings.HasPrefix(staffToken, fmt.Sprintf("support+t%dr", tid)) {
			t.Fatalf("reply tokens not per recipient: %q, %q", ritaToken, staffToken)
		}
		wrote := func() int { return len(e.messages(tid)) }
		before := wrote()

		// A forged staff reply: never a message on the ticket, whatever
		// threads it (the tag, our Message-ID that the requester got, the
		// requester's own reply token).
		for name, raw := range map[string][]byte{
			"admin, tag":                    mailMsg("admin@localhost", support, tag, "Send me your password."),
			"admin, our Message-ID":         mailMsg("admin@localhost", support, "Re: x", "Send me your password.", "In-Reply-To: <"+autoReply.MessageID+">"),
			"staff, our Message-ID":         mailMsg("Sam Staff <staff@uni.example>", support, "Re: x", "Send me your password.", "References: <"+notice.MessageID+">"),
			"staff, the requester's token":  mailMsg("staff@uni.example", ritaToken, "Re: x", "Send me your password."),
			"staff, DKIM of another domain": mailMsg("staff@uni.example", support, tag, "Send me your password.", dkimPass("evil.example")),
			"staff, DKIM from another MTA":  mailMsg("staff@uni.example", support, tag, "x", "Authentication-Results: mx.evil.example; dkim=pass header.d=uni.example"),
			"staff, ours under another MTA's": mailMsg("staff@uni.example", support, tag, "x",
				"Authentication-Results: mx.evil.example; dkim=none", dkimPass("uni.example")),
		} {
			rcpt := support
			if strings.Contains(name, "token") {
				rcpt = ritaToken
			}
			out := e.deliver(raw, rcpt)
			if out.TicketID == tid || out.Verified || out.Participant {
				t.Errorf("forged %s: %+v", name, out)
			}
		}
		if n := wrote(); n != before {
			t.Errorf("forged staff mail wrote %d messages to the ticket", n-before)
		}
		e.work()
		if m := find(e.outbox(), KindReply, "rita@ext.example"); m != nil {
			t.Errorf("the requester was mailed a forged reply: %+v", m)
		}

		// A forged internal note: bounced, also with our Message-ID or a
		// reply token that is not the sender's own.
		for name, raw := range map[string][]byte{
			"tag":            mailMsg("staff@uni.example", comment, tag, "internal"),
			"our Message-ID": mailMsg("staff@uni.example", comment, "Re: x", "internal", "In-Reply-To: <"+notice.MessageID+">"),
			"stranger":       mailMsg("stranger@evil.example", comment, tag, "internal"),
		} {
			_, err := e.g.Deliver(ctx, Envelope{Source: "test", MailFrom: "stranger@evil.example", HasMailFrom: true, Rcpts: []string{comment}}, raw)
			var rej *Rejection
			if !errors.As(err, &rej) {
				t.Errorf("forged note (%s): %v, want a bounce", name, err)
			}
		}
		otherToken := e.g.sig.tokenAddress(comment, tid, true, "sue@uni.example")
		_, err := e.g.Deliver(ctx, Envelope{Source: "test", Rcpts: []string{otherToken}}, mailMsg("staff@uni.example", otherToken, "Re: x", "internal"))
		if rej := (*Rejection)(nil); !errors.As(err, &rej) {
			t.Errorf("note to another member's comment token: %v, want a bounce", err)
		}
		// The staff member's token for this ticket proves nothing for
		// another one (were it leaked, it would otherwise open them all).
		other := e.deliver(mailMsg("otto@ext.example", support, "Other", "help"), support).TicketID
		e.work()
		otherMail := find(e.outbox(), KindAutoReply, "otto@ext.example")
		out = e.deliver(mailMsg("staff@uni.example", staffToken, "Re: x", "forged", "In-Reply-To: <"+otherMail.MessageID+">"), staffToken)
		if out.TicketID == other || out.TicketID == tid || out.Verified {
			t.Errorf("staff token of ticket %d used for ticket %d: %+v", tid, other, out)
		}
		// A token whose recipient key was changed is no token at all.
		if ok, _ := e.g.KnownRecipient(ctx, strings.Replace(staffToken, fmt.Sprintf("t%dr", tid), fmt.Sprintf("t%dra", tid), 1)); ok {
			t.Error("a token with a changed recipient key is a known recipient")
		}
		if n := wrote(); n != before {
			t.Errorf("forged notes wrote %d messages", n-before)
		}

		// Proven: the staff member's own reply token, or DKIM at the top.
		out = e.deliver(mailMsg("staff@uni.example", staffToken, "Re: x", "Switch it off."), staffToken)
		if out.Action != "replied" || out.TicketID != tid || !out.Verified || out.Participant {
			t.Errorf("staff reply to their own token: %+v", out)
		}
		ownNote := e.g.sig.tokenAddress(comment, tid, true, "staff@uni.example")
		if out := e.deliver(mailMsg("staff@uni.example", ownNote, "Re: x", "internal: the fuser"), ownNote); out.Action != "noted" || !out.Verified {
			t.Errorf("note to their own comment token: %+v", out)
		}
		if out := e.deliver(mailMsg("staff@uni.example", comment, tag, "internal: DKIM", dkimPass("uni.example"), "Authentication-Results: mx.evil.example; none"), comment); out.Action != "noted" || !out.Verified {
			t.Errorf("note with DKIM: %+v", out)
		}
		ms := e.messages(tid)
		if len(ms) != before+3 || ms[before].Author.Email != "staff@uni.example" || ms[before].Internal || !ms[before+1].Internal {
			t.Errorf("messages = %+v", ms[before:])
		}

		// No staff member's address in what the requester gets.
		sp, err := e.users.Principal(ctx, e.staff.ID)
		if err != nil {
			t.Fatal(err)
		}
		waiting := ticket.WaitingForReply
		if _, err := e.tickets.Update(ctx, sp, tid, ticket.Update{Status: &waiting}); err != nil {
			t.Fatal(err)
		}
		e.work()
		for _, kind := range []string{KindReply, KindStatus} {
			m := find(e.outbox(), kind, "rita@ext.example")
			if m == nil {
				t.Fatalf("no %s mail to the requester", kind)
			}
			raw, _ := e.g.OutboxRaw(ctx, m.ID)
			if strings.Contains(string(raw), "staff@uni.example") || !strings.Contains(string(raw), "Sam Staff") {
				t.Errorf("%s mail to the requester shows the staff address, or not the name:\n%s", kind, raw)
			}
		}
	})
}

// TestRequesterProof: the requester's reply continues their ticket when
// it answers our mail (our Message-ID, their reply token) or proves its
// sender; with only the subject tag and a From: header, it opens a new
// ticket.
func TestRequesterProof(t *testing.T) {
	e := newEnv(t, "")
	support := "support@" + testDomain
	out := e.deliver(mailMsg("rita@ext.example", support, "Quota", "help"), support)
	tid := out.TicketID
	tag := fmt.Sprintf("Re: [helpmesh #%d] Quota", tid)
	e.work()
	ar := find(e.outbox(), KindAutoReply, "rita@ext.example")
	raw, _ := e.g.OutboxRaw(context.Background(), ar.ID)
	token := strings.Trim(header(t, raw).Get("Reply-To"), "<>")
	for _, c := range []struct {
		name     string
		raw      []byte
		rcpt     string
		joins    bool
		verified bool
	}{
		{"tag only", mailMsg("rita@ext.example", support, tag, "forged?"), support, false, false},
		{"tag and DKIM", mailMsg("rita@ext.example", support, tag, "x", dkimPass("ext.example")), support, true, true},
		{"her reply token", mailMsg("rita@ext.example", token, "Re: x", "x"), token, true, true},
		{"our Message-ID", mailMsg("rita@ext.example", support, "Re: x", "x", "In-Reply-To: <"+ar.MessageID+">"), support, true, false},
	} {
		out := e.deliver(c.raw, c.rcpt)
		if (out.TicketID == tid) != c.joins || out.Verified != c.verified {
			t.Errorf("%s: %+v, want joins=%v verified=%v", c.name, out, c.joins, c.verified)
		}
	}
}
