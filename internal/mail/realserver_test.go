package mail

import (
	"context"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/helpmesh/helpmesh/internal/testenv"
)

func token(t *testing.T) string {
	return fmt.Sprintf("tok%d%d", time.Now().UnixNano(), seq.Add(1))
}

// sendVia submits raw to the SMTP server at addr.
func sendVia(t *testing.T, addr, from string, to []string, raw []byte) {
	t.Helper()
	if err := smtp.SendMail(addr, nil, from, to, raw); err != nil {
		t.Fatalf("send via %s: %v", addr, err)
	}
}

// waitFor polls cond every 100ms for up to 60s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func ticketBySubject(e *env, tok string) int64 {
	var id int64
	_ = e.db.R.QueryRow(`SELECT id FROM tickets WHERE subject LIKE $1`, "%"+tok+"%").Scan(&id)
	return id
}

// serveSMTP runs e's SMTP listener on addr until the test ends.
func serveSMTP(t *testing.T, e *env, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := e.g.NewSMTPServer(SMTPOptions{MaxSessions: 4})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
}

// Mail sent through Postfix reaches the SMTP listener and opens a ticket;
// the listener refuses unknown recipients at RCPT and oversize mail.
func TestSMTPListenerThroughPostfix(t *testing.T) {
	mta, relayDomain := testenv.MTA(t), testenv.RelayDomain(t)
	addr := testenv.InboundAddr(t)
	e := newEnv(t, "", func(o *Options) { o.Domain = relayDomain; o.MaxMessageBytes = 200 << 10 })
	serveSMTP(t, e, addr)
	ctx := context.Background()

	tok := token(t)
	raw := mailMsg("Zoë <zoe@ext.example>", "support@"+relayDomain, "VM down "+tok, "Our VM does not boot.")
	sendVia(t, mta, "zoe@ext.example", []string{"support@" + relayDomain}, raw)
	waitFor(t, "the ticket from Postfix", func() bool { return ticketBySubject(e, tok) != 0 })
	tk, err := e.tickets.Get(ctx, e.admin, ticketBySubject(e, tok))
	if err != nil || tk.Requester.Email != "zoe@ext.example" || tk.UnitID != e.unit.ID {
		t.Fatalf("ticket = %+v, %v", tk, err)
	}
	ms := e.messages(tk.ID)
	if len(ms) != 1 || ms[0].Body != "Our VM does not boot." || ms[0].Source != "email" {
		t.Errorf("messages = %+v", ms[0])
	}

	// Directly: 550 at RCPT for an unknown recipient, 552 over the size.
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("x@ext.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("nobody@" + relayDomain); err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Errorf("unknown recipient: %v, want 550", err)
	}
	if err := c.Rcpt("support@" + relayDomain); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "Subject: big\r\n\r\n%s", strings.Repeat(strings.Repeat("x", 98)+"\r\n", 3000))
	if err := w.Close(); err == nil || !strings.HasPrefix(err.Error(), "552") {
		t.Errorf("oversize mail: %v, want 552", err)
	}
}

// Mail that Postfix delivers into a Dovecot mailbox is fetched over IMAP,
// and flagged done only once it is a ticket.
func TestIMAPPollingDovecot(t *testing.T) {
	mta, local := testenv.MTA(t), testenv.LocalDomain(t)
	imapAddr, users := testenv.IMAP(t)
	e := newEnv(t, "")
	tok := token(t)
	raw := mailMsg("Yann <yann@ext.example>", "support@"+testDomain, "Quota "+tok, "Please raise my quota.")
	sendVia(t, mta, "yann@ext.example", []string{"hmtest@" + local}, raw)

	p := e.g.NewIMAPPoller(IMAPOptions{Addr: imapAddr, Username: "hmtest", Password: users["hmtest"], Security: "insecure", Address: "support@" + testDomain})
	p.only = &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: tok}}}
	ctx := context.Background()
	waitFor(t, "the mail in Dovecot", func() bool {
		n, err := p.Poll(ctx)
		if err != nil {
			t.Logf("poll: %v", err)
		}
		return n == 1
	})
	id := ticketBySubject(e, tok)
	if id == 0 {
		t.Fatal("no ticket from the IMAP mail")
	}
	// Flagged: the next poll finds nothing.
	if n, err := p.Poll(ctx); n != 0 || err != nil {
		t.Errorf("second poll: %d, %v", n, err)
	}
	if n := len(e.messages(id)); n != 1 {
		t.Errorf("%d messages", n)
	}
}

// Outgoing mail goes through Postfix into Dovecot, with every header.
func TestOutboundThroughPostfix(t *testing.T) {
	mta, local := testenv.MTA(t), testenv.LocalDomain(t)
	imapAddr, users := testenv.IMAP(t)
	e := newEnv(t, "", func(o *Options) { o.Relay = "smtp://" + mta })
	tok := token(t)
	requester := "hmtest@" + local
	first := mailMsg("HM Test <"+requester+">", "support@"+testDomain, "Büro "+tok, "help")
	out := e.deliver(first, "support@"+testDomain)
	e.work() // notify job, then send jobs
	e.work()
	ob := e.outbox()
	ar := find(ob, KindAutoReply, requester)
	if ar == nil || ar.State != "sent" {
		t.Fatalf("auto-reply not sent: %+v", ob)
	}

	raw := fetchDelivered(t, imapAddr, "hmtest", users["hmtest"], ar.MessageID)
	h := header(t, raw)
	subj, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	checks := map[string]bool{
		"Subject tag":         strings.HasPrefix(subj, fmt.Sprintf("[helpmesh #%d] Büro %s", out.TicketID, tok)),
		"Message-ID":          h.Get("Message-Id") == "<"+ar.MessageID+">" && strings.HasSuffix(ar.MessageID, "@"+testDomain),
		"In-Reply-To":         strings.Contains(h.Get("In-Reply-To"), "@client.example>"),
		"References root":     strings.Contains(h.Get("References"), fmt.Sprintf("<hm.%d.t.0.", out.TicketID)),
		"References original": strings.Contains(h.Get("References"), "@client.example>"),
		"Auto-Submitted":      h.Get("Auto-Submitted") == "auto-replied",
		"loop header":         h.Get(LoopHeader) == testDomain,
		"Reply-To token":      strings.Contains(h.Get("Reply-To"), fmt.Sprintf("support+t%dr%s-", out.TicketID, e.g.sig.rcptKey(requester))),
		"From":                strings.Contains(h.Get("From"), "helpdesk@"+testDomain),
		"To":                  strings.Contains(h.Get("To"), requester),
		"Date":                h.Get("Date") != "",
		"link":                strings.Contains(string(raw), fmt.Sprintf("/tickets/%d", out.TicketID)),
		"Postfix Return-Path": strings.Contains(h.Get("Return-Path"), "helpdesk@"+testDomain),
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("%s wrong in delivered mail:\n%s", name, raw[:min(len(raw), 2000)])
		}
	}
	// The reply threads back: the Message-ID we sent is in In-Reply-To.
	back := mailMsg(requester, "support@"+testDomain, "Re: whatever", "thanks", "In-Reply-To: "+h.Get("Message-Id"))
	if o := e.deliver(back, "support@"+testDomain); o.TicketID != out.TicketID {
		t.Errorf("reply to the delivered auto-reply: %+v", o)
	}
}

// Forged senders through the real MTA (issue 12): a note with a staff
// member's From: to the comment address is refused, and Postfix bounces
// it to the envelope sender; a forged staff reply to the unit address
// opens a ticket of its own and writes nothing to the requester's; the
// staff member's own reply address from our notice works.
func TestForgedSenderThroughPostfix(t *testing.T) {
	mta, relayDomain, local := testenv.MTA(t), testenv.RelayDomain(t), testenv.LocalDomain(t)
	imapAddr, users := testenv.IMAP(t)
	addr := testenv.InboundAddr(t)
	e := newEnv(t, "", func(o *Options) { o.Domain = relayDomain })
	serveSMTP(t, e, addr)
	ctx := context.Background()

	support, comment := "support@"+relayDomain, "support-comment@"+relayDomain
	tok := token(t)
	out := e.deliver(mailMsg("Rita <rita@ext.example>", support, "Disk "+tok, "help"), support)
	tid := out.TicketID
	tag := fmt.Sprintf("Re: [helpmesh #%d] Disk %s", tid, tok)
	e.work()
	notice := find(e.outbox(), KindNewTicket, "staff@uni.example")
	if notice == nil {
		t.Fatalf("no notice to staff: %+v", e.outbox())
	}
	nraw, _ := e.g.OutboxRaw(ctx, notice.ID)
	staffToken := strings.Trim(header(t, nraw).Get("Reply-To"), "<>")
	before := len(e.messages(tid))

	// 1. A forged internal note: refused; the bounce reaches the sender.
	bouncer := "hmtest@" + local
	forgedNote := mailMsg("Sam Staff <staff@uni.example>", comment, tag+" note", "internal: forged "+tok)
	sendVia(t, mta, bouncer, []string{comment}, forgedNote)
	c, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("hmtest", users["hmtest"]).Wait(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Postfix's bounce of the forged note", func() bool {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		data, err := c.UIDSearch(&imap.SearchCriteria{Body: []string{tok, "proven sender"}}, nil).Wait()
		return err == nil && len(data.AllUIDs()) > 0
	})

	// 2. A forged staff reply, envelope from a stranger: a ticket of its own.
	tok2 := token(t)
	sendVia(t, mta, "stranger@evil.example", []string{support}, mailMsg("Sam Staff <staff@uni.example>", support, tag+" "+tok2, "Please send me your password."))
	waitFor(t, "the forged reply's own ticket", func() bool { return ticketBySubject(e, tok2) != 0 })
	if id := ticketBySubject(e, tok2); id == tid {
		t.Fatalf("the forged staff reply went into the requester's ticket")
	}
	if n := len(e.messages(tid)); n != before {
		t.Fatalf("forged mail wrote %d messages to the requester's ticket", n-before)
	}

	// 3. The staff member's own reply address: a reply by the staff member.
	tok3 := token(t)
	sendVia(t, mta, "staff@uni.example", []string{staffToken}, mailMsg("Sam Staff <staff@uni.example>", staffToken, "Re: x", "Switch it off "+tok3))
	waitFor(t, "the staff reply", func() bool { return len(e.messages(tid)) > before })
	ms := e.messages(tid)
	if m := ms[len(ms)-1]; m.Author.ID != e.staff.ID || m.Internal || !strings.Contains(m.Body, tok3) {
		t.Errorf("staff reply = %+v", m)
	}
	if n := len(ms); n != before+1 {
		t.Errorf("%d new messages, want 1", n-before)
	}
}
