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
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/jobs"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

//go:embed templates/*.txt
var templateFS embed.FS

var templates = template.Must(template.ParseFS(templateFS, "templates/*.txt"))

// Kinds of outgoing mail.
const (
	KindAutoReply = "auto_reply" // to the requester of a new ticket
	KindNewTicket = "new_ticket" // to the unit
	KindReply     = "reply"      // a public message
	KindNote      = "note"       // an internal note, to unit members only
	KindStatus    = "status"     // a status change
	KindBounce    = "bounce"     // a refusal of inbound mail (IMAP)
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
	DedupeKey string
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
}

// compose renders m into a complete RFC 5322 message with Message-ID mid.
func (g *Gateway) compose(m outMail, mid string) ([]byte, error) {
	var body bytes.Buffer
	if err := templates.ExecuteTemplate(&body, m.Template, m.Data); err != nil {
		return nil, fmt.Errorf("mail: template %s: %w", m.Template, err)
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
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetGenHeader(LoopHeader, g.opts.Domain)
	if m.TicketID != 0 {
		msg.SetGenHeader("X-Helpmesh-Ticket", fmt.Sprint(m.TicketID))
	}
	msg.SetBodyString(gomail.TypeTextPlain, body.String())
	var raw bytes.Buffer
	if _, err := msg.WriteTo(&raw); err != nil {
		return nil, fmt.Errorf("mail: compose: %w", err)
	}
	return raw.Bytes(), nil
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
		if _, err := jobs.Enqueue(ctx, q, JobSend, sendPayload{ID: id}, time.Time{}); err != nil {
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

// eventMessage is the message an event is about.
type eventMessage struct {
	AuthorID    int64
	AuthorEmail string
	AuthorName  string
	Internal    bool
	Body        string
	MailID      string
	Automatic   bool
}

func (g *Gateway) loadMessage(ctx context.Context, id int64) (*eventMessage, error) {
	m := &eventMessage{}
	err := g.db.Reader().QueryRowContext(ctx, `SELECT COALESCE(m.author_id, 0), m.author_email, m.author_name, m.internal, m.body, COALESCE(m.mail_id, ''),
		COALESCE((SELECT i.automatic FROM inbound_mail i WHERE i.message_id = m.id LIMIT 1), FALSE)
		FROM messages m WHERE m.id = $1`, id).
		Scan(&m.AuthorID, &m.AuthorEmail, &m.AuthorName, &m.Internal, &m.Body, &m.MailID, &m.Automatic)
	if err != nil {
		return nil, fmt.Errorf("mail: message %d: %w", id, err)
	}
	return m, nil
}

// unitCache keeps what notifications need of a unit (its name, addresses
// and members) for unitTTL: a change of members reaches notifications
// within that time. A burst of tickets for a unit then reads it once.
type unitCache struct {
	mu sync.Mutex
	m  map[int64]*unitInfo
}

const unitTTL = time.Second

type unitInfo struct {
	name, addr, comment string
	members             []rcpt
	at                  time.Time
}

// unit returns what notifications need of unit id; a unit that no longer
// exists has no name, addresses or members.
func (g *Gateway) unit(ctx context.Context, id int64) (*unitInfo, error) {
	now := time.Now()
	g.units.mu.Lock()
	u := g.units.m[id]
	g.units.mu.Unlock()
	if u != nil && now.Sub(u.at) < unitTTL {
		return u, nil
	}
	u = &unitInfo{at: now}
	un, err := g.opts.Units.UnitByID(ctx, id)
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		return nil, err
	}
	if un != nil {
		u.name, u.addr, u.comment = un.Name, un.Email, un.CommentEmail
		ms, err := g.opts.Units.Members(ctx, un.ID)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			u.members = append(u.members, rcpt{m.Email, m.Name})
		}
	}
	g.units.mu.Lock()
	if g.units.m == nil || len(g.units.m) > 1000 {
		g.units.m = map[int64]*unitInfo{}
	}
	g.units.m[id] = u
	g.units.mu.Unlock()
	return u, nil
}

// recipients collects addresses, lower-cased and without duplicates, the
// excluded ones and our own.
type recipients struct {
	g       *Gateway
	exclude []string
	list    []rcpt
}

type rcpt struct{ addr, name string }

func (r *recipients) add(addr, name string) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if addr == "" || !strings.Contains(addr, "@") || slices.Contains(r.exclude, addr) || r.g.ours(addr) || addr == r.g.opts.Address {
		return
	}
	for _, x := range r.list {
		if x.addr == addr {
			return
		}
	}
	r.list = append(r.list, rcpt{addr, name})
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

// notify reads what ticket event ev is about and composes the mails it
// causes, outside any transaction. A non-empty dedupe makes the outbox keep
// each mail once across runs for the same dedupe (a retried job); the
// dispatcher needs none, as it deletes the event where it stores the mails.
func (g *Gateway) notify(ctx context.Context, ev ticket.Event, dedupe string) ([]composed, error) {
	t, err := ev.Ticket, error(nil)
	if t == nil {
		t, err = g.opts.Tickets.Get(ctx, g.system, ev.TicketID)
	}
	if apperr.Is(err, apperr.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var actor, actorName string
	switch {
	case ev.ActorID == 0:
	case ev.ActorID == t.Requester.ID:
		actor, actorName = t.Requester.Email, t.Requester.Name
	default:
		_ = g.db.Reader().QueryRowContext(ctx, `SELECT email, name FROM users WHERE id = $1`, ev.ActorID).Scan(&actor, &actorName)
	}
	var msg *eventMessage
	switch m := ev.Message; {
	case ev.MessageID == 0:
	case m != nil && m.MailID == "":
		// Not from a mail, so not automatic mail: all is in the event.
		msg = &eventMessage{AuthorID: m.Author.ID, AuthorEmail: m.Author.Email, AuthorName: m.Author.Name, Internal: m.Internal, Body: m.Body}
	default:
		if msg, err = g.loadMessage(ctx, ev.MessageID); err != nil {
			return nil, err
		}
	}
	var unitName, unitAddr, unitComment string
	var members []rcpt
	if t.UnitID != 0 {
		u, err := g.unit(ctx, t.UnitID)
		if err != nil {
			return nil, err
		}
		unitName, unitAddr, unitComment, members = u.name, u.addr, u.comment, u.members
	}
	var firstMailID string
	if ev.Kind == "created" && msg != nil {
		firstMailID = msg.MailID // the first message of the ticket
	} else {
		_ = g.db.Reader().QueryRowContext(ctx, `SELECT COALESCE(mail_id, '') FROM messages WHERE ticket_id = $1 ORDER BY id LIMIT 1`, t.ID).Scan(&firstMailID)
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
	data := tmplData{Ticket: t, URL: g.opts.BaseURL + "/tickets/" + fmt.Sprint(t.ID), Tag: g.opts.Tag, Unit: unitName}
	if msg != nil {
		data.Body = msg.Body
		data.Author = msg.AuthorName
		if data.Author == "" {
			data.Author = msg.AuthorEmail
		} else if msg.AuthorEmail != "" {
			data.Author += " <" + msg.AuthorEmail + ">"
		}
	}
	var out []outMail
	// Each recipient's Reply-To carries a reply token of their own: a reply
	// to it proves its sender (see Gateway.verified).
	mk := func(kind, tmpl, auto string, to rcpt, note bool) outMail {
		d := data
		d.RecipientName = to.name
		m := outMail{TicketID: t.ID, Kind: kind, To: to.addr, ToName: to.name, FromName: fromName,
			ReplyTo: g.sig.tokenAddress(replyBase, t.ID, false, to.addr), Subject: subject, Template: tmpl + ".txt", Data: d,
			InReplyTo: inReplyTo, Refs: refs, Auto: auto, Note: note}
		if dedupe != "" {
			m.DedupeKey = dedupe + ":" + kind + ":" + to.addr
		}
		if note {
			m.ReplyTo = g.sig.tokenAddress(commentBase, t.ID, true, to.addr)
		}
		return m
	}
	// staff are told about what the requester side writes: the assignee,
	// else the unit's list (when it is not one of our own addresses), else
	// every member.
	staff := func(r *recipients) {
		switch {
		case t.Assignee != nil:
			r.add(t.Assignee.Email, t.Assignee.Name)
		case unitAddr != "" && !g.ours(unitAddr):
			r.add(unitAddr, unitName)
		default:
			for _, m := range members {
				r.add(m.addr, m.name)
			}
		}
	}
	switch ev.Kind {
	case "created":
		if msg != nil && !msg.Automatic {
			r := &recipients{g: g}
			r.add(t.Requester.Email, t.Requester.Name)
			for _, x := range r.list {
				out = append(out, mk(KindAutoReply, "auto_reply", "auto-replied", x, false))
			}
		}
		r := &recipients{g: g, exclude: []string{actor, t.Requester.Email}}
		staff(r)
		for _, x := range r.list {
			out = append(out, mk(KindNewTicket, "new_ticket", "auto-generated", x, false))
		}
	case "message":
		if msg == nil || msg.Automatic {
			break
		}
		if ev.Internal || msg.Internal {
			r := &recipients{g: g, exclude: []string{actor, msg.AuthorEmail}}
			if t.Assignee != nil {
				r.add(t.Assignee.Email, t.Assignee.Name)
			}
			for _, m := range members {
				r.add(m.addr, m.name)
			}
			for _, x := range r.list {
				out = append(out, mk(KindNote, "note", "auto-generated", x, true))
			}
			break
		}
		r := &recipients{g: g, exclude: []string{actor, msg.AuthorEmail}}
		r.add(t.Requester.Email, t.Requester.Name)
		for _, w := range t.WatcherList {
			r.add(w, "")
		}
		if g.isStaff(ctx, msg.AuthorID, t) {
			// Staff members' own addresses stay out of mail to the
			// requester side: their name at most.
			data.Author = cmp.Or(msg.AuthorName, unitName, g.opts.Tag)
		} else {
			staff(r)
		}
		for _, x := range r.list {
			out = append(out, mk(KindReply, "reply", "auto-generated", x, false))
		}
	case "changed":
		for _, c := range ev.Changes {
			if c.Field != "status" {
				continue
			}
			r := &recipients{g: g, exclude: []string{actor}}
			r.add(t.Requester.Email, t.Requester.Name)
			for _, w := range t.WatcherList {
				r.add(w, "")
			}
			for _, x := range r.list {
				m := mk(KindStatus, "status", "auto-generated", x, false)
				// The name only: no staff member's address to the requester side.
				m.Data.Old, m.Data.New, m.Data.Author = c.Old, c.New, actorName
				out = append(out, m)
			}
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	// One mail per recipient: one that cannot be composed is kept as
	// failed, and the others go out.
	cs := make([]composed, len(out))
	for i, m := range out {
		cs[i] = g.prepare(m)
	}
	return cs, nil
}

func (g *Gateway) isStaff(ctx context.Context, userID int64, t *ticket.Ticket) bool {
	if userID == 0 {
		return false
	}
	p, err := g.opts.Users.Principal(ctx, userID)
	return err == nil && p.CanWorkTicket(t.Facts())
}
