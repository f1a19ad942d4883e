package mail

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// Envelope is what a transport knows about a mail besides its content.
type Envelope struct {
	Source string // "smtp", "imap", "mailgate"
	// MailFrom is the envelope sender (SMTP MAIL FROM, Return-Path); empty
	// for a bounce. HasMailFrom tells whether the transport knew it.
	MailFrom    string
	HasMailFrom bool
	// Rcpts are the envelope recipients. When empty (IMAP, mailgate without
	// arguments) the recipients are taken from Delivered-To, X-Original-To,
	// To and Cc.
	Rcpts []string
	// BounceByMail makes the gateway answer a refusal with a bounce mail of
	// its own (IMAP, where nobody else can); SMTP and mailgate leave the
	// bounce to the MTA.
	BounceByMail bool
}

// Rejection is a permanent refusal of a mail: the transport bounces it
// (SMTP 550, mailgate exit 67 or 65, a bounce mail for IMAP).
type Rejection struct {
	NoUser bool // the recipient or sender is unknown (67), else bad data (65)
	Reason string
}

func (r *Rejection) Error() string { return "mail: refused: " + r.Reason }

// Outcome says what became of a delivered mail.
type Outcome struct {
	Action    string // created, replied, noted, duplicate, quarantined, bounced
	TicketID  int64
	MessageID int64
	Reason    string // for quarantined and bounced
	// Participant: the sender wrote as a participant of the ticket that
	// only mail knows (see mayPost), with a mail participant's rights on it
	// (auth.ActorMail).
	Participant bool
	// Verified: the mail proved its sender (see ownToken and authVerified).
	Verified bool
}

// target is what a recipient address names.
type target struct {
	addr     string
	unit     *unit.Unit // nil for the helpdesk address
	comment  bool
	ticketID int64  // from a reply token
	rkey     string // the recipient key of a reply token (see rcptKey)
	lkey     string // the list key of a list's reply token (see listTokenAddress)
	rank     int    // lower wins when a mail has several recipients
}

// resolve tells what addr names, or nil when it is not one of ours.
func (g *Gateway) resolve(ctx context.Context, addr string) (*target, error) {
	addr = strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
	if tok, ok := g.sig.parseTokenAddress(addr); ok {
		t, err := g.resolveBase(ctx, tok.base, true)
		if t == nil || err != nil {
			return nil, err
		}
		t.addr, t.ticketID, t.comment, t.rkey, t.lkey, t.rank = addr, tok.ticketID, tok.comment || t.comment, tok.rkey, tok.lkey, 0
		return t, nil
	}
	return g.resolveBase(ctx, addr, false)
}

func (g *Gateway) resolveBase(ctx context.Context, addr string, withToken bool) (*target, error) {
	if addr == g.opts.Address {
		if !g.opts.CatchAll && !withToken {
			return nil, nil
		}
		return &target{addr: addr, rank: 3}, nil
	}
	u, comment, err := g.opts.Units.UnitByEmail(ctx, addr)
	if apperr.Is(err, apperr.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rank := 2
	if comment {
		rank = 1
	}
	return &target{addr: addr, unit: u, comment: comment, rank: rank}, nil
}

// KnownRecipient tells whether the gateway takes mail for addr: a unit's
// reply or comment address, an address with a valid reply token, or the
// helpdesk address when it is a catch-all.
func (g *Gateway) KnownRecipient(ctx context.Context, addr string) (bool, error) {
	t, err := g.resolve(ctx, addr)
	return t != nil, err
}

// Deliver runs one inbound mail through the pipeline. A nil error means the
// mail was dealt with (turned into a ticket or message, recognised as a
// duplicate, quarantined, or bounced by mail): the transport may forget it.
// A *Rejection is a permanent refusal the transport must bounce; any other
// error is transient, and the transport must keep the mail and retry.
func (g *Gateway) Deliver(ctx context.Context, env Envelope, raw []byte) (out Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			g.log.Error("mail pipeline panicked", "panic", r, "stack", string(debug.Stack()))
			out, err = g.quarantine(ctx, env, nil, raw, fmt.Sprintf("internal error while processing: %v", r))
		}
	}()
	if int64(len(raw)) > g.opts.MaxMessageBytes {
		return Outcome{}, &Rejection{Reason: fmt.Sprintf("the message is larger than %d bytes", g.opts.MaxMessageBytes)}
	}
	p, err := parse(raw, env.MailFrom, env.HasMailFrom)
	if err != nil {
		return g.quarantine(ctx, env, nil, raw, err.Error())
	}
	if p.LoopDomain != "" && strings.EqualFold(p.LoopDomain, g.opts.Domain) {
		return g.quarantine(ctx, env, p, raw, "mail loop: the mail carries our own "+LoopHeader+" header")
	}
	tgt, err := g.pickTarget(ctx, env, p)
	if err != nil {
		return Outcome{}, err
	}
	if tgt == nil {
		return g.refuse(ctx, env, p, raw, &Rejection{NoUser: true, Reason: "no such recipient here"})
	}
	var dupTicket sql.NullInt64
	err = g.db.R.QueryRowContext(ctx, `SELECT ticket_id FROM inbound_mail WHERE mail_key = $1`, dedupeKey(env, p, tgt)).Scan(&dupTicket)
	if err == nil {
		return Outcome{Action: "duplicate", TicketID: dupTicket.Int64}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Outcome{}, fmt.Errorf("mail: dedupe: %w", err)
	}
	from := p.From
	if from == "" {
		from = strings.ToLower(strings.Trim(env.MailFrom, "<> "))
	}
	if from, err = user.NormalizeEmail(from); err != nil {
		return g.quarantine(ctx, env, p, raw, "no usable sender address")
	}
	if g.ours(from) || from == g.opts.Address {
		return g.quarantine(ctx, env, p, raw, "mail from one of our own addresses ("+from+")")
	}
	// The sender's account, then their principal.
	var senderID int64
	var disabled bool
	switch acct, err := g.opts.Users.GetByEmail(ctx, from); {
	case err == nil:
		senderID, disabled = acct.ID, acct.Disabled
	case !apperr.Is(err, apperr.NotFound):
		return Outcome{}, fmt.Errorf("mail: sender: %w", err)
	}
	var principal *auth.Principal
	if senderID != 0 {
		if !disabled {
			principal, err = g.opts.Users.Principal(ctx, senderID)
		}
		if disabled || apperr.Is(err, apperr.Unauthorized) {
			return g.refuse(ctx, env, p, raw, &Rejection{NoUser: true, Reason: "the sender's account is disabled"})
		}
		if err != nil {
			return Outcome{}, err
		}
		principal = principal.ByMail()
	}

	// Anyone can write any address into From: whether the trusted MTA
	// checked the sender (byMTA) decides whether the weak ways of
	// threading count, and whether the mail is addressed to the sender's
	// own reply token for the ticket it threads to decides the rest.
	byMTA := authVerified(p.Header.Values("Authentication-Results"), g.opts.AuthServID, from)
	ticketID, replyToNote, signed, err := g.thread(ctx, p, tgt, from, senderID, byMTA)
	if err != nil {
		return Outcome{}, err
	}
	// A reply to the reply token of the list that works the ticket (the
	// mode redirect) is the list's, whoever sent it: the token proves it.
	if list, err := g.listReply(ctx, tgt, ticketID); err != nil {
		return Outcome{}, err
	} else if list != nil {
		return g.deliverListReply(ctx, env, p, raw, tgt, list)
	}
	// Staff rights need a proven sender. Unproven, a staff member's mail
	// is an outsider's: it has their rights as a requester at most (see
	// mayPost).
	verified := byMTA || g.ownToken(tgt, from, ticketID)
	claimed := principal != nil && !verified && principal.IsStaff()
	if claimed {
		principal = principal.AsRequester()
	}
	var t *ticket.Ticket
	if ticketID != 0 {
		t, err = g.opts.Tickets.Get(ctx, g.system, ticketID)
		if apperr.Is(err, apperr.NotFound) {
			t = nil
		} else if err != nil {
			return Outcome{}, err
		}
	}
	if tgt.comment {
		if claimed {
			return g.refuse(ctx, env, p, raw, &Rejection{Reason: "internal notes by mail need a proven sender: " +
				"reply to the address in our mail about the ticket, or send from a domain that signs its mail (DKIM)"})
		}
		if t == nil {
			return g.refuse(ctx, env, p, raw, &Rejection{Reason: "the comment address takes internal notes on existing tickets only"})
		}
		if principal == nil || !principal.CanWorkTicket(t.Facts()) {
			return g.refuse(ctx, env, p, raw, &Rejection{NoUser: true, Reason: "only members of the ticket's support unit may add internal notes by mail"})
		}
	}
	if principal == nil && g.opts.RejectUnknown {
		return g.refuse(ctx, env, p, raw, &Rejection{NoUser: true, Reason: "mail from unknown senders is not accepted; please register first"})
	}
	participant := false
	if t != nil && !tgt.comment {
		if participant, err = g.mayPost(ctx, t, principal, from, senderID, signed, !claimed); errors.Is(err, errStranger) {
			// A stranger never writes to a ticket: the mail opens its own.
			t, replyToNote = nil, false
		} else if err != nil {
			return Outcome{}, err
		}
	}
	if principal == nil && p.Machine && t == nil {
		return g.quarantine(ctx, env, p, raw, "automatic mail ("+p.AutoReason+") that belongs to no ticket")
	}
	name := p.FromName
	if name == "" || utf8.RuneCountInString(name) > 200 {
		name, _, _ = strings.Cut(from, "@")
	}

	atts, notes, err := g.storeFiles(ctx, p)
	if err != nil {
		return Outcome{}, err
	}
	body := messageBody(p.Text+notes, len(atts) > 0)

	in := inbound{env: env, p: p, tgt: tgt, t: t, from: from, name: name, principal: principal, participant: participant,
		replyToNote: replyToNote, body: body, atts: atts}
	out, err = g.apply(ctx, in)
	out.Verified = verified
	if errors.Is(err, errSenderRegistered) && ctx.Value(retryKey{}) == nil {
		// Once more, now with the account; a second time is a transient
		// error for the transport to retry.
		return g.Deliver(context.WithValue(ctx, retryKey{}, true), env, raw)
	}
	if err != nil {
		switch apperr.KindOf(err) {
		case apperr.Conflict:
			if strings.Contains(err.Error(), "processed already") {
				return Outcome{Action: "duplicate"}, nil
			}
			return g.quarantine(ctx, env, p, raw, err.Error())
		case apperr.Invalid, apperr.Forbidden, apperr.NotFound, apperr.TooLarge:
			return g.quarantine(ctx, env, p, raw, err.Error())
		}
		var rej *Rejection
		if errors.As(err, &rej) {
			return g.refuse(ctx, env, p, raw, rej)
		}
		return Outcome{}, err
	}
	return out, nil
}

// errSenderRegistered: an account for the sender of an unknown address
// appeared while the mail was on its way (a concurrent mail); the mail is
// processed again from the start with that account.
var errSenderRegistered = errors.New("mail: the sender registered meanwhile")

// retryKey marks the context of Deliver's one retry after errSenderRegistered.
type retryKey struct{}

// errStranger: the sender takes no part in the ticket the mail names.
var errStranger = errors.New("mail: the sender takes no part in the ticket")

// mayPost decides with which rights the sender of a mail writes to ticket t
// (not through a comment address), or errStranger when not at all.
//
// The sender acts with their own rights whenever they already let them
// write to the ticket: the requester, a watcher registered with their
// account, the staff of the ticket's unit, the handler team and
// administrators (participant false). Mail knows participants the ticket
// store does not (DESIGN.md, Email): an address on the watcher list that
// had no account when it was added, an address that has already written to
// the ticket (someone the requester copied in), and whoever answers mail we
// sent about the ticket, shown by our signed Message-ID or reply token
// (signed). Those, and only after this check, write as mail participants
// of the ticket (participant true; auth.Principal.TakingPart): a public
// reply, reopening the ticket by it, nothing more; the ticket store checks
// that as it checks everyone. Anyone else is a stranger and never writes
// to the ticket: the mail opens a ticket of its own. byAddress false
// (unproven mail from a staff member's address) leaves only the sender's
// own rights: their words must not reach a ticket under their name.
func (g *Gateway) mayPost(ctx context.Context, t *ticket.Ticket, principal *auth.Principal, from string, senderID int64, signed, byAddress bool) (bool, error) {
	if principal != nil {
		f := t.Facts()
		if principal.CanSeeTicket(f) {
			return false, nil
		}
		watches, err := g.opts.Tickets.Watches(ctx, t.ID, principal.UserID)
		if err != nil {
			return false, fmt.Errorf("mail: %w", err)
		}
		if f.Watcher = watches; principal.CanSeeTicket(f) {
			return false, nil
		}
	}
	if !byAddress {
		return false, errStranger
	}
	if signed {
		return true, nil
	}
	ok, err := g.participant(ctx, t.ID, from, senderID)
	switch {
	case err != nil:
		return false, err
	case !ok:
		return false, errStranger
	}
	return true, nil
}

// ownToken tells whether a mail proves its sender (the From address, else
// the envelope sender) by its recipient: a reply token that we made for
// that sender and for ticketID, the ticket the mail threads to. (The
// other proof is the trusted MTA's, see authVerified.)
func (g *Gateway) ownToken(tgt *target, from string, ticketID int64) bool {
	return tgt.rkey != "" && tgt.ticketID == ticketID && hmac.Equal([]byte(tgt.rkey), []byte(g.sig.rcptKey(from)))
}

// listReply returns the principal of the list a mail answers
// (auth.ActorUnitList), or nil when it is no list's reply: the mail is to
// a list's reply token (listTokenAddress) for the ticket it threads to,
// and that ticket is still redirected (notify.Notifier.List) to the list
// the token was made for. The From address counts for nothing here.
func (g *Gateway) listReply(ctx context.Context, tgt *target, ticketID int64) (*auth.Principal, error) {
	if tgt.lkey == "" || tgt.comment || ticketID == 0 || tgt.ticketID != ticketID {
		return nil, nil
	}
	t, err := g.opts.Tickets.Get(ctx, g.system, ticketID)
	if apperr.Is(err, apperr.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	list, err := g.notifier.List(ctx, t)
	if err != nil || list == nil {
		return nil, err
	}
	addr := strings.ToLower(strings.TrimSpace(list.Email))
	if !hmac.Equal([]byte(tgt.lkey), []byte(g.sig.rcptKey(addr))) {
		return nil, nil
	}
	return auth.UnitList(addr, list.Name, t.ID), nil
}

// deliverListReply adds a list's reply (see listReply) to its ticket as a
// public staff reply by the list.
func (g *Gateway) deliverListReply(ctx context.Context, env Envelope, p *parsed, raw []byte, tgt *target, list *auth.Principal) (Outcome, error) {
	t, err := g.opts.Tickets.Get(ctx, g.system, tgt.ticketID)
	if err != nil {
		return Outcome{}, err
	}
	atts, notes, err := g.storeFiles(ctx, p)
	if err != nil {
		return Outcome{}, err
	}
	in := inbound{env: env, p: p, tgt: tgt, t: t, from: list.Email, name: list.Name, principal: list, body: messageBody(p.Text+notes, len(atts) > 0), atts: atts}
	out, err := g.apply(ctx, in)
	out.Verified = true
	if err != nil {
		if apperr.KindOf(err) == apperr.Conflict && strings.Contains(err.Error(), "processed already") {
			return Outcome{Action: "duplicate"}, nil
		}
		if k := apperr.KindOf(err); k == apperr.Conflict || k == apperr.Invalid || k == apperr.Forbidden || k == apperr.NotFound || k == apperr.TooLarge {
			return g.quarantine(ctx, env, p, raw, err.Error())
		}
		return Outcome{}, err
	}
	return out, nil
}

// messageBody is the text of a message from a mail's text: "(no text)"
// for none, cut at the limit.
func messageBody(body string, files bool) string {
	if strings.TrimSpace(body) == "" {
		body = "(no text)"
		if files {
			body = "(no text; see the attachments)"
		}
	}
	if len(body) > ticket.MaxBody {
		body = strings.ToValidUTF8(body[:ticket.MaxBody-200], "") + "\n\n[the rest of the text was longer than the limit and was cut]"
	}
	return body
}

// inbound is a mail on its way into the ticket store, with everything read
// before its transaction.
type inbound struct {
	env         Envelope
	p           *parsed
	tgt         *target
	t           *ticket.Ticket // the ticket it continues; nil opens one
	from, name  string
	principal   *auth.Principal // the sender's own, by mail; nil: unknown, registered in the transaction
	participant bool            // see mayPost
	replyToNote bool
	body        string
	atts        []ticket.NewAttachment
}

// apply makes the change a mail asks for, as the sender (a mail
// participant, auth.ActorMail) with the rights the ticket store grants
// them. Everything a mail writes (the sender's account, reopening a solved
// ticket, the ticket or message, the inbound record and, through the
// ticket store's Emit hook, the events) is one transaction: one commit on
// the single SQLite writer, and nothing half done after a crash. Only
// relating a follow-up is a separate commit, after it.
func (g *Gateway) apply(ctx context.Context, in inbound) (Outcome, error) {
	p, t := in.p, in.t
	nm := ticket.NewMessage{Body: in.body, BodyHTML: p.HTML, Source: ticket.FromEmail, MailID: p.MessageID, Attachments: in.atts}
	var followUpOf int64
	reopen := false
	if t != nil && !in.tgt.comment {
		switch {
		case t.Status.Frozen():
			followUpOf = t.ID
		case !t.Status.Open() && p.Automatic:
			// An auto-reply never reopens a ticket; it is filed as it is.
		case !t.Status.Open():
			if t.SolvedAt != nil && g.now().Sub(*t.SolvedAt) > g.opts.ReopenWindow {
				followUpOf = t.ID
				break
			}
			// A participant's reply reopens the ticket (mail semantics;
			// auth's CanSetStatus for mail participants).
			reopen = true
		}
	}
	var nt ticket.NewTicket
	if t == nil || followUpOf != 0 {
		nt = ticket.NewTicket{Subject: subjectFor(p.Subject), Body: in.body, BodyHTML: p.HTML, Source: ticket.FromEmail,
			MailID: p.MessageID, Attachments: in.atts}
		if in.tgt.unit != nil {
			nt.UnitID = in.tgt.unit.ID
		} else if h, err := g.opts.Units.Handler(ctx); err == nil {
			nt.HandlerID = h.ID
		} else if !apperr.Is(err, apperr.NotFound) {
			return Outcome{}, err
		}
		if followUpOf != 0 && in.tgt.unit == nil {
			nt.UnitID = t.UnitID
			nt.ServiceID = t.ServiceID
		}
	}
	out := Outcome{Participant: in.participant}
	var actor *auth.Principal
	err := g.db.Tx(ctx, func(q db.Querier) error {
		var err error
		if actor, err = g.writer(ctx, q, in); err != nil {
			return err
		}
		if reopen {
			reopened := ticket.Reopened
			if err := g.opts.Tickets.UpdateTx(ctx, q, actor, t.ID, ticket.Update{Status: &reopened, Source: ticket.FromEmail}); err != nil {
				return err
			}
		}
		switch {
		case in.tgt.comment:
			nm.Internal = true
			out.Action, out.TicketID = "noted", t.ID
			out.MessageID, err = g.opts.Tickets.AddMessageTx(ctx, q, actor, t.ID, nm)
		case t != nil && followUpOf == 0:
			nm.Internal = in.replyToNote && actor.CanNote(t.Facts())
			out.Action, out.TicketID = "replied", t.ID
			out.MessageID, err = g.opts.Tickets.AddMessageTx(ctx, q, actor, t.ID, nm)
		default:
			nt.RequesterID = actor.UserID
			out.Action = "created"
			out.TicketID, err = g.opts.Tickets.CreateTx(ctx, q, actor, nt)
		}
		if err != nil {
			return err
		}
		// The message's id comes with the record of the mail, whose key
		// makes a second delivery of the same mail roll back.
		if out.MessageID, err = g.opts.Tickets.MessageByMailID(ctx, q, out.TicketID, p.MessageID); err != nil {
			return fmt.Errorf("mail: record inbound: %w", err)
		}
		_, err = q.ExecContext(ctx, `INSERT INTO inbound_mail (mail_key, mail_id, automatic, received_at, ticket_id, message_id)
			VALUES ($1, $2, $3, $4, $5, $6)`, dedupeKey(in.env, p, in.tgt), p.MessageID, p.Automatic, g.now(), out.TicketID, out.MessageID)
		if db.IsUniqueViolation(err) {
			return apperr.New(apperr.Conflict, "mail %s was processed already", p.MessageID)
		}
		if err != nil {
			return fmt.Errorf("mail: record inbound: %w", err)
		}
		return nil
	})
	if err != nil {
		return Outcome{}, err
	}
	if followUpOf != 0 {
		if _, err := g.opts.Tickets.Relate(ctx, actor, out.TicketID, followUpOf, "follow_up_of", ticket.FromEmail); err != nil {
			g.log.Warn("relating follow-up ticket", "ticket", out.TicketID, "of", followUpOf, "err", err)
		}
	}
	return out, nil
}

// writer returns the principal a mail writes as, in its transaction q: the
// sender's own, by mail, or for an unknown sender the account registered
// for them now; taking part in the ticket the mail is for when only mail
// knows them as a participant (see mayPost).
func (g *Gateway) writer(ctx context.Context, q db.Querier, in inbound) (*auth.Principal, error) {
	p := in.principal
	if p == nil {
		u, created, err := g.opts.Users.EnsureTx(ctx, q, in.from, in.name)
		if err != nil {
			return nil, err
		}
		if !created {
			return nil, errSenderRegistered
		}
		p = (&auth.Principal{UserID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, Units: map[int64]auth.UnitRole{}}).ByMail()
	}
	if in.participant {
		p = p.TakingPart(in.t.ID)
	}
	return p, nil
}

// dedupeKey is what makes two deliveries the same mail: its Message-ID,
// its sender (From, else the envelope sender) and the unit it is for (a
// comment, reply or token address of one unit is one unit; 0: the
// helpdesk address). Another sender's mail with a Message-ID seen before is
// mail of its own.
func dedupeKey(env Envelope, p *parsed, tgt *target) string {
	from := p.From
	if from == "" {
		from = env.MailFrom
	}
	var unitID int64
	if tgt.unit != nil {
		unitID = tgt.unit.ID
	}
	sum := sha256.Sum256([]byte(p.MessageID + "\x00" + strings.ToLower(strings.Trim(from, "<> ")) + "\x00" + strconv.FormatInt(unitID, 10)))
	return hex.EncodeToString(sum[:])
}

// subjectFor makes a ticket subject from a mail subject.
func subjectFor(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "(no subject)"
	}
	if utf8.RuneCountInString(s) > ticket.MaxSubject {
		r := []rune(s)
		s = string(r[:ticket.MaxSubject-1]) + "…"
	}
	return s
}

// pickTarget chooses, among the recipients, the one that decides what the
// mail does: a reply token first, then a comment address, then a unit's
// reply address, then the helpdesk address.
func (g *Gateway) pickTarget(ctx context.Context, env Envelope, p *parsed) (*target, error) {
	rcpts := env.Rcpts
	if len(rcpts) == 0 {
		for _, h := range []string{"Delivered-To", "X-Original-To"} {
			for _, v := range p.Header.Values(h) {
				rcpts = append(rcpts, looseAddress(v))
			}
		}
		rcpts = append(rcpts, p.To...)
	}
	var best *target
	for i, r := range rcpts {
		if i >= 50 {
			break
		}
		t, err := g.resolve(ctx, r)
		if err != nil {
			return nil, err
		}
		if t != nil && (best == nil || t.rank < best.rank) {
			best = t
		}
	}
	return best, nil
}

// thread finds the ticket a mail belongs to, in the order of DESIGN.md,
// whether it answers an internal note, and whether it was found by one of
// our signed identifiers (a Message-ID of ours or a reply token), which
// only mail about the ticket carries. The other ways (Message-IDs of mail
// that came in, the subject tag) count only for participants, and only
// when the trusted MTA proved the sender (byMTA; a mail to a reply token
// has threaded before them): a ticket number and an address are easy to
// learn.
func (g *Gateway) thread(ctx context.Context, p *parsed, tgt *target, from string, senderID int64, byMTA bool) (id int64, note, signed bool, err error) {
	refs := append([]string{}, p.InReplyTo...)
	for i := len(p.References) - 1; i >= 0; i-- {
		refs = append(refs, p.References[i])
	}
	// 1. our own Message-IDs
	for _, r := range refs {
		if id, flag, ok := g.sig.parseMessageID(r); ok {
			return id, flag == flagNote, true, nil
		}
	}
	// 2. a reply token in the recipient address
	if tgt.ticketID != 0 {
		return tgt.ticketID, tgt.comment, true, nil
	}
	if !byMTA {
		return 0, false, false, nil
	}
	// 1b. Message-IDs of mail that came in for a ticket, from a participant
	for i, r := range refs {
		if i >= 20 {
			break
		}
		// Several tickets may have had mail with this Message-ID (from
		// different senders): the sender's own counts.
		ids, err := g.opts.Tickets.TicketsByMailID(ctx, r, 5)
		if err != nil {
			return 0, false, false, fmt.Errorf("mail: thread: %w", err)
		}
		for _, id := range ids {
			ok, err := g.participant(ctx, id, from, senderID)
			if err != nil {
				return 0, false, false, err
			}
			if ok {
				return id, false, false, nil
			}
		}
	}
	// 3. the subject tag, from a participant only
	if id := g.subjectTicket(p.Subject); id != 0 {
		ok, err := g.participant(ctx, id, from, senderID)
		if err != nil {
			return 0, false, false, err
		}
		if ok {
			return id, false, false, nil
		}
	}
	return 0, false, false, nil
}

func (g *Gateway) subjectTicket(subject string) int64 {
	m := g.tagRE.FindStringSubmatch(subject)
	if m == nil {
		return 0
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

// participant tells whether the address takes part in a ticket (see
// ticket.Store.Participant).
func (g *Gateway) participant(ctx context.Context, ticketID int64, email string, userID int64) (bool, error) {
	ok, err := g.opts.Tickets.Participant(ctx, ticketID, email, userID)
	if err != nil {
		return false, fmt.Errorf("mail: %w", err)
	}
	return ok, nil
}

// storeFiles stores a mail's attachments as blobs. Files over the limit
// are left out, with a line about each in the returned notes.
func (g *Gateway) storeFiles(ctx context.Context, p *parsed) ([]ticket.NewAttachment, string, error) {
	var atts []ticket.NewAttachment
	var notes strings.Builder
	for _, f := range p.Files {
		if int64(len(f.Data)) > g.opts.MaxAttachmentBytes {
			fmt.Fprintf(&notes, "\n\n[attachment %q (%d bytes) is larger than the limit of %d bytes and was not kept]", f.Name, len(f.Data), g.opts.MaxAttachmentBytes)
			continue
		}
		sum, size, err := g.opts.Blobs.Put(ctx, bytes.NewReader(f.Data), g.opts.MaxAttachmentBytes)
		if err != nil {
			return nil, "", fmt.Errorf("mail: store attachment: %w", err)
		}
		atts = append(atts, ticket.NewAttachment{Filename: f.Name, ContentType: oneLine(f.ContentType), Size: size, SHA256: sum})
	}
	return atts, notes.String(), nil
}

// refuse turns a rejection into what the transport needs: the rejection
// itself, or (BounceByMail) a bounce mail in the outbox.
func (g *Gateway) refuse(ctx context.Context, env Envelope, p *parsed, raw []byte, rej *Rejection) (Outcome, error) {
	if !env.BounceByMail {
		return Outcome{}, rej
	}
	to := ""
	if p != nil && !p.Automatic {
		to = p.From
		if rp := strings.Trim(env.MailFrom, "<> "); rp != "" {
			to = strings.ToLower(rp)
		}
	}
	if to == "" || g.ours(to) {
		return g.quarantine(ctx, env, p, raw, "refused, and no bounce possible: "+rej.Reason)
	}
	rcpt := strings.Join(env.Rcpts, ", ")
	if rcpt == "" && p != nil {
		rcpt = strings.Join(p.To, ", ")
	}
	m := outMail{Kind: KindBounce, To: to, FromName: g.opts.Tag, Subject: "Undeliverable: " + p.Subject, Template: "bounce.txt",
		Data: tmplData{Rcpt: rcpt, Reason: rej.Reason, Subject: p.Subject}, InReplyTo: p.MessageID, Refs: []string{p.MessageID},
		Auto: "auto-replied", DedupeKey: "bounce:" + p.MessageID}
	if err := g.db.Tx(ctx, func(q db.Querier) error { return g.queue(ctx, q, m) }); err != nil {
		return Outcome{}, err
	}
	return Outcome{Action: "bounced", Reason: rej.Reason}, nil
}
