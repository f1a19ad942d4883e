package mail

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// quarantine keeps a mail that could not be processed, for administrators.
// Only a failure to store it is an error (transient: the transport retries).
func (g *Gateway) quarantine(ctx context.Context, env Envelope, p *parsed, raw []byte, reason string) (Outcome, error) {
	var mailID, subject, from string
	if p != nil {
		mailID, subject, from = p.MessageID, p.Subject, p.From
	}
	if from == "" {
		from = env.MailFrom
	}
	reason = oneLine(reason)
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	var id int64
	err := g.db.W.QueryRowContext(ctx, `INSERT INTO quarantine (source, mail_from, rcpts, mail_id, subject, reason, raw, size, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		env.Source, clip(oneLine(from), 300), clip(oneLine(strings.Join(env.Rcpts, ", ")), 1000), clip(mailID, 300), clip(subject, 300),
		reason, raw, len(raw), g.now()).Scan(&id)
	if err != nil {
		return Outcome{}, fmt.Errorf("mail: quarantine: %w", err)
	}
	g.log.Warn("mail quarantined", "id", id, "source", env.Source, "from", from, "reason", reason)
	return Outcome{Action: "quarantined", Reason: reason}, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return s
}

// OutboxEntry is one outgoing mail as listed for administrators.
type OutboxEntry struct {
	ID        int64      `json:"id"`
	TicketID  int64      `json:"ticket_id,omitempty"`
	Kind      string     `json:"kind"`
	From      string     `json:"from"`
	To        string     `json:"to"`
	Subject   string     `json:"subject"`
	MessageID string     `json:"message_id"`
	State     string     `json:"state"` // held (no relay), pending, sent, failed, suppressed
	Attempts  int        `json:"attempts"`
	LastError string     `json:"last_error,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
}

// Outbox lists outgoing mail, newest first: all states when state is "",
// only ids below before when before > 0 (a cursor), at most limit (1..500).
func (g *Gateway) Outbox(ctx context.Context, state string, before int64, limit int) ([]OutboxEntry, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := g.db.R.QueryContext(ctx, `SELECT id, COALESCE(ticket_id, 0), kind, mail_from, rcpt, subject, message_id, state, attempts, last_error, created_at, sent_at
		FROM outbox WHERE ($1 = '' OR state = $1) AND id < $2 ORDER BY id DESC LIMIT $3`, state, before, limit)
	if err != nil {
		return nil, fmt.Errorf("mail: outbox: %w", err)
	}
	defer rows.Close()
	var es []OutboxEntry
	for rows.Next() {
		var e OutboxEntry
		if err := rows.Scan(&e.ID, &e.TicketID, &e.Kind, &e.From, &e.To, &e.Subject, &e.MessageID, &e.State, &e.Attempts, &e.LastError, &e.CreatedAt, &e.SentAt); err != nil {
			return nil, fmt.Errorf("mail: outbox: %w", err)
		}
		es = append(es, e)
	}
	return es, rows.Err()
}

// OutboxRaw returns the full message of an outbox row.
func (g *Gateway) OutboxRaw(ctx context.Context, id int64) ([]byte, error) {
	var raw []byte
	if err := g.db.R.QueryRowContext(ctx, `SELECT raw FROM outbox WHERE id = $1`, id).Scan(&raw); err != nil {
		return nil, fmt.Errorf("mail: outbox %d: %w", id, err)
	}
	return raw, nil
}

// Quarantined is one quarantined inbound mail.
type Quarantined struct {
	ID         int64     `json:"id"`
	Source     string    `json:"source"`
	From       string    `json:"from"`
	Rcpts      string    `json:"rcpts"`
	MailID     string    `json:"message_id"`
	Subject    string    `json:"subject"`
	Reason     string    `json:"reason"`
	Size       int64     `json:"size"`
	ReceivedAt time.Time `json:"received_at"`
}

// Quarantine lists quarantined mail, newest first (before: cursor).
func (g *Gateway) Quarantine(ctx context.Context, before int64, limit int) ([]Quarantined, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := g.db.R.QueryContext(ctx, `SELECT id, source, mail_from, rcpts, mail_id, subject, reason, size, received_at
		FROM quarantine WHERE id < $1 ORDER BY id DESC LIMIT $2`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("mail: quarantine: %w", err)
	}
	defer rows.Close()
	var qs []Quarantined
	for rows.Next() {
		var q Quarantined
		if err := rows.Scan(&q.ID, &q.Source, &q.From, &q.Rcpts, &q.MailID, &q.Subject, &q.Reason, &q.Size, &q.ReceivedAt); err != nil {
			return nil, fmt.Errorf("mail: quarantine: %w", err)
		}
		qs = append(qs, q)
	}
	return qs, rows.Err()
}

// QuarantinedRaw returns the original bytes of a quarantined mail.
func (g *Gateway) QuarantinedRaw(ctx context.Context, id int64) ([]byte, error) {
	var raw []byte
	if err := g.db.R.QueryRowContext(ctx, `SELECT raw FROM quarantine WHERE id = $1`, id).Scan(&raw); err != nil {
		return nil, fmt.Errorf("mail: quarantine %d: %w", id, err)
	}
	return raw, nil
}

// Backlog counts the outgoing mails not sent yet, by state: pending (to
// be sent or retried), held (no relay) and failed (for /metrics).
func (g *Gateway) Backlog(ctx context.Context) (map[string]int64, error) {
	by, err := g.outboxByState(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]int64{"pending": by["pending"], "held": by["held"], "failed": by["failed"]}, nil
}
