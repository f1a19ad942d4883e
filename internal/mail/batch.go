package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/jobs"
)

// Fewer mails (issue 16.6): the replies and status changes of a ticket that
// would mail one recipient within Options.Batch are gathered in
// mail_gathering, keyed by ticket and recipient, instead of the outbox. The
// first notice of a key schedules a mail.batch job at the end of the
// window; the job puts one mail in the outbox: the notice itself when it
// is alone, else a digest of them all, threaded and answerable like each
// of them (they share their Reply-To: the recipient's reply token of the
// ticket). Notices to staff (new tickets, notes, moves, alarms) are never
// held back.

// JobBatch releases the notices gathered for one recipient of one ticket.
const JobBatch = "mail.batch"

// KindDigest is a mail that tells several changes of a ticket at once.
const KindDigest = "digest"

// batchable tells whether notices of kind are gathered.
func batchable(kind string) bool { return kind == KindReply || kind == KindStatus }

// gatheredMail is what mail_gathering keeps of one composed notice.
type gatheredMail struct {
	MID       string   `json:"mid"`
	FromName  string   `json:"from_name"`
	ToName    string   `json:"to_name"`
	ReplyTo   string   `json:"reply_to"`
	Subject   string   `json:"subject"`
	InReplyTo string   `json:"in_reply_to"`
	Refs      []string `json:"refs"`
	Auto      string   `json:"auto"`
	Text      string   `json:"text"`
	Raw       []byte   `json:"raw"`
}

type batchPayload struct {
	TicketID int64  `json:"ticket"`
	Rcpt     string `json:"rcpt"`
}

// gathers tells whether c waits in mail_gathering instead of the outbox.
func (g *Gateway) gathers(c composed) bool {
	return g.opts.Batch > 0 && !c.released && c.failed == nil && !c.over && c.m.DedupeKey == "" &&
		c.m.TicketID != 0 && batchable(c.m.Kind)
}

// gather keeps c in mail_gathering in transaction q; the first notice of
// its ticket and recipient schedules their release.
func (g *Gateway) gather(ctx context.Context, q db.Querier, c composed) error {
	text, err := renderBody(c.m)
	if err != nil {
		return err
	}
	m := c.m
	b, err := json.Marshal(gatheredMail{MID: c.mid, FromName: m.FromName, ToName: m.ToName, ReplyTo: m.ReplyTo, Subject: m.Subject,
		InReplyTo: m.InReplyTo, Refs: m.Refs, Auto: m.Auto, Text: text, Raw: c.raw})
	if err != nil {
		return fmt.Errorf("mail: gather: %w", err)
	}
	var waiting int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM mail_gathering WHERE ticket_id = $1 AND rcpt = $2`, m.TicketID, m.To).Scan(&waiting); err != nil {
		return fmt.Errorf("mail: gather: %w", err)
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO mail_gathering (ticket_id, rcpt, kind, mail, created_at) VALUES ($1, $2, $3, $4, $5)`,
		m.TicketID, m.To, m.Kind, string(b), g.now()); err != nil {
		return fmt.Errorf("mail: gather: %w", err)
	}
	if waiting == 0 {
		if _, err := jobs.Enqueue(ctx, q, JobBatch, batchPayload{TicketID: m.TicketID, Rcpt: m.To}, time.Now().Add(g.opts.Batch)); err != nil {
			return err
		}
	}
	return nil
}

// handleBatch composes the one mail of the notices gathered for a ticket
// and recipient and returns the write that moves them to the outbox.
func (g *Gateway) handleBatch(ctx context.Context, j *jobs.Job) (func(ctx context.Context, q db.Querier) error, error) {
	var p batchPayload
	if err := j.Decode(&p); err != nil {
		return nil, err
	}
	rows, err := g.db.Reader().QueryContext(ctx, `SELECT id, kind, mail FROM mail_gathering WHERE ticket_id = $1 AND rcpt = $2 ORDER BY id`, p.TicketID, p.Rcpt)
	if err != nil {
		return nil, fmt.Errorf("mail: batch: %w", err)
	}
	var last int64
	var kinds []string
	var mails []gatheredMail
	for rows.Next() {
		var kind, raw string
		if err := rows.Scan(&last, &kind, &raw); err != nil {
			rows.Close()
			return nil, fmt.Errorf("mail: batch: %w", err)
		}
		var gm gatheredMail
		if err := json.Unmarshal([]byte(raw), &gm); err != nil {
			rows.Close()
			return nil, jobs.Permanent(fmt.Errorf("mail: batch: notice %d: %w", last, err))
		}
		kinds, mails = append(kinds, kind), append(mails, gm)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mail: batch: %w", err)
	}
	if len(mails) == 0 {
		return nil, nil
	}
	c := g.digest(p, kinds, mails)
	if c.failed != nil {
		return nil, c.failed
	}
	return func(ctx context.Context, q db.Querier) error {
		res, err := q.ExecContext(ctx, `DELETE FROM mail_gathering WHERE ticket_id = $1 AND rcpt = $2 AND id <= $3`, p.TicketID, p.Rcpt, last)
		if err != nil {
			return fmt.Errorf("mail: batch: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(mails)) {
			return fmt.Errorf("mail: batch: the notices of ticket %d to %s changed meanwhile", p.TicketID, p.Rcpt)
		}
		// A notice gathered after the read above waits for a window of its own.
		var later int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM mail_gathering WHERE ticket_id = $1 AND rcpt = $2`, p.TicketID, p.Rcpt).Scan(&later); err != nil {
			return fmt.Errorf("mail: batch: %w", err)
		}
		if later > 0 {
			if _, err := jobs.Enqueue(ctx, q, JobBatch, p, time.Now().Add(g.opts.Batch)); err != nil {
				return err
			}
		}
		return g.store(ctx, q, c)
	}, nil
}

// digest is the one mail of the gathered notices ms (of kinds): the notice
// itself when alone, else their texts one after another under the headers
// of the latest.
func (g *Gateway) digest(p batchPayload, kinds []string, ms []gatheredMail) composed {
	latest := ms[len(ms)-1]
	m := outMail{TicketID: p.TicketID, Kind: kinds[0], To: p.Rcpt, ToName: latest.ToName, FromName: latest.FromName,
		ReplyTo: latest.ReplyTo, Subject: latest.Subject, InReplyTo: latest.InReplyTo, Refs: latest.Refs, Auto: latest.Auto}
	if len(ms) == 1 {
		return composed{m: m, mid: latest.MID, raw: latest.Raw, released: true}
	}
	parts := make([]string, len(ms))
	footer := ""
	for i, gm := range ms {
		text := strings.ReplaceAll(gm.Text, "\r\n", "\n")
		if k := strings.LastIndex(text, "\n-- \n"); k >= 0 {
			text, footer = text[:k], text[k+1:]
		}
		parts[i] = strings.TrimSpace(text)
		if kinds[i] != kinds[0] {
			m.Kind = KindDigest
		}
	}
	m.Template = "digest.txt"
	m.Data = tmplData{Body: strings.Join(parts, "\n\n  * * *\n\n") + "\n\n" + footer}
	c := g.prepare(m)
	c.released = true
	return c
}
