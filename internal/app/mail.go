package app

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/helpmesh/helpmesh/internal/api"
	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/jobs"
	"github.com/helpmesh/helpmesh/internal/mail"
	"github.com/helpmesh/helpmesh/internal/web"
)

// buildMail sets up the durable job queue and the email gateway: the
// gateway follows the event stream as "mail", the queue's workers and (with HELPMESH_SMTP) the
// inbound SMTP listener and (with HELPMESH_IMAP_URL) the IMAP poller run as
// workers.
func (a *App) buildMail(ctx context.Context) error {
	secret, err := mail.LoadSecret(ctx, a.Settings, a.Config.Secret)
	if err != nil {
		return err
	}
	smime, err := a.Config.SMIMESigner(time.Now())
	if err != nil {
		return fmt.Errorf("HELPMESH_SMIME_CERT/HELPMESH_SMIME_KEY: %w", err)
	}
	a.Jobs = jobs.New(a.DB, jobs.Options{Workers: 8, Batch: 32, Poll: 250 * time.Millisecond, Log: a.Log})
	g, err := mail.New(mail.Options{
		DB: a.DB, Events: a.Events, Tickets: a.Tickets, Users: a.Users, Units: a.Units, Blobs: a.Blobs, Log: a.Log,
		Domain: a.Config.Domain(), Address: a.Config.MailFrom, CatchAll: true, Tag: a.Config.SubjectTag,
		BaseURL: a.Config.PublicURL(), Secret: secret, Relay: a.Config.SMTPRelay,
		MaxAttachmentBytes: a.Config.MaxUploadBytes,
		AuthServID:         a.Config.MailAuthServID,
		RejectUnknown:      a.Config.MailRejectUnknown, ReopenWindow: a.Config.MailReopenWindow, Batch: a.Config.MailBatch,
		SMIME: smime, BulkInterval: a.Config.BulkMailInterval,
	})
	if err != nil {
		return err
	}
	a.Mail = g
	a.Units.Reserved = g.ReservedAddress
	g.Register(a.Jobs)
	a.AddWorker(a.Jobs.Run)
	a.AddWorker(func(ctx context.Context) error {
		if n, err := g.Release(ctx); err != nil {
			return err
		} else if n > 0 {
			a.Log.Info("queued held mail for the relay", "mails", n)
		}
		return nil
	})
	if a.Config.IMAPURL != "" {
		mb, err := a.Config.IMAPMailbox()
		if err != nil {
			return fmt.Errorf("HELPMESH_IMAP_URL: %w", err)
		}
		poller := g.NewIMAPPoller(mail.IMAPOptions{Addr: mb.Addr, Username: mb.Username, Password: mb.Password,
			Mailbox: mb.Mailbox, Security: mb.Security, Interval: a.Config.IMAPInterval, Address: mb.Address})
		a.Log.Info("polling IMAP", "mailbox", mb.Username+"@"+mb.Addr+"/"+mb.Mailbox, "every", a.Config.IMAPInterval)
		a.AddWorker(poller.Run)
	}
	if a.Config.SMTPAddr != "" {
		a.AddWorker(func(ctx context.Context) error {
			ln, err := net.Listen("tcp", a.Config.SMTPAddr)
			if err != nil {
				return fmt.Errorf("smtp listener: %w", err)
			}
			a.Log.Info("inbound SMTP listening", "addr", ln.Addr().String())
			return g.NewSMTPServer(mail.SMTPOptions{}).Serve(ctx, ln)
		})
	}
	return nil
}

// webOutbox shows the gateway's outbox and quarantine on the admin pages,
// and lets administrators send failed mail again or discard it.
type webOutbox struct{ g *mail.Gateway }

// previewLength is how much of a mail's text the admin mail page shows.
const previewLength = 240

func (o webOutbox) Outgoing(ctx context.Context, before int64, limit int) ([]web.OutboxMail, error) {
	es, err := o.g.Outbox(ctx, "", before, limit)
	if err != nil {
		return nil, err
	}
	ms := make([]web.OutboxMail, len(es))
	for i, e := range es {
		ms[i] = web.OutboxMail{ID: e.ID, TicketID: e.TicketID, Kind: e.Kind, To: e.To, Subject: e.Subject, State: e.State,
			Attempts: e.Attempts, LastError: e.LastError, CreatedAt: e.CreatedAt}
		// A mail deleted since the list was read keeps no preview.
		if ms[i].Preview, err = o.g.OutboxPreview(ctx, e.ID, previewLength); err != nil && !apperr.Is(err, apperr.NotFound) {
			return nil, err
		}
	}
	return ms, nil
}

func (o webOutbox) Quarantined(ctx context.Context, before int64, limit int) ([]web.OutboxMail, error) {
	qs, err := o.g.Quarantine(ctx, before, limit)
	ms := make([]web.OutboxMail, len(qs))
	for i, q := range qs {
		ms[i] = web.OutboxMail{ID: q.ID, To: q.From, Subject: q.Subject, State: "quarantined", LastError: q.Reason, CreatedAt: q.ReceivedAt}
	}
	return ms, err
}

func (o webOutbox) Retry(ctx context.Context, id int64) error { return o.g.Retry(ctx, id) }

func (o webOutbox) Discard(ctx context.Context, id int64) error { return o.g.Discard(ctx, id) }

// webMailer lets the web portal mail sign-in and reset links through the
// gateway's outbox.
type webMailer struct{ g *mail.Gateway }

func (m webMailer) Send(ctx context.Context, to, subject, text string) error {
	return m.g.SendText(ctx, to, subject, text)
}

// mailStats gives /metrics the mail gateway's figures.
func (a *App) mailStats(ctx context.Context) (api.MailStats, error) {
	st, err := a.Mail.Stats(ctx)
	return api.MailStats{Outbox: st.Outbox, OldestWaiting: st.OldestWaiting, Quarantined: st.Quarantined, Gathering: st.Gathering}, err
}
