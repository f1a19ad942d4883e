package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// DoneFlag is the IMAP keyword set on a mail once its effect is committed.
const DoneFlag imap.Flag = "$HelpmeshDone"

// IMAPOptions name a mailbox to poll.
type IMAPOptions struct {
	Addr     string // host:port
	Username string
	Password string
	Mailbox  string // default INBOX
	// Security: "" or "starttls" (STARTTLS), "tls" (implicit TLS), or
	// "insecure" (plain, for loopback only).
	Security string
	Interval time.Duration // between polls, default 1m
	// Address is the address this mailbox receives for (a unit's address or
	// the helpdesk address); used when the headers name none of ours.
	Address string
}

// IMAPPoller fetches new mail from one mailbox into the gateway. A mail is
// flagged done only after Deliver committed its effect, so a crash means it
// is fetched again, and the Message-ID dedupe makes that harmless.
type IMAPPoller struct {
	g    *Gateway
	opts IMAPOptions
	// only narrows the search (tests share mailboxes with other tests).
	only *imap.SearchCriteria
}

// NewIMAPPoller returns a poller for a mailbox.
func (g *Gateway) NewIMAPPoller(o IMAPOptions) *IMAPPoller {
	if o.Mailbox == "" {
		o.Mailbox = "INBOX"
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	return &IMAPPoller{g: g, opts: o}
}

// Run polls until ctx ends.
func (p *IMAPPoller) Run(ctx context.Context) error {
	for {
		if n, err := p.Poll(ctx); err != nil {
			p.g.log.Warn("imap poll", "mailbox", p.opts.Username+"/"+p.opts.Mailbox, "err", err)
		} else if n > 0 {
			p.g.log.Info("imap poll", "mailbox", p.opts.Username+"/"+p.opts.Mailbox, "mails", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.opts.Interval):
		}
	}
}

func (p *IMAPPoller) dial() (*imapclient.Client, error) {
	o := &imapclient.Options{Dialer: nil}
	switch p.opts.Security {
	case "tls":
		return imapclient.DialTLS(p.opts.Addr, o)
	case "insecure":
		return imapclient.DialInsecure(p.opts.Addr, o)
	default:
		return imapclient.DialStartTLS(p.opts.Addr, o)
	}
}

// Poll fetches every mail not yet done, delivers it and flags it done, and
// returns how many it handled. It stops at the first transient failure.
func (p *IMAPPoller) Poll(ctx context.Context) (int, error) {
	c, err := p.dial()
	if err != nil {
		return 0, fmt.Errorf("mail: imap: connect %s: %w", p.opts.Addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.Login(p.opts.Username, p.opts.Password).Wait(); err != nil {
		return 0, fmt.Errorf("mail: imap: login: %w", err)
	}
	if _, err := c.Select(p.opts.Mailbox, nil).Wait(); err != nil {
		return 0, fmt.Errorf("mail: imap: select %s: %w", p.opts.Mailbox, err)
	}
	crit := &imap.SearchCriteria{NotFlag: []imap.Flag{DoneFlag, imap.FlagDeleted}}
	if p.only != nil {
		crit.And(p.only)
	}
	data, err := c.UIDSearch(crit, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("mail: imap: search: %w", err)
	}
	n := 0
	section := &imap.FetchItemBodySection{Peek: true}
	for _, uid := range data.AllUIDs() {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			return n, fmt.Errorf("mail: imap: fetch %d: %w", uid, err)
		}
		if len(msgs) == 0 {
			continue // expunged meanwhile
		}
		raw := msgs[0].FindBodySection(section)
		env := Envelope{Source: "imap", BounceByMail: true}
		if p.opts.Address != "" && !p.namesOurs(ctx, raw) {
			env.Rcpts = []string{p.opts.Address}
		}
		if rp := returnPath(raw); rp != nil {
			env.MailFrom, env.HasMailFrom = *rp, true
		}
		if _, err := p.g.Deliver(ctx, env, raw); err != nil {
			var rej *Rejection
			if !errors.As(err, &rej) {
				return n, err
			}
			// BounceByMail means Deliver bounced it; a Rejection here is
			// only possible when no bounce could be queued.
		}
		if err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{DoneFlag, imap.FlagSeen}}, nil).Close(); err != nil {
			// Delivered but not flagged: fetched again next time, and then
			// recognised as a duplicate.
			return n, fmt.Errorf("mail: imap: flag %d: %w", uid, err)
		}
		n++
	}
	return n, nil
}

// namesOurs tells whether the mail's own headers name one of our addresses.
func (p *IMAPPoller) namesOurs(ctx context.Context, raw []byte) bool {
	h := headerBlock(raw)
	for _, name := range []string{"Delivered-To", "X-Original-To", "To", "Cc"} {
		for _, a := range looseRE.FindAllString(headerValues(h, name), 20) {
			if ok, _ := p.g.KnownRecipient(ctx, a); ok {
				return true
			}
		}
	}
	return false
}

// returnPath reads the Return-Path an MTA put on a delivered mail.
func returnPath(raw []byte) *string {
	v := headerValues(headerBlock(raw), "Return-Path")
	if v == "" {
		return nil
	}
	s := strings.Trim(strings.TrimSpace(v), "<>")
	return &s
}

func headerBlock(raw []byte) string {
	s := string(raw[:min(len(raw), maxHeaderBytes)])
	if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
		s = s[:i]
	} else if i := strings.Index(s, "\n\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

// headerValues returns the values of header name in block, joined by ", ".
func headerValues(block, name string) string {
	var vals []string
	lines := strings.Split(strings.ReplaceAll(block, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		k, v, ok := strings.Cut(lines[i], ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), name) {
			continue
		}
		for i+1 < len(lines) && (strings.HasPrefix(lines[i+1], " ") || strings.HasPrefix(lines[i+1], "\t")) {
			i++
			v += " " + strings.TrimSpace(lines[i])
		}
		vals = append(vals, strings.TrimSpace(v))
	}
	return strings.Join(vals, ", ")
}
