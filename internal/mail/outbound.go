package mail

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	netmail "net/mail"
	"strconv"
	"strings"
	"text/template"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/jobs"
	"github.com/helpmesh/helpmesh/internal/notify"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

//go:embed templates/*.txt
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{"label": label}).ParseFS(templateFS, "templates/*.txt"))

// Kinds of outgoing mail: the kinds of notice (package notify), and
// bounces.
const (
	KindAutoReply = string(notify.AutoReply) // to the requester of a new ticket
	KindNewTicket = string(notify.NewTicket) // to the unit
	KindReply     = string(notify.Reply)     // a public message
	KindNote      = string(notify.Note)      // an internal note, to unit members only
	KindStatus    = string(notify.Status)    // a status change
	KindAssigned  = string(notify.Assigned)  // to the unit a ticket moved to, or its new assignee
	KindEscalated = string(notify.Escalated) // to the ticket handler team
	KindReminder  = string(notify.Reminder)  // to the requester of a ticket waiting for their reply
	// KindEscalatedByUser is a user escalation, to the unit, the ticket
	// handler team and the administrators by level.
	KindEscalatedByUser = string(notify.EscalatedByUser)
	// KindAlarm is an urgent notice of an alarm ticket, to the service's
	// alarm_email, the unit and the ticket handler team.
	KindAlarm = string(notify.Alarm)
	// KindQoSWarning and KindQoSViolated tell a unit (and at violation the
	// ticket handler team) of a response time running out, then past.
	KindQoSWarning  = string(notify.QoSWarning)
	KindQoSViolated = string(notify.QoSViolated)
	KindBounce      = "bounce" // a refusal of inbound mail (IMAP)
)

// outMail is one mail to compose.
type outMail struct {
	TicketID  int64
	Kind      string
	To        string
	ToName    string
	FromName  string
	ReplyTo   string
	Subject   string
	Template  string
	Data      tmplData
	InReplyTo string
	Refs      []string
	Auto      string // Auto-Submitted value
	Note      bool
	Urgent    bool // an alarm: marked high importance
	DedupeKey string
	// HTML is the mail's HTML alternative of the text (mail about
	// services, services.go); "" for text only.
	HTML string
	// Unsubscribe is the one-click unsubscribe URL of a mail to a
	// subscriber (List-Unsubscribe, RFC 8058).
	Unsubscribe string
	// Paced: the mail's send job waits its turn among bulk mail
	// (services.go), behind ticket mail.
	Paced bool
}

type tmplData struct {
	Ticket        *ticket.Ticket
	URL           string
	Tag           string
	Unit          string
	Author        string
	Body          string
	Old, New      string
	RecipientName string
	Rcpt, Reason  string
	Subject       string
	// MovedTo and AssignedTo name the unit and person a ticket went to.
	MovedTo, AssignedTo string
	// Reminder counts the reminders of a ticket waiting for a reply.
	Reminder int
	// Level is the level of a user escalation (its reason is Reason).
	Level int
	// Repage: an alarm paged again, nobody of the unit having responded.
	Repage bool
	// ToList: the mail goes to the list of a unit in the mode redirect,
	// which works the ticket by mail.
	ToList bool
}

// compose renders m into a complete RFC 5322 message with Message-ID mid.
func (g *Gateway) compose(m outMail, mid string) ([]byte, error) {
	body, err := renderBody(m)
	if err != nil {
		return nil, err
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	// Names go through net/mail, which quotes or encodes whatever they hold
	// (a quote, an angle bracket, non-ASCII); only the address is checked.
	from, err := address(m.FromName, g.opts.Address)
	if err != nil {
		return nil, fmt.Errorf("mail: from: %w", err)
	}
	to, err := address(m.ToName, m.To)
	if err != nil {
		return nil, fmt.Errorf("mail: to: %w", err)
	}
	msg.FromMailAddress(from)
	msg.ToMailAddress(to)
	if m.ReplyTo != "" {
		if err := msg.ReplyTo(m.ReplyTo); err != nil {
			return nil, fmt.Errorf("mail: reply-to: %w", err)
		}
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(mid)
	msg.SetDateWithValue(g.now())
	if m.InReplyTo != "" {
		msg.SetGenHeader(gomail.HeaderInReplyTo, "<"+m.InReplyTo+">")
	}
	if len(m.Refs) > 0 {
		refs := make([]string, len(m.Refs))
		for i, r := range m.Refs {
			refs[i] = "<" + r + ">"
		}
		msg.SetGenHeader(gomail.HeaderReferences, strings.Join(refs, " "))
	}
	msg.SetGenHeader("Auto-Submitted", m.Auto)
	if m.Urgent {
		msg.SetGenHeader("Importance", "high")
		msg.SetGenHeader("X-Priority", "1 (Highest)")
	}
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetGenHeader(LoopHeader, g.opts.Domain)
	if m.TicketID != 0 {
		msg.SetGenHeader("X-Helpmesh-Ticket", fmt.Sprint(m.TicketID))
	}
	if m.Unsubscribe != "" {
		msg.SetGenHeader("List-Unsubscribe", "<"+m.Unsubscribe+">")
		msg.SetGenHeader("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
	if m.Paced {
		msg.SetGenHeader("Precedence", "bulk")
	}
	msg.SetBodyString(gomail.TypeTextPlain, body)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	if m.Kind == KindAlarm && g.opts.SMIME != nil {
		// Signed over the body part only: the headers above stay outside.
		if err := msg.SignWithTLSCertificate(g.opts.SMIME); err != nil {
			return nil, fmt.Errorf("mail: S/MIME: %w", err)
		}
	}
	var raw bytes.Buffer
	if _, err := msg.WriteTo(&raw); err != nil {
		return nil, fmt.Errorf("mail: compose: %w", err)
	}
	return raw.Bytes(), nil
}

// renderBody is the text of m.
func renderBody(m outMail) (string, error) {
	var body bytes.Buffer
	if err := templates.ExecuteTemplate(&body, m.Template, m.Data); err != nil {
		return "", fmt.Errorf("mail: template %s: %w", m.Template, err)
	}
	return body.String(), nil
}

// address returns the mailbox name <addr>: addr must be a bare address;
// the name is made one line (any text is fine: net/mail encodes it).
func address(name, addr string) (*netmail.Address, error) {
	a, err := netmail.ParseAddress(addr)
	if err != nil || a.Address != addr || a.Name != "" {
		return nil, fmt.Errorf("%q is not an email address", addr)
	}
	a.Name = oneLine(name)
	return a, nil
}

// queue composes m and stores it in the outbox in transaction q: pending
// with a send job when a relay is configured, held otherwise, suppressed
// when the recipient got too many mails lately.
func (g *Gateway) queue(ctx context.Context, q db.Querier, m outMail) error {
	c := g.prepare(m)
	if c.failed != nil {
		return c.failed
	}
	return g.store(ctx, q, c)
}

// composed is an outgoing mail ready for the outbox.
type composed struct {
	m   outMail
	mid string
	raw []byte
	// over: the recipient was found at the rate limit (overLimit), so the
	// mail is suppressed.
	over bool
	// failed: the mail could not be composed (an address the library
	// refuses); it is kept as failed, with why, and holds back no other.
	failed error
	// released: the mail comes out of mail_gathering (batch.go) and goes
	// to the outbox now.
	released bool
}

// overLimit returns which of rcpts got RateLimit mails or more in the last
// RateWindow, read on the read pool, a statement for up to 32 addresses.
// A mail to them is suppressed without counting again where it is stored:
// an address's count of mails in the window rises only by mails stored,
// which store counts again, and falls only as the window moves on, here by
// the moments between this read and the store.
func (g *Gateway) overLimit(ctx context.Context, rcpts []string) (map[string]bool, error) {
	over := map[string]bool{}
	for len(rcpts) > 0 {
		chunk := rcpts[:min(len(rcpts), 32)]
		rcpts = rcpts[len(chunk):]
		list, args := inList(2, chunk)
		args = append([]any{g.now().Add(-g.opts.RateWindow)}, args...)
		got, err := db.Column[string](g.db.Reader().QueryContext(ctx, `SELECT rcpt FROM outbox WHERE rcpt IN (`+list+`) AND created_at > $1 AND state <> 'suppressed'
			GROUP BY rcpt HAVING COUNT(*) >= `+strconv.Itoa(g.opts.RateLimit), args...))
		if err != nil {
			return nil, fmt.Errorf("mail: rate limit: %w", err)
		}
		for _, a := range got {
			over[a] = true
		}
	}
	return over, nil
}

// inList returns the placeholders $first, $first+1, ... for vs and their
// arguments, padded to a power of two by repeating the last value, so that
// few distinct statement texts are prepared.
func inList[T any](first int, vs []T) (string, []any) {
	n := 1
	for n < len(vs) {
		n *= 2
	}
	var b strings.Builder
	args := make([]any, n)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(first+i))
		args[i] = vs[min(i, len(vs)-1)]
	}
	return b.String(), args
}

// prepare composes m, outside any transaction; see composed.failed.
func (g *Gateway) prepare(m outMail) composed {
	flag := flagPublic
	if m.Note {
		flag = flagNote
	}
	mid := g.sig.messageID(m.TicketID, flag, g.opts.Domain)
	raw, err := g.compose(m, mid)
	return composed{m: m, mid: mid, raw: raw, failed: err}
}

// store keeps a composed mail in the outbox in transaction q (see queue).
func (g *Gateway) store(ctx context.Context, q db.Querier, c composed) error {
	if g.gathers(c) {
		return g.gather(ctx, q, c)
	}
	m, mid, raw := c.m, c.mid, c.raw
	now := g.now()
	state := "held"
	if g.opts.Relay != "" {
		state = "pending"
	}
	var dedupe any
	if m.DedupeKey != "" {
		dedupe = m.DedupeKey
	}
	reason := fmt.Sprintf("rate limit: %d mails to %s in %s", g.opts.RateLimit, m.To, g.opts.RateWindow)
	if c.failed != nil {
		g.log.Warn("outgoing mail could not be composed", "ticket", m.TicketID, "kind", m.Kind, "rcpt", m.To, "err", c.failed)
		_, err := q.ExecContext(ctx, `INSERT INTO outbox (ticket_id, kind, mail_from, rcpt, subject, message_id, raw, state, last_error, dedupe_key, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'failed', $8, $9, $10) ON CONFLICT (dedupe_key) DO NOTHING`,
			nullID(m.TicketID), m.Kind, g.opts.Address, m.To, m.Subject, mid, []byte{}, c.failed.Error(), dedupe, now)
		if err != nil {
			return fmt.Errorf("mail: outbox: %w", err)
		}
		return nil
	}
	if c.over {
		// Found at the limit already (overLimit): no need to count again.
		_, err := q.ExecContext(ctx, `INSERT INTO outbox (ticket_id, kind, mail_from, rcpt, subject, message_id, raw, state, last_error, dedupe_key, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'suppressed', $8, $9, $10) ON CONFLICT (dedupe_key) DO NOTHING`,
			nullID(m.TicketID), m.Kind, g.opts.Address, m.To, m.Subject, mid, raw, reason, dedupe, now)
		if err != nil {
			return fmt.Errorf("mail: outbox: %w", err)
		}
		return nil
	}
	// The rate limit is checked in the statement that stores the mail: a
	// mail to an address that got RateLimit mails in the last RateWindow is
	// kept but suppressed. Counting stops at the limit, so a flooded
	// address does not make every further mail to it slower. The limit is
	// a literal: SQLite re-prepares a statement on every run when its LIMIT
	// is a bound parameter. (WHERE TRUE: SQLite would read ON CONFLICT as a
	// join's ON.)
	limit := strconv.Itoa(g.opts.RateLimit)
	insert := `INSERT INTO outbox (ticket_id, kind, mail_from, rcpt, subject, message_id, raw, state, last_error, dedupe_key, created_at)
		SELECT $1, $2, $3, $4, $5, $6, $7,
			CASE WHEN r.n >= ` + limit + ` THEN 'suppressed' ELSE $8 END, CASE WHEN r.n >= ` + limit + ` THEN $9 ELSE '' END, $10, $11
		FROM (SELECT COUNT(*) AS n FROM (SELECT 1 FROM outbox WHERE rcpt = $4 AND created_at > $12 AND state <> 'suppressed' LIMIT ` + limit + `) x) r
		WHERE TRUE
		ON CONFLICT (dedupe_key) DO NOTHING`
	args := []any{nullID(m.TicketID), m.Kind, g.opts.Address, m.To, m.Subject, mid, raw, state, reason, dedupe, now, now.Add(-g.opts.RateWindow)}
	if g.opts.Relay == "" {
		// Nothing is sent: neither the id nor the state is needed.
		if _, err := q.ExecContext(ctx, insert, args...); err != nil {
			return fmt.Errorf("mail: outbox: %w", err)
		}
		return nil
	}
	var id int64
	err := q.QueryRowContext(ctx, insert+` RETURNING id, state`, args...).Scan(&id, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // composed by an earlier run of the same job
	}
	if err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	if state == "pending" {
		kind, at := JobSend, time.Time{}
		if m.Paced {
			if kind, at, err = g.paceSlot(ctx, q); err != nil {
				return err
			}
		}
		if _, err := jobs.Enqueue(ctx, q, kind, sendPayload{ID: id}, at); err != nil {
			return err
		}
	}
	return nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// Release queues for sending every held outbox row (after a relay was
// configured) and returns how many.
func (g *Gateway) Release(ctx context.Context) (int, error) {
	if g.opts.Relay == "" {
		return 0, nil
	}
	n := 0
	err := g.db.Tx(ctx, func(q db.Querier) error {
		rows, err := q.QueryContext(ctx, `UPDATE outbox SET state = 'pending' WHERE state = 'held' RETURNING id`)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := jobs.Enqueue(ctx, q, JobSend, sendPayload{ID: id}, time.Time{}); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mail: release outbox: %w", err)
	}
	return n, nil
}

// automatic tells whether message id came as automatic mail (RFC 3834),
// which nobody is told of (see notify.Options.Automatic).
func (g *Gateway) automatic(ctx context.Context, messageID int64) (bool, error) {
	var auto bool
	err := g.db.Reader().QueryRowContext(ctx, `SELECT automatic FROM inbound_mail WHERE message_id = $1 LIMIT 1`, messageID).Scan(&auto)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mail: inbound mail of message %d: %w", messageID, err)
	}
	return auto, nil
}

type sendPayload struct {
	ID int64 `json:"id"`
}

// handleNotify is the retry path of a ticket event that the dispatcher
// could not tell (see dispatch.go): it composes the mails and returns
// their outbox writes, which the queue commits together with the job's
// done mark.
func (g *Gateway) handleNotify(ctx context.Context, j *jobs.Job) (func(ctx context.Context, q db.Querier) error, error) {
	var ev ticket.Event
	if err := j.Decode(&ev); err != nil {
		return nil, err
	}
	cs, err := g.notify(ctx, ev, fmt.Sprintf("j%d", j.ID))
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return func(ctx context.Context, q db.Querier) error { return g.storeAll(ctx, q, cs) }, nil
}

// storeAll keeps composed mails in the outbox in transaction q.
func (g *Gateway) storeAll(ctx context.Context, q db.Querier, cs []composed) error {
	for _, c := range cs {
		if err := g.store(ctx, q, c); err != nil {
			return fmt.Errorf("mail: notify ticket %d: %w", c.m.TicketID, err)
		}
	}
	return nil
}

// notify composes the mails of ticket event ev, outside any transaction,
// to whom package notify decides. A non-empty dedupe makes the outbox keep
// each mail once across runs for the same dedupe (a retried job); the
// dispatcher needs none, as it moves past the event where it stores the
// mails.
func (g *Gateway) notify(ctx context.Context, ev ticket.Event, dedupe string) ([]composed, error) {
	d, err := g.notifier.Decide(ctx, ev)
	if err != nil || d == nil || len(d.Notices) == 0 {
		return nil, err
	}
	t, msg := d.Ticket, d.Message
	var unitName, unitAddr, unitComment string
	if d.Unit != nil {
		unitName, unitAddr, unitComment = d.Unit.Name, d.Unit.Email, d.Unit.CommentEmail
	}
	// The first message of the ticket: threading, and what a unit that
	// gets a moved ticket reads of it.
	first := msg
	if d.Type != event.TicketCreated || msg == nil {
		first, _ = g.opts.Tickets.FirstMessage(ctx, t.ID) // no thread without it
	}
	var firstMailID string
	if first != nil {
		firstMailID = first.MailID
	}

	root := g.sig.rootID(t.ID, g.opts.Domain)
	refs := []string{root}
	inReplyTo := root
	if firstMailID != "" {
		refs = append(refs, firstMailID)
	}
	if msg != nil && msg.MailID != "" {
		if msg.MailID != firstMailID {
			refs = append(refs, msg.MailID)
		}
		inReplyTo = msg.MailID
	}
	replyBase := g.opts.Address
	if unitAddr != "" && g.ours(unitAddr) {
		replyBase = unitAddr
	}
	commentBase := g.opts.Address
	if unitComment != "" && g.ours(unitComment) {
		commentBase = unitComment
	}
	fromName := g.opts.Tag
	if unitName != "" {
		fromName = unitName + " (" + g.opts.Tag + ")"
	}
	subject := fmt.Sprintf("[%s #%d] %s", g.opts.Tag, t.ID, t.Subject)
	data := tmplData{Ticket: t, URL: g.opts.BaseURL + "/tickets/" + fmt.Sprint(t.ID), Tag: g.opts.Tag, Unit: unitName,
		MovedTo: d.MovedTo, AssignedTo: d.AssignedTo, Reminder: d.Reminder}
	if msg != nil {
		data.Body = msg.Body
		data.Author = msg.Author.Name
		if data.Author == "" {
			data.Author = msg.Author.Email
		} else if msg.Author.Email != "" {
			data.Author += " <" + msg.Author.Email + ">"
		}
	}
	// One mail per notice: one that cannot be composed is kept as failed,
	// and the others go out.
	cs := make([]composed, len(d.Notices))
	for i, n := range d.Notices {
		m := outMail{TicketID: t.ID, Kind: string(n.Kind), To: n.To.Addr, ToName: n.To.Name, FromName: fromName,
			// Each recipient's Reply-To carries a reply token of their
			// own: a reply to it proves its sender (see Gateway.verified).
			ReplyTo: g.sig.tokenAddress(replyBase, t.ID, false, n.To.Addr), Subject: subject, Template: string(n.Kind) + ".txt", Data: data,
			InReplyTo: inReplyTo, Refs: refs, Auto: "auto-generated"}
		m.Data.RecipientName = n.To.Name
		if n.To.Role == notify.RedirectList {
			// The list works the ticket by mail: anyone on it answers
			// through the list's own reply token (see Gateway.listReply).
			m.ReplyTo = g.sig.listTokenAddress(replyBase, t.ID, n.To.Addr)
			m.Data.ToList = true
		}
		if dedupe != "" {
			m.DedupeKey = dedupe + ":" + m.Kind + ":" + m.To
		}
		switch n.Kind {
		case notify.AutoReply:
			m.Auto = "auto-replied"
		case notify.Note:
			m.Note = true
			m.ReplyTo = g.sig.tokenAddress(commentBase, t.ID, true, n.To.Addr)
		case notify.Reply:
			if d.StaffAuthor {
				// Staff members' own addresses stay out of mail to the
				// requester side: their name at most.
				m.Data.Author = cmp.Or(msg.Author.Name, unitName, g.opts.Tag)
			}
		case notify.Status:
			// The name only: no staff member's address to the requester side.
			m.Data.Old, m.Data.New, m.Data.Author = n.Change.Old, n.Change.New, d.Actor.Name
		case notify.EscalatedByUser:
			// The reason given, never a message: no internal note leaks.
			m.Data.Author, m.Data.Body, m.Data.Reason, m.Data.Level = d.Actor.Name, "", d.Reason, d.Level
		case notify.Alarm:
			m.Subject = "ALARM " + subject
			m.Data.Author = d.Actor.Name
			m.Data.Body = ""
			if first != nil && !first.Internal {
				m.Data.Body = first.Body
			}
			m.Data.Repage = d.Type == event.TicketAlarm
			m.Urgent = true
		case notify.QoSWarning, notify.QoSViolated:
			m.Subject = "QoS " + subject
			m.Data.Body = ""
		case notify.Assigned, notify.Escalated:
			m.Data.Author = d.Actor.Name
			m.Data.Body = ""
			if first != nil && !first.Internal {
				m.Data.Body = first.Body
			}
		}
		cs[i] = g.prepare(m)
	}
	return cs, nil
}
