package mail

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/testenv"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// TestBatchedMailThroughPostfix (issue 16.6): a staff reply and two status
// changes within the batch window reach the requester as ONE mail, through
// Postfix into their Dovecot mailbox, telling all three and answerable like
// each; the staff's notices are not held back.
func TestBatchedMailThroughPostfix(t *testing.T) {
	mta, local := testenv.MTA(t), testenv.LocalDomain(t)
	imapAddr, users := testenv.IMAP(t)
	const window = 1500 * time.Millisecond
	e := newEnv(t, "", func(o *Options) { o.Relay = "smtp://" + mta; o.Batch = window })
	ctx := context.Background()
	tok := token(t)
	requester := "hmtest@" + local
	ann := e.requester(requester, "HM Test")
	tk, err := e.tickets.Create(ctx, ann, ticket.NewTicket{Subject: "Batch " + tok, Body: "help", UnitID: e.unit.ID})
	if err != nil {
		t.Fatal(err)
	}
	staff, err := e.users.Principal(ctx, e.staff.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.tickets.AddMessage(ctx, staff, tk.ID, ticket.NewMessage{Body: "Please restart it " + tok}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []ticket.Status{ticket.InProgress, ticket.WaitingForReply} {
		if _, err := e.tickets.Update(ctx, staff, tk.ID, ticket.Update{Status: &s}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	e.work()
	if time.Since(start) >= window {
		t.Skip("the machine is too slow for a window of " + window.String())
	}
	if n := e.count(`SELECT COUNT(*) FROM mail_gathering WHERE ticket_id = $1 AND rcpt = $2`, tk.ID, requester); n != 3 {
		t.Fatalf("%d notices gathered for the requester, want 3", n)
	}
	if ar := find(e.outbox(), KindAutoReply, requester); ar == nil {
		t.Error("the auto-reply of the new ticket was held back")
	}
	time.Sleep(window + 100*time.Millisecond)
	e.work()

	var toRequester []OutboxEntry
	for _, o := range e.outbox() {
		if o.To == requester && o.Kind != KindAutoReply && o.TicketID == tk.ID {
			toRequester = append(toRequester, o)
		}
	}
	if len(toRequester) != 1 || toRequester[0].Kind != KindDigest || toRequester[0].State != "sent" {
		t.Fatalf("mails to the requester after the window: %+v, want one sent digest", toRequester)
	}
	if n := e.count(`SELECT COUNT(*) FROM mail_gathering`); n != 0 {
		t.Errorf("%d notices left gathered", n)
	}
	raw := fetchDelivered(t, imapAddr, "hmtest", users["hmtest"], toRequester[0].MessageID)
	body := textBody(t, raw)
	for _, want := range []string{"Please restart it " + tok, "is now in_progress", "is now waiting_for_reply", "/tickets/"} {
		if !strings.Contains(body, want) {
			t.Errorf("the mail does not tell %q:\n%s", want, body)
		}
	}
	h := header(t, raw)
	if !strings.Contains(h.Get("Reply-To"), "+t") || !strings.Contains(h.Get("References"), "<hm.") {
		t.Errorf("the mail is not answerable into the ticket: Reply-To %q References %q", h.Get("Reply-To"), h.Get("References"))
	}
}
