package mail

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/testenv"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// TestRedirectThroughPostfix (the integration mode redirect, issue 14):
// a ticket of a service in the mode redirect reaches its unit's list (a
// real mailbox, through Postfix and Dovecot) with the full text and the
// list's reply token; a reply to that token from an outside address that
// is no helpmesh user comes back through Postfix and the SMTP listener as
// a public staff reply by the list, and its requester gets it by mail; a
// forged reply from the same address without the token writes nothing to
// the ticket; the requester's next reply goes to the list again.
func TestRedirectThroughPostfix(t *testing.T) {
	mta, relayDomain, local := testenv.MTA(t), testenv.RelayDomain(t), testenv.LocalDomain(t)
	imapAddr, users := testenv.IMAP(t)
	addr := testenv.InboundAddr(t)
	e := newEnv(t, "", func(o *Options) { o.Domain = relayDomain; o.Relay = "smtp://" + mta })
	serveSMTP(t, e, addr)
	ctx := context.Background()

	list := "hmtest@" + local
	net2, err := e.units.CreateUnit(ctx, unit.Unit{Slug: "network", Name: "Network", Email: list})
	if err != nil {
		t.Fatal(err)
	}
	sv, err := e.units.CreateService(ctx, unit.Service{Slug: "vpn", Name: "VPN", UnitID: net2.ID, UnitSlug: net2.Slug, Mode: unit.Redirect})
	if err != nil {
		t.Fatal(err)
	}
	requester := "hmstaff@" + local
	ru, err := e.users.Create(ctx, user.NewUser{Email: requester, Name: "Rita"})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := e.users.Principal(ctx, ru.ID)
	if err != nil {
		t.Fatal(err)
	}
	tok := token(t)
	tk, err := e.tickets.Create(ctx, rp, ticket.NewTicket{Subject: "VPN drops " + tok, Body: "The VPN drops every hour " + tok, ServiceID: sv.ID, UnitID: net2.ID, Source: ticket.FromWeb})
	if err != nil {
		t.Fatal(err)
	}
	tid := tk.ID
	e.work()

	// 1. The list's mailbox gets the new ticket, threaded, with its token.
	notice := find(e.outbox(), KindNewTicket, list)
	if notice == nil || notice.State != "sent" {
		t.Fatalf("no new-ticket mail sent to the list: %+v", e.outbox())
	}
	raw := fetchDelivered(t, imapAddr, "hmtest", users["hmtest"], notice.MessageID)
	h := header(t, raw)
	replyTo := strings.Trim(h.Get("Reply-To"), "<>")
	listTok := fmt.Sprintf("+t%dl%s-", tid, e.g.sig.rcptKey(list))
	if !strings.Contains(replyTo, listTok) || !strings.Contains(string(raw), "The VPN drops every hour "+tok) ||
		!strings.Contains(h.Get("References"), fmt.Sprintf("<hm.%d.t.0.", tid)) {
		t.Fatalf("the list's mail (Reply-To %q):\n%s", replyTo, raw)
	}

	// 2. A forged reply from an outsider, without the token: not the list's.
	before := len(e.messages(tid))
	tok2 := token(t)
	subject := fmt.Sprintf("Re: [helpmesh #%d] VPN drops %s", tid, tok)
	sendVia(t, mta, "nat@net.example", []string{"helpdesk@" + relayDomain},
		mailMsg("Nat <nat@net.example>", "helpdesk@"+relayDomain, subject+" "+tok2, "Forged: please send your password "+tok2))
	waitFor(t, "the forged reply's own ticket", func() bool { return ticketBySubject(e, tok2) != 0 })
	if id := ticketBySubject(e, tok2); id == tid {
		t.Fatal("the forged reply went into the redirected ticket")
	}

	// 3. Another outsider, no user either, replies to the list's token: a public staff
	// reply by the list.
	tok3 := token(t)
	sendVia(t, mta, "olga@net.example", []string{replyTo},
		mailMsg("Olga <olga@net.example>", replyTo, subject, "Restarted the concentrator "+tok3, "In-Reply-To: <"+notice.MessageID+">"))
	waitFor(t, "the list's reply", func() bool { return len(e.messages(tid)) > before })
	ms := e.messages(tid)
	if len(ms) != before+1 {
		t.Fatalf("%d new messages, want 1", len(ms)-before)
	}
	if m := ms[len(ms)-1]; m.Author.ID != 0 || m.Author.Email != list || m.Author.Name != "Network" || m.Internal || !strings.Contains(m.Body, tok3) {
		t.Errorf("the list's reply = %+v", m)
	}
	if _, err := e.users.GetByEmail(ctx, "olga@net.example"); err == nil {
		t.Error("the list's member became a user")
	}
	hs, err := e.tickets.History(ctx, e.admin, tid)
	if err != nil {
		t.Fatal(err)
	}
	if hh := hs[len(hs)-1]; hh.Action != "replied" || hh.Actor != "list "+list+" (by mail)" || hh.ActorID != 0 {
		t.Errorf("history: %+v", hh)
	}

	// 4. The requester gets it by mail, as a staff reply; the list is not
	// told of its own reply.
	e.work()
	var toRequester *OutboxEntry
	for _, m := range e.outbox() {
		if m.Kind == KindReply && m.TicketID == tid && m.To == list {
			t.Errorf("the list was told of its own reply: %+v", m)
		}
		if m.Kind == KindReply && m.TicketID == tid && m.To == requester {
			toRequester = &m
		}
	}
	if toRequester == nil || toRequester.State != "sent" {
		t.Fatalf("no reply mail to the requester: %+v", e.outbox())
	}
	raw = fetchDelivered(t, imapAddr, "hmstaff", users["hmstaff"], toRequester.MessageID)
	if s := string(raw); !strings.Contains(s, "Restarted the concentrator "+tok3) || !strings.Contains(s, "Network wrote") || strings.Contains(s, "olga@net.example") {
		t.Errorf("the requester's mail:\n%s", s)
	}

	// 5. The requester answers in the web: the list is told again.
	if _, err := e.tickets.AddMessage(ctx, rp, tid, ticket.NewMessage{Body: "Still drops " + tok, Source: ticket.FromWeb}); err != nil {
		t.Fatal(err)
	}
	e.work()
	n := 0
	for _, m := range e.outbox() {
		if m.Kind == KindReply && m.TicketID == tid && m.To == list {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d reply mails to the list, want 1", n)
	}
}

// TestListTokenRules: only a valid list token of the ticket the mail
// threads to, while the ticket is redirected to that list, makes a reply
// the list's; a forged signature, a token for another list, a token of
// another ticket and a ticket that left the mode redirect do not. The
// other reply tokens still read as before.
func TestListTokenRules(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	list := "ops-list@lists.example"
	ops, err := e.units.CreateUnit(ctx, unit.Unit{Slug: "ops", Name: "Operations", Email: list, Mode: unit.Redirect})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := e.tickets.Create(ctx, e.admin, ticket.NewTicket{Subject: "A", Body: "help", UnitID: ops.ID, RequesterID: e.staff.ID})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.tickets.Create(ctx, e.admin, ticket.NewTicket{Subject: "B", Body: "help", UnitID: ops.ID, RequesterID: e.staff.ID})
	if err != nil {
		t.Fatal(err)
	}
	helpdesk := "helpdesk@" + testDomain
	good := e.g.sig.listTokenAddress(helpdesk, tk.ID, list)
	forged := strings.Replace(good, "-", "-x", 1)
	otherList := e.g.sig.listTokenAddress(helpdesk, tk.ID, "someone@lists.example")
	otherTicket := e.g.sig.listTokenAddress(helpdesk, other.ID, list)
	lastBy := func(id int64) *ticket.Message {
		ms := e.messages(id)
		return ms[len(ms)-1]
	}
	reply := func(to string, headers ...string) Outcome {
		out, err := e.g.Deliver(ctx, Envelope{Source: "test", MailFrom: "olga@net.example", HasMailFrom: true, Rcpts: []string{to}},
			mailMsg("Olga <olga@net.example>", to, "Re: A", "answer", headers...))
		if err != nil {
			return Outcome{Action: "refused " + err.Error()}
		}
		return out
	}
	for _, c := range []struct {
		name, to string
	}{{"a forged signature", forged}, {"another list's token", otherList}} {
		if out := reply(c.to); out.TicketID == tk.ID && lastBy(tk.ID).Author.Email == list {
			t.Errorf("%s: the list's reply: %+v", c.name, out)
		}
	}
	// A list token of another ticket, threaded to this one by our
	// Message-ID: the ticket is this one, but the token is not for it.
	rootA := e.g.sig.rootID(tk.ID, testDomain)
	if out := reply(otherTicket, "In-Reply-To: <"+rootA+">"); out.TicketID == tk.ID && lastBy(tk.ID).Author.Email == list {
		t.Errorf("another ticket's list token: %+v", out)
	}
	// The good token: the list's public reply.
	if out := reply(good); out.Action != "replied" || out.TicketID != tk.ID || !out.Verified {
		t.Fatalf("the list's token: %+v", out)
	} else if m := lastBy(tk.ID); m.Author.Email != list || m.Author.ID != 0 || m.Internal {
		t.Errorf("the list's reply: %+v", m)
	}
	// Out of the mode redirect: the same token is the list's no more.
	ops.Mode = unit.Direct
	if _, err := e.units.UpdateUnit(ctx, *ops); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the notifier's unit cache
	if out := reply(good); out.TicketID == tk.ID && lastBy(tk.ID).Author.Email == list {
		t.Errorf("after the mode changed: the list's reply: %+v", out)
	}
	// The other tokens read as they did.
	for _, rcpt := range []string{"ann@uni.example", "x@l.example", "lll@r.example"} {
		addr := e.g.sig.tokenAddress(helpdesk, 42, false, rcpt)
		if tok, ok := e.g.sig.parseTokenAddress(addr); !ok || tok.ticketID != 42 || tok.rkey != e.g.sig.rcptKey(rcpt) || tok.lkey != "" {
			t.Errorf("token %s: %+v %v", addr, tok, ok)
		}
	}
}
