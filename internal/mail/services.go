package mail

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/notify"
	"github.com/helpmesh/helpmesh/internal/subscription"
)

// Mail about services (issue 17): the gateway's second follower of the
// event stream, "mail-services", mails what package notify's
// ServiceNotifier decides of incidents, changes and announcements, and the
// subscription store has it queue confirmation mails. Each is plain text
// with an HTML alternative, links to /status, and, to a subscriber, an
// unsubscribe link and the List-Unsubscribe headers of RFC 8058 (one-click
// POST). They go through the outbox like ticket mail (the same rate limit
// per recipient), but their send jobs are paced: each gets a slot
// BulkInterval after the previous one (job kind mail.send_bulk), and the
// job queue runs jobs by due time, so a big announcement never holds back
// the mail of a ticket written meanwhile.

//go:embed templates/*.html
var htmlFS embed.FS

var htmlTemplates = htmltemplate.Must(htmltemplate.New("").Funcs(htmltemplate.FuncMap{"label": label}).ParseFS(htmlFS, "templates/*.html"))

// Kinds of mail about services.
const (
	KindIncident     = string(notify.IncidentNotice)
	KindChange       = string(notify.ChangeNotice)
	KindAnnouncement = string(notify.AnnouncementNotice)
	// KindSubscription asks an address to confirm its subscription.
	KindSubscription = "subscription"
)

// JobSendBulk sends one paced outbox row (mail about services).
const JobSendBulk = "mail.send_bulk"

// serviceFollower is the gateway's second name in the event stream.
const serviceFollower = "mail-services"

// DefaultBulkInterval paces mail about services: 10 mails a second.
const DefaultBulkInterval = 100 * time.Millisecond

// FollowServices registers the follower that mails what n decides of
// incidents, changes and announcements; call it before the event stream
// starts.
func (g *Gateway) FollowServices(n *notify.ServiceNotifier) {
	g.services = n
	g.opts.Events.Follow(serviceFollower, g.tellServices, event.FollowOptions{Batch: 8})
}

// ServiceNotifierOptions returns opts with the gateway's own addresses as
// those never told.
func (g *Gateway) ServiceNotifierOptions(opts notify.ServiceOptions) notify.ServiceOptions {
	opts.Internal = func(addr string) bool { return g.ours(addr) || addr == g.opts.Address }
	return opts
}

// serviceMail is what the templates of mail about services read.
type serviceMail struct {
	Type       string
	Title      string
	Body       string
	Services   []string // names
	Status     string
	Impact     string
	Components []componentLine
	Change     *notify.ChangeWindow
	Window     string
	Lead       string
	StatusURL  string
	ItemURL    string
	// Unsubscribe is the unsubscribe URL of a subscriber's mail.
	Unsubscribe string
	// Confirm is the confirmation URL of a subscription request; All that
	// it is to every service.
	Confirm string
	All     bool
}

type componentLine struct{ Name, Status string }

// tellServices is the follower's event.Handler.
func (g *Gateway) tellServices(ctx context.Context, evs []event.Event) (event.Commit, error) {
	var cs []composed
	for _, e := range evs {
		if !slices.Contains(notify.ServiceEvents, e.Type) {
			continue
		}
		d, err := g.services.Decide(ctx, e)
		if err != nil {
			return nil, err
		}
		if d == nil {
			continue
		}
		for _, n := range d.Notices {
			m, err := g.serviceNotice(d, n)
			if err != nil {
				return nil, err
			}
			cs = append(cs, g.prepare(m))
		}
	}
	if len(cs) == 0 {
		return nil, nil
	}
	return func(ctx context.Context, q db.Querier) error {
		if err := g.storeAll(ctx, q, cs); err != nil {
			return err
		}
		if jq := g.jobs.Load(); jq != nil && g.opts.Relay != "" {
			time.AfterFunc(wakeDelay, jq.Wake)
		}
		return nil
	}, nil
}

// serviceNotice is the mail of notice n of decision d.
func (g *Gateway) serviceNotice(d *notify.ServiceDecision, n notify.ServiceNotice) (outMail, error) {
	base := strings.TrimRight(g.opts.BaseURL, "/")
	data := serviceMail{Type: d.Type, Title: d.Title, Body: d.Body, Status: d.Status, Impact: d.Impact, Change: d.Change,
		StatusURL: base + "/status"}
	names := map[string]string{}
	for _, s := range d.Services {
		data.Services = append(data.Services, s.Name)
		names[s.Slug] = s.Name
	}
	for _, c := range d.Components {
		data.Components = append(data.Components, componentLine{Name: names[c.Service], Status: c.Status})
	}
	var subject, key string
	switch n.Kind {
	case notify.IncidentNotice:
		data.ItemURL = fmt.Sprintf("%s/status#incident-%d", base, d.ID)
		subject = label(d.Status) + ": " + d.Title
		if d.Type == event.IncidentCreated {
			subject = "Incident: " + d.Title
		}
		key = fmt.Sprintf("service-event:%d:%s", d.EventID, n.To.Addr)
	case notify.ChangeNotice:
		data.ItemURL = fmt.Sprintf("%s/status#maintenance-m%d", base, d.ID)
		data.Window, data.Lead = window(d.Change), d.Change.Lead
		subject = "Maintenance planned: " + d.Title
		if d.Type == event.ChangeReminder {
			subject = "Maintenance in " + d.Change.Lead + ": " + d.Title
		}
		key = fmt.Sprintf("service-event:%d:%s", d.EventID, n.To.Addr)
	case notify.AnnouncementNotice:
		data.ItemURL = fmt.Sprintf("%s/status/announcements#announcement-%d", base, d.ID)
		subject = d.Title
		key = AnnouncementKey(d.ID) + n.To.Addr
	default:
		return outMail{}, fmt.Errorf("mail: no mail for notices of kind %s", n.Kind)
	}
	if n.Unsubscribe != "" {
		data.Unsubscribe = base + "/status/unsubscribe?token=" + url.QueryEscape(n.Unsubscribe)
	}
	return g.serviceMail(string(n.Kind), n.To.Addr, subject, key, data)
}

// serviceMail renders the text and HTML of a mail about services.
func (g *Gateway) serviceMail(kind, to, subject, key string, data serviceMail) (outMail, error) {
	var html bytes.Buffer
	if err := htmlTemplates.ExecuteTemplate(&html, "service.html", data); err != nil {
		return outMail{}, fmt.Errorf("mail: template service.html: %w", err)
	}
	var text bytes.Buffer
	if err := templates.ExecuteTemplate(&text, "service.txt", data); err != nil {
		return outMail{}, fmt.Errorf("mail: template service.txt: %w", err)
	}
	return outMail{Kind: kind, To: to, FromName: g.opts.Tag + " status", Subject: "[" + g.opts.Tag + " status] " + oneLine(subject),
		Template: "account.txt", Data: tmplData{Body: text.String()}, HTML: html.String(), Auto: "auto-generated",
		DedupeKey: key, Unsubscribe: data.Unsubscribe, Paced: kind != KindSubscription}, nil
}

// QueueConfirmation queues, in transaction q, the mail that asks an
// address to confirm its subscription (subscription.Options.Confirm).
func (g *Gateway) QueueConfirmation(ctx context.Context, q db.Querier, c subscription.Confirmation) error {
	base := strings.TrimRight(g.opts.BaseURL, "/")
	data := serviceMail{Type: KindSubscription, Services: c.Names, All: c.All, StatusURL: base + "/status",
		Confirm: base + "/status/subscribe/confirm?token=" + url.QueryEscape(c.Token)}
	m, err := g.serviceMail(KindSubscription, c.To, "Confirm your subscription to status updates", "", data)
	if err != nil {
		return err
	}
	return g.queue(ctx, q, m)
}

// AnnouncementKey is the prefix of the outbox dedupe keys of the mails of
// announcement id: each recipient gets it once.
func AnnouncementKey(id int64) string { return fmt.Sprintf("announcement:%d:", id) }

// AnnouncementProgress counts the mails of announcement id in the outbox,
// and those of them sent.
func (g *Gateway) AnnouncementProgress(ctx context.Context, id int64) (recipients, sent int, err error) {
	err = g.db.Reader().QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END), 0) FROM outbox WHERE dedupe_key LIKE $1`,
		AnnouncementKey(id)+"%").Scan(&recipients, &sent)
	if err != nil {
		return 0, 0, fmt.Errorf("mail: announcement %d: %w", id, err)
	}
	return recipients, sent, nil
}

// paceSlot returns the job kind and due time of the next paced send: one
// BulkInterval after the latest paced send waiting, else now.
func (g *Gateway) paceSlot(ctx context.Context, q db.Querier) (string, time.Time, error) {
	now := g.now()
	var last time.Time
	err := q.QueryRowContext(ctx, `SELECT run_at FROM jobs WHERE state = 'pending' AND kind = $1 ORDER BY run_at DESC LIMIT 1`, JobSendBulk).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, fmt.Errorf("mail: pace: %w", err)
	}
	at := now
	if next := last.Add(g.opts.BulkInterval); next.After(at) {
		at = next
	}
	return JobSendBulk, at, nil
}

// window is a change's window in its own time zone (UTC when it names
// none or one unknown here).
func window(c *notify.ChangeWindow) string {
	loc := time.UTC
	if c.TimeZone != "" {
		if l, err := time.LoadLocation(c.TimeZone); err == nil {
			loc = l
		}
	}
	const layout = "Mon 2 Jan 2006 15:04 MST"
	return c.Start.In(loc).Format(layout) + " – " + c.End.In(loc).Format(layout)
}

// label is a status as words: major_outage is "major outage".
func label(s string) string { return strings.ReplaceAll(s, "_", " ") }
