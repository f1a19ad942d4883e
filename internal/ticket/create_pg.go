package ticket

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// createPG writes a ticket, its history row and its first message on
// PostgreSQL in one statement (one round trip; the search vectors are
// generated columns), and returns the ticket's and the message's ids with
// what the ticket read would show of its requester, service and unit. An
// unknown requester writes nothing and returns no row. The foreign keys are
// checked at the end of the statement, when the ticket exists.
const createPG = `WITH u AS (
	SELECT team, email, name FROM users WHERE id = $8::bigint
), t AS (
	INSERT INTO tickets (subject, status, priority, type, kind, service_id, unit_id, requester_id, team, source, created_at, updated_at, public_updated_at, alarm_paged_at,
		original_priority, qos_started_at, qos_due_at, qos_warn_at, qos_next_at)
	SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::bigint, $8::bigint, u.team, $9::text, $10::timestamptz, $10::timestamptz, $10::timestamptz, $16::timestamptz,
		$3::text, $17::timestamptz, $18::timestamptz, $19::timestamptz, $19::timestamptz FROM u
	RETURNING id
), h AS (
	INSERT INTO history (ticket_id, at, actor_id, actor, action, field, old, new, source)
	SELECT t.id, $10::timestamptz, $11::bigint, $12::text, 'created', '', '', $2::text, $9::text FROM t
), m AS (
	INSERT INTO messages (ticket_id, author_id, author_email, author_name, internal, source, body, body_html, mail_id, created_at)
	SELECT t.id, $8::bigint, u.email, u.name, FALSE, $9::text, $13::text, $14::text, $15::text, $10::timestamptz FROM t, u
	RETURNING id
)
SELECT t.id, m.id, u.team, u.email, u.name,
	COALESCE((SELECT slug FROM services WHERE id = $6::bigint), ''), COALESCE((SELECT slug FROM units WHERE id = $7::bigint), '')
FROM t, m, u`

// pgCreate is one ticket being written by createPG.
type pgCreate struct {
	t    *Ticket
	mid  int64 // the first message
	args []any
}

func newPGCreate(p *auth.Principal, nt NewTicket, t *Ticket, now time.Time) *pgCreate {
	var mail any
	if nt.MailID != "" {
		mail = nt.MailID
	}
	return &pgCreate{t: t, args: []any{
		t.Subject, string(t.Status), string(t.Priority), string(t.Type), string(t.Kind), nullID(t.ServiceID), nullID(t.UnitID),
		nt.RequesterID, string(nt.Source), now, nullID(p.UserID), p.Label(), nt.Body, nt.BodyHTML, mail, alarmPagedAt(t.Kind, now),
		nullTime(t.QoS.StartedAt), nullTime(t.QoS.DueAt), nullTime(t.QoS.WarnAt),
	}}
}

// scan reads createPG's row.
func (c *pgCreate) scan(row db.Row) error {
	t := c.t
	if err := row.Scan(&t.ID, &c.mid, &t.Team, &t.Requester.Email, &t.Requester.Name, &t.Service, &t.Unit); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.Field("requester", "no such user")
		}
		return fmt.Errorf("insert ticket: %w", err)
	}
	return nil
}

// createPostgres is Create's transaction on PostgreSQL: createPG goes to
// the server with the BEGIN, then the attachments, watchers and the Emit
// hook's writes, then the COMMIT.
func (s *Store) createPostgres(ctx context.Context, p *auth.Principal, nt NewTicket) (*Ticket, error) {
	now := s.now().Truncate(time.Microsecond)
	t, err := s.newTicket(ctx, nt, now)
	if err != nil {
		return nil, err
	}
	c := newPGCreate(p, nt, t, now)
	err = s.db.TxFirst(ctx, createPG, c.args, c.scan, func(q db.Querier) error {
		return s.createRest(ctx, q, p, nt, c.t, c.mid, now)
	})
	if err != nil {
		return nil, err
	}
	return c.t, nil
}

// insertTicketPG is insertTicket on PostgreSQL, in the caller's
// transaction q.
func (s *Store) insertTicketPG(ctx context.Context, q db.Querier, p *auth.Principal, nt NewTicket, now time.Time) (*Ticket, error) {
	t, err := s.newTicket(ctx, nt, now)
	if err != nil {
		return nil, err
	}
	c := newPGCreate(p, nt, t, now)
	if err := c.scan(q.QueryRowContext(ctx, createPG, c.args...)); err != nil {
		return nil, err
	}
	return c.t, s.createRest(ctx, q, p, nt, c.t, c.mid, now)
}
