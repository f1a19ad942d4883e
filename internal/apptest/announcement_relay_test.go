package apptest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/mail"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// TestAnnouncementPacedThroughRelay: an announcement to the requesters of
// a service goes through the relay (Postfix) into the real mailboxes
// (Dovecot) one mail per HELPMESH_BULK_MAIL_INTERVAL, while a ticket mail
// written after it goes out at once, ahead of the announcement's second
// mail; GET /api/v1/announcements/{id} counts the mails sent.
func TestAnnouncementPacedThroughRelay(t *testing.T) {
	mta, local := testenv.MTA(t), testenv.LocalDomain(t)
	imapAddr, users := testenv.IMAP(t)
	const interval = 2 * time.Second
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e, func(cfg *config.Config) {
			cfg.SMTPRelay = "smtp://" + mta
			cfg.MailFrom = "helpdesk@helpmesh.test"
			cfg.BulkMailInterval = interval
		})
		ctx := context.Background()
		in.NewUnit(t, "grid", false)
		in.NewService(t, "storage", "grid")
		rcpts := []string{"hmtest@" + local, "hmstaff@" + local}
		var clients []*client.Client
		for _, a := range rcpts {
			_, c := in.NewUser(t, a, "user")
			if _, err := c.CreateTicket(ctx, client.NewTicket{Subject: "quota", Body: "more please", Service: "storage"}); err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
		}
		var an struct{ ID int64 }
		if err := in.Admin.Do(ctx, "POST", "/api/v1/announcements", map[string]any{"title": fmt.Sprintf("Storage moves (%s)", e),
			"body": "On 1 April.", "services": []string{"storage"}, "audience": []string{"requesters"}}, &an); err != nil {
			t.Fatal(err)
		}
		// A ticket written after the announcement.
		tk, err := clients[1].CreateTicket(ctx, client.NewTicket{Subject: "after", Body: "written after the announcement", Service: "storage"})
		if err != nil {
			t.Fatal(err)
		}

		var progress struct{ Recipients, Sent int }
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if err := in.Admin.Do(ctx, "GET", fmt.Sprintf("/api/v1/announcements/%d", an.ID), nil, &progress); err != nil {
				t.Fatal(err)
			}
			if progress.Sent == 2 {
				break
			}
		}
		if progress.Recipients != 2 || progress.Sent != 2 {
			t.Fatalf("progress %+v, want 2 mails, 2 sent", progress)
		}
		entries, err := in.App.Mail.Outbox(ctx, "", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var bulk []mail.OutboxEntry
		var ticketMail *mail.OutboxEntry
		for i, m := range entries {
			switch {
			case m.Kind == mail.KindAnnouncement:
				bulk = append(bulk, m)
			case m.TicketID == tk.ID && m.Kind == mail.KindAutoReply:
				ticketMail = &entries[i]
			}
		}
		if len(bulk) != 2 || ticketMail == nil || ticketMail.SentAt == nil {
			t.Fatalf("announcement mails %+v, ticket mail %+v", bulk, ticketMail)
		}
		first, last := *bulk[0].SentAt, *bulk[1].SentAt
		if first.After(last) {
			first, last = last, first
		}
		// SentAt is when the relay took a mail: the first one may also
		// wait for the connection to be set up, so the gap can be shorter
		// than the pace by that much; without pacing it would be a few ms.
		if gap := last.Sub(first); gap < interval/2 {
			t.Errorf("the announcement's mails went %s apart, want about %s", gap, interval)
		}
		if !ticketMail.SentAt.Before(last) {
			t.Errorf("the ticket mail (sent %s) waited behind the announcement (last sent %s)", ticketMail.SentAt, last)
		}
		for _, m := range bulk {
			account := strings.Split(m.To, "@")[0]
			raw := string(testenv.FetchDelivered(t, imapAddr, account, users[account], m.MessageID))
			if !strings.Contains(raw, "Storage moves") || !strings.Contains(raw, "text/html") || strings.Contains(raw, "List-Unsubscribe") {
				t.Errorf("delivered to %s:\n%s", account, raw)
			}
		}
	})
}
