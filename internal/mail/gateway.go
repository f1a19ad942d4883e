// Package mail is helpmesh's email gateway: inbound mail (an SMTP listener,
// IMAP polling and a pipe command, all feeding one pipeline) becomes tickets,
// replies and internal notes; ticket events become outgoing mail kept in an
// outbox and sent by durable jobs through an SMTP relay.
//
// Threading follows DESIGN.md: our own signed Message-IDs in In-Reply-To or
// References, then a signed reply token in the recipient address, then the
// subject tag, but only when the sender already takes part in the ticket
// and has proved who they are (a reply token of their own, or DKIM/DMARC
// passing at the trusted MTA); staff rights by mail need that proof too.
// Mail that cannot be processed is never dropped: it is quarantined.
package mail

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/blob"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/jobs"
	"github.com/helpmesh/helpmesh/internal/notify"
	"github.com/helpmesh/helpmesh/internal/user"
)

// Job kinds of the gateway.
const (
	JobNotify = "mail.notify" // a ticket event: compose mail into the outbox
	JobSend   = "mail.send"   // send one outbox row through the relay
)

// Options configure a Gateway. DB, Tickets, Users, Units, Blobs, Domain and
// Secret are required.
type Options struct {
	DB      *db.DB
	Tickets Tickets
	Users   Users
	Units   Units
	Blobs   blob.Store
	Log     *slog.Logger

	Domain  string // mail domain of Message-IDs and our addresses
	Address string // the helpdesk address: sender of our mail and catch-all recipient; default helpdesk@Domain
	// CatchAll makes Address accept mail that opens tickets for the ticket
	// handler team. When false, only units' addresses and reply tokens are
	// known recipients.
	CatchAll bool
	Tag      string // subject tag, default "helpmesh"
	BaseURL  string // for links to tickets
	Secret   []byte
	Relay    string // smtp://host:port; empty keeps the outbox ("held")

	// AuthServID is the authserv-id of the MTA in front of the gateway whose
	// Authentication-Results headers are trusted (the topmost ones with this
	// id): DKIM or DMARC passing there for the From domain proves a mail's
	// sender. Empty trusts none; then only a recipient's own reply token
	// proves it.
	AuthServID string
	// RejectUnknown refuses mail from addresses without an account instead
	// of making them requesters.
	RejectUnknown bool
	// ReopenWindow: a reply to a solved ticket reopens it within this time
	// after solving; later it opens a new ticket related to the old one.
	// Default 14 days.
	ReopenWindow time.Duration
	// RateLimit is the most mails one recipient gets per RateWindow; more are
	// kept as "suppressed". Defaults 30 per 10 minutes.
	// Batch is the window in which a ticket's replies and status changes
	// to one recipient are gathered into one mail (batch.go); 0 sends each
	// at once.
	Batch      time.Duration
	RateLimit  int
	RateWindow time.Duration
	// MaxMessageBytes is the largest inbound mail (default 25 MiB);
	// MaxAttachmentBytes the largest attachment (default 10 MiB).
	MaxMessageBytes    int64
	MaxAttachmentBytes int64
	// SMIME, when set, is the certificate (and key) alarm mail is S/MIME
	// signed with: multipart/signed with a detached
	// application/pkcs7-signature (config.SMIMESigner checks it).
	SMIME *tls.Certificate
	// BulkInterval paces the send jobs of mail about services (incidents,
	// changes, announcements: services.go); default DefaultBulkInterval.
	BulkInterval time.Duration
	// Events is the event stream; the gateway follows it as "mail".
	Events *event.Log
	Now    func() time.Time
}

// Gateway is the email gateway of one helpmesh instance.
type Gateway struct {
	opts Options
	db   *db.DB
	sig  signer
	log  *slog.Logger
	// sender talks to the relay; nil without one.
	sender *Sender
	// system reads tickets for the gateway (where a mail belongs, what a
	// notification says); it writes nothing: mail writes as its sender.
	system *auth.Principal
	// tagRE finds the subject tag [Tag #id].
	tagRE *regexp.Regexp
	// notifier decides who is told of ticket events.
	notifier *notify.Notifier
	// snaps keeps what this process's events carry (dispatch.go).
	snaps *snapshots
	// services decides who is told of incidents, changes and
	// announcements (services.go); nil until FollowServices.
	services *notify.ServiceNotifier
	// jobs runs the gateway's jobs, once Register was called.
	jobs atomic.Pointer[jobs.Queue]
}

// New checks opts and returns a Gateway.
func New(opts Options) (*Gateway, error) {
	if opts.DB == nil || opts.Events == nil || opts.Tickets == nil || opts.Users == nil || opts.Units == nil || opts.Blobs == nil {
		return nil, errors.New("mail: DB, Events, Tickets, Users, Units and Blobs are required")
	}
	if len(opts.Secret) < 16 {
		return nil, errors.New("mail: the secret must have at least 16 bytes")
	}
	if opts.Domain == "" {
		return nil, errors.New("mail: no mail domain")
	}
	opts.Domain = strings.ToLower(opts.Domain)
	if opts.Address == "" {
		opts.Address = "helpdesk@" + opts.Domain
	}
	addr, err := user.NormalizeEmail(opts.Address)
	if err != nil {
		return nil, fmt.Errorf("mail: helpdesk address: %w", err)
	}
	opts.Address = addr
	if opts.Tag == "" {
		opts.Tag = "helpmesh"
	}
	if opts.ReopenWindow <= 0 {
		opts.ReopenWindow = 14 * 24 * time.Hour
	}
	if opts.RateLimit <= 0 {
		opts.RateLimit = 30
	}
	if opts.BulkInterval <= 0 {
		opts.BulkInterval = DefaultBulkInterval
	}
	if opts.RateWindow <= 0 {
		opts.RateWindow = 10 * time.Minute
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 25 << 20
	}
	if opts.MaxAttachmentBytes <= 0 {
		opts.MaxAttachmentBytes = 10 << 20
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	var sender *Sender
	if opts.Relay != "" {
		if sender, err = NewSender(opts.Relay, opts.Domain); err != nil {
			return nil, err
		}
	}
	g := &Gateway{
		snaps:  newSnapshots(),
		sender: sender,
		opts:   opts,
		db:     opts.DB,
		sig:    signer{key: opts.Secret},
		log:    opts.Log,
		system: auth.System("mail gateway"),
		tagRE:  regexp.MustCompile(`(?i)\[\s*` + regexp.QuoteMeta(opts.Tag) + `\s*#\s*(\d{1,18})\s*\]`),
	}
	g.notifier, err = notify.New(notify.Options{Tickets: opts.Tickets, Units: opts.Units, Users: opts.Users,
		Handler: opts.Units, Admins: opts.Users, Services: opts.Units, Prefs: opts.Users,
		Internal: func(addr string) bool { return g.ours(addr) || addr == g.opts.Address }, Automatic: g.automatic})
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	opts.Events.Follow(follower, g.tell, event.FollowOptions{Batch: eventBatch, FromStart: true})
	return g, nil
}

func (g *Gateway) now() time.Time { return g.opts.Now().UTC() }

// Register adds the gateway's job handlers to q.
// The dispatcher wakes q when it has queued sends or retries.
func (g *Gateway) Register(q *jobs.Queue) {
	q.HandleTx(JobNotify, g.handleNotify)
	q.Handle(JobSend, g.handleSend)
	q.Handle(JobSendBulk, g.handleSend)
	q.HandleTx(JobBatch, g.handleBatch)
	g.jobs.Store(q)
}

// ReservedAddress tells whether addr is the helpdesk's own: its address,
// or one with a valid reply token. No unit may take one (unit.Store's
// Reserved).
func (g *Gateway) ReservedAddress(addr string) bool {
	addr = strings.ToLower(strings.TrimSpace(addr))
	_, token := g.sig.parseTokenAddress(addr)
	return addr == g.opts.Address || token
}

// ours tells whether addr is on our mail domain.
func (g *Gateway) ours(addr string) bool {
	_, d, _ := strings.Cut(strings.ToLower(addr), "@")
	return d == g.opts.Domain
}

func sprintf(format string, v ...any) string { return fmt.Sprintf(format, v...) }
func sprintln(v ...any) string               { return fmt.Sprintln(v...) }
