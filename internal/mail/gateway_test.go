package mail

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

func header(t *testing.T, raw []byte) mail.Header {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return m.Header
}

func find(es []OutboxEntry, kind, to string) *OutboxEntry {
	for i := range es {
		if es[i].Kind == kind && es[i].To == to {
			return &es[i]
		}
	}
	return nil
}

func TestMailFlow(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx := context.Background()
		support := "support@" + testDomain

		// A stranger writes: a ticket in the unit, an auto-reply, a notice to staff.
		first := mailMsg("Alice Example <Alice@Ext.example>", support, "=?utf-8?q?Drucker_kaputt_=E2=80=94_bitte?=", "The printer is on fire.")
		out := e.deliver(first, support)
		if out.Action != "created" || out.TicketID == 0 {
			t.Fatalf("first mail: %+v", out)
		}
		tid := out.TicketID
		tk, err := e.tickets.Get(ctx, e.admin, tid)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Subject != "Drucker kaputt — bitte" || tk.UnitID != e.unit.ID || tk.Requester.Email != "alice@ext.example" || tk.Requester.Name != "Alice Example" {
			t.Errorf("ticket = %+v", tk)
		}
		e.work()
		ob := e.outbox()
		ar := find(ob, KindAutoReply, "alice@ext.example")
		if ar == nil || ar.State != "held" {
			t.Fatalf("no held auto-reply in %+v", ob)
		}
		if find(ob, KindNewTicket, "staff@uni.example") == nil {
			t.Errorf("staff got no new-ticket notice: %+v", ob)
		}
		raw, _ := e.g.OutboxRaw(ctx, ar.ID)
		h := header(t, raw)
		tag := fmt.Sprintf("[helpmesh #%d]", tid)
		for name, want := range map[string]string{"Auto-Submitted": "auto-replied", LoopHeader: testDomain, "X-Auto-Response-Suppress": "All"} {
			if h.Get(name) != want {
				t.Errorf("auto-reply %s = %q, want %q", name, h.Get(name), want)
			}
		}
		if subj, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); !strings.HasPrefix(subj, tag) {
			t.Errorf("auto-reply subject %q lacks %s", h.Get("Subject"), tag)
		}
		if !strings.HasSuffix(h.Get("Message-Id"), "@"+testDomain+">") || !strings.Contains(h.Get("In-Reply-To"), "client.example") {
			t.Errorf("auto-reply ids: %q in reply to %q", h.Get("Message-Id"), h.Get("In-Reply-To"))
		}
		if !strings.Contains(h.Get("Reply-To"), "support+t") {
			t.Errorf("Reply-To %q has no reply token", h.Get("Reply-To"))
		}
		body := string(raw)
		if !strings.Contains(body, fmt.Sprintf("http://hm.example/tickets/%d", tid)) {
			t.Errorf("auto-reply has no link:\n%s", body)
		}

		// The same Message-ID again is one message.
		if out := e.deliver(first, support); out.Action != "duplicate" {
			t.Errorf("second delivery: %+v", out)
		}
		if n := len(e.messages(tid)); n != 1 {
			t.Errorf("%d messages after a duplicate", n)
		}

		// Alice answers the auto-reply: threaded by our Message-ID.
		reply := mailMsg("alice@ext.example", support, "Re: something else", "More smoke now.\n\nOn Mon, someone wrote:\n> old text",
			"In-Reply-To: "+h.Get("Message-Id"))
		if out := e.deliver(reply, support); out.Action != "replied" || out.TicketID != tid {
			t.Fatalf("reply: %+v", out)
		}
		ms := e.messages(tid)
		if got := ms[len(ms)-1].Body; got != "More smoke now." {
			t.Errorf("quoted history not folded: %q", got)
		}

		// A stranger copying the subject tag opens a new ticket.
		mallory := mailMsg("mallory@evil.example", support, "Re: "+tag+" give me the data", "hi")
		out = e.deliver(mallory, support)
		if out.Action != "created" || out.TicketID == tid {
			t.Fatalf("stranger with a copied tag: %+v", out)
		}
		// Alice, a participant, with the subject tag only: joins when her
		// domain's DKIM signature passed; unproven, anyone could have
		// written her address, and the mail opens a ticket of its own.
		if out := e.deliver(mailMsg("alice@ext.example", support, "Re: "+tag, "tag only"), support); out.TicketID == tid || out.Verified {
			t.Errorf("unproven participant with the tag: %+v", out)
		}
		if out := e.deliver(mailMsg("alice@ext.example", support, "Re: "+tag, "tag only", dkimPass("ext.example")), support); out.TicketID != tid || !out.Verified {
			t.Errorf("participant with the tag: %+v", out)
		}

		// A reply token threads even for someone new.
		token := e.g.sig.tokenAddress(support, tid, false, "")
		if out := e.deliver(mailMsg("bob@ext.example", token, "fwd", "I see it too"), token); out.TicketID != tid || out.Action != "replied" {
			t.Errorf("token reply: %+v", out)
		}
		// A forged token is an unknown recipient.
		if ok, _ := e.g.KnownRecipient(ctx, strings.Replace(token, "+t", "+t9", 1)); ok {
			t.Error("a forged token is a known recipient")
		}

		// Staff on the comment address: an internal note, mailed to staff only.
		e.work()
		before := len(e.outbox())
		comment := "support-comment@" + testDomain
		note := mailMsg("staff@uni.example", comment, "Re: "+tag, "internal: it is the fuser", dkimPass("uni.example"))
		if out := e.deliver(note, comment); out.Action != "noted" || out.TicketID != tid {
			t.Fatalf("note: %+v", out)
		}
		ms = e.messages(tid)
		if !ms[len(ms)-1].Internal {
			t.Error("comment mail is not internal")
		}
		e.work()
		for _, o := range e.outbox()[:len(e.outbox())-before] {
			if o.To == "alice@ext.example" || o.To == "bob@ext.example" {
				t.Errorf("internal note mailed to %s: %+v", o.To, o)
			}
		}
		// The requester on the comment address: refused. A new subject: refused.
		_, err = e.g.Deliver(ctx, Envelope{Source: "test", Rcpts: []string{comment}}, mailMsg("alice@ext.example", comment, "Re: "+tag, "let me in"))
		var rej *Rejection
		if !errors.As(err, &rej) {
			t.Errorf("requester on the comment address: %v", err)
		}
		_, err = e.g.Deliver(ctx, Envelope{Source: "test", Rcpts: []string{comment}}, mailMsg("staff@uni.example", comment, "new thing", "x", dkimPass("uni.example")))
		if !errors.As(err, &rej) {
			t.Errorf("comment address without a ticket: %v", err)
		}

		// Staff replies publicly by mail to a notification: alice is told.
		e.work()
		ob = e.outbox()
		var notice *OutboxEntry
		for i := range ob {
			if ob[i].Kind == KindNewTicket && ob[i].TicketID == tid {
				notice = &ob[i]
			}
		}
		// Her reply goes to the Reply-To of the notice, a reply token of
		// her own: that proves her address.
		nraw, _ := e.g.OutboxRaw(ctx, notice.ID)
		nh := header(t, nraw)
		replyTo := strings.Trim(nh.Get("Reply-To"), "<>")
		staffReply := mailMsg("staff@uni.example", replyTo, "Re: x", "Switch it off.", "References: "+nh.Get("Message-Id"))
		if out := e.deliver(staffReply, replyTo); out.TicketID != tid || !out.Verified || out.Participant {
			t.Fatalf("staff reply: %+v", out)
		}
		e.work()
		if find(e.outbox(), KindReply, "alice@ext.example") == nil {
			t.Error("requester not told of the staff reply")
		}

		// Solved: a reply reopens it; solved long ago: a follow-up ticket.
		solved := ticket.Solved
		if _, err := e.tickets.Update(ctx, e.admin, tid, ticket.Update{Status: &solved}); err != nil {
			t.Fatal(err)
		}
		e.work()
		if find(e.outbox(), KindStatus, "alice@ext.example") == nil {
			t.Error("requester not told the ticket is solved")
		}
		if out := e.deliver(mailMsg("alice@ext.example", support, "Re: "+tag, "still broken", dkimPass("ext.example")), support); out.TicketID != tid {
			t.Fatalf("reply to solved: %+v", out)
		}
		if tk, _ := e.tickets.Get(ctx, e.admin, tid); tk.Status != ticket.Reopened {
			t.Errorf("status after a reply to a solved ticket: %s", tk.Status)
		}
		if _, err := e.tickets.Update(ctx, e.admin, tid, ticket.Update{Status: &solved}); err != nil {
			t.Fatal(err)
		}
		if err := e.db.Tx(context.Background(), func(q db.Querier) error {
			_, err := q.ExecContext(context.Background(), `UPDATE tickets SET solved_at = $1 WHERE id = $2`, time.Now().UTC().Add(-60*24*time.Hour), tid)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		out = e.deliver(mailMsg("alice@ext.example", support, "Re: "+tag, "again", dkimPass("ext.example")), support)
		if out.Action != "created" || out.TicketID == tid {
			t.Fatalf("reply long after solving: %+v", out)
		}
		rels, err := e.tickets.Relations(ctx, e.admin, out.TicketID)
		if err != nil || len(rels) == 0 || rels[0].Kind != "follow_up_of" {
			t.Errorf("follow-up relation: %+v %v", rels, err)
		}

		// Loops and bounces are quarantined; list mail gets no auto-reply.
		loop := mailMsg("alice@ext.example", support, "loop", "x", LoopHeader+": "+testDomain)
		if out := e.deliver(loop, support); out.Action != "quarantined" {
			t.Errorf("loop: %+v", out)
		}
		bounce := mailMsg("MAILER-DAEMON@mx.example", support, "Undelivered Mail", "gone", "Auto-Submitted: auto-replied")
		if out := e.deliver(bounce, support); out.Action != "quarantined" {
			t.Errorf("bounce: %+v", out)
		}
		list := mailMsg("carol@ext.example", support, "list post", "hello", "List-Id: <users.lists.example>", "Precedence: list")
		out = e.deliver(list, support)
		if out.Action != "created" {
			t.Fatalf("list mail: %+v", out)
		}
		e.work()
		if find(e.outbox(), KindAutoReply, "carol@ext.example") != nil {
			t.Error("auto-reply to list mail")
		}
		qs, _ := e.g.Quarantine(ctx, 0, 10)
		if len(qs) != 2 {
			t.Errorf("quarantine = %+v", qs)
		}
	})
}

func TestUnknownRecipientAndRejectUnknown(t *testing.T) {
	e := newEnv(t, "", func(o *Options) { o.RejectUnknown = true; o.CatchAll = false })
	ctx := context.Background()
	for addr, want := range map[string]bool{"support@" + testDomain: true, "SUPPORT-comment@" + testDomain: true, "helpdesk@" + testDomain: false, "nobody@" + testDomain: false} {
		if ok, err := e.g.KnownRecipient(ctx, addr); ok != want || err != nil {
			t.Errorf("KnownRecipient(%s) = %v, %v", addr, ok, err)
		}
	}
	_, err := e.g.Deliver(ctx, Envelope{Source: "test", Rcpts: []string{"support@" + testDomain}}, mailMsg("new@ext.example", "support@"+testDomain, "hi", "x"))
	var rej *Rejection
	if !errors.As(err, &rej) || !rej.NoUser {
		t.Errorf("unknown sender with RejectUnknown: %v", err)
	}
	// IMAP has nobody to bounce for it: the gateway sends the bounce.
	out, err := e.g.Deliver(ctx, Envelope{Source: "imap", BounceByMail: true}, mailMsg("new@ext.example", "support@"+testDomain, "hi", "x"))
	if err != nil || out.Action != "bounced" {
		t.Fatalf("bounce by mail: %+v %v", out, err)
	}
	if find(e.outbox(), KindBounce, "new@ext.example") == nil {
		t.Error("no bounce in the outbox")
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, "", func(o *Options) { o.RateLimit = 3 })
	for i := range 6 {
		e.deliver(mailMsg("dave@ext.example", "support@"+testDomain, fmt.Sprint("n", i), "x"), "support@"+testDomain)
	}
	e.work()
	states := map[string]int{}
	for _, o := range e.outbox() {
		if o.To == "dave@ext.example" {
			states[o.State]++
		}
	}
	if states["held"] != 3 || states["suppressed"] != 3 {
		t.Errorf("auto-replies to one address: %v", states)
	}
}
