package ticket

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// The lifecycle timers (package lifecycle decides when) act on tickets in
// two states: solved or unsolved since SolvedAt (they close), and waiting
// for the requester's reply since waiting_since (they remind the
// requester, then give up: unsolved). What a timer did is on the ticket
// row itself (its status, reminders_sent), and each action checks, with
// the row locked, that the ticket is still as the scan saw it: two nodes
// that scan at once act once.

// Timed is a ticket as a lifecycle timer's scan sees it.
type Timed struct {
	ID     int64
	UnitID int64 // 0 when it has none
	Status Status
	// Since is when it was solved (solved, unsolved) or started waiting
	// for a reply (waiting_for_reply).
	Since time.Time
	// Reminders is how many reminders the requester got while waiting.
	Reminders int
}

// SolvedBefore returns up to limit solved and unsolved tickets solved
// before t and after the ticket from (in the order of Since, then ID;
// the zero Timed starts at the oldest).
func (s *Store) SolvedBefore(ctx context.Context, t time.Time, from Timed, limit int) ([]Timed, error) {
	return s.timed(ctx, `SELECT id, COALESCE(unit_id, 0), status, solved_at, reminders_sent FROM tickets
		WHERE status IN ('solved', 'unsolved') AND solved_at <= $1 AND (solved_at > $2 OR (solved_at = $2 AND id > $3))
		ORDER BY solved_at, id LIMIT $4`, t, from, limit)
}

// WaitingBefore returns up to limit tickets that started waiting for
// their requester's reply before t, after the ticket from (as
// SolvedBefore).
func (s *Store) WaitingBefore(ctx context.Context, t time.Time, from Timed, limit int) ([]Timed, error) {
	return s.timed(ctx, `SELECT id, COALESCE(unit_id, 0), status, waiting_since, reminders_sent FROM tickets
		WHERE status = 'waiting_for_reply' AND waiting_since <= $1 AND (waiting_since > $2 OR (waiting_since = $2 AND id > $3))
		ORDER BY waiting_since, id LIMIT $4`, t, from, limit)
}

func (s *Store) timed(ctx context.Context, query string, t time.Time, from Timed, limit int) ([]Timed, error) {
	rows, err := s.db.Reader().QueryContext(ctx, query, t.UTC(), from.Since.UTC(), from.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("ticket: timers: %w", err)
	}
	defer rows.Close()
	var out []Timed
	for rows.Next() {
		var d Timed
		var status string
		if err := rows.Scan(&d.ID, &d.UnitID, &status, &d.Since, &d.Reminders); err != nil {
			return nil, fmt.Errorf("ticket: timers: %w", err)
		}
		d.Status = Status(status)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ticket: timers: %w", err)
	}
	return out, nil
}

// still locks ticket seen.ID in q (on PostgreSQL; SQLite has one writer)
// and tells whether it is still as the scan saw it.
func (s *Store) still(ctx context.Context, q db.Querier, seen Timed) (bool, error) {
	lock := ""
	if s.db.Engine == db.Postgres {
		lock = " FOR UPDATE"
	}
	var status string
	var solved, waiting sql.Null[time.Time]
	var reminders int
	err := q.QueryRowContext(ctx, `SELECT status, solved_at, waiting_since, reminders_sent FROM tickets WHERE id = $1`+lock, seen.ID).
		Scan(&status, &solved, &waiting, &reminders)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock: %w", err)
	}
	since := solved
	if Status(status) == WaitingForReply {
		since = waiting
	}
	return Status(status) == seen.Status && since.Valid && since.V.Equal(seen.Since) && reminders == seen.Reminders, nil
}

// whileStill runs fn in a transaction if ticket seen is still as the scan
// saw it (still), and tells whether it ran.
func (s *Store) whileStill(ctx context.Context, seen Timed, fn func(q db.Querier) error) (bool, error) {
	ran := false
	err := s.db.Tx(ctx, func(q db.Querier) error {
		ok, err := s.still(ctx, q, seen)
		if err != nil || !ok {
			return err
		}
		ran = true
		return fn(q)
	})
	return ran && err == nil, err
}

// Expire moves ticket seen to status to for the lifecycle timer p (auth.Timer),
// through UpdateTx, if it is still as seen; it tells whether it did.
func (s *Store) Expire(ctx context.Context, p *auth.Principal, seen Timed, to Status) (bool, error) {
	done, err := s.whileStill(ctx, seen, func(q db.Querier) error {
		return s.UpdateTx(ctx, q, p, seen.ID, Update{Status: &to, Source: FromSystem})
	})
	if err != nil {
		return false, fmt.Errorf("ticket: %d to %s: %w", seen.ID, to, err)
	}
	return done, nil
}

// Remind records reminder n (counted from 1) to the requester of ticket
// seen, waiting for their reply, if it is still as seen: a history entry
// by the timer p and a ticket.reminder event, which tells the requester.
// It tells whether it did. n may skip reminders (those that fell due
// together while no node ran are sent as one, the last).
func (s *Store) Remind(ctx context.Context, p *auth.Principal, seen Timed, n int) (bool, error) {
	if !p.IsTimer() {
		return false, apperr.New(apperr.Forbidden, "%s may not send reminders", p.Label())
	}
	if seen.Status != WaitingForReply || n <= seen.Reminders {
		return false, apperr.New(apperr.Conflict, "ticket %d: reminder %d does not follow %d reminders while %s", seen.ID, n, seen.Reminders, seen.Status)
	}
	done, err := s.whileStill(ctx, seen, func(q db.Querier) error {
		if _, err := q.ExecContext(ctx, `UPDATE tickets SET reminders_sent = $1 WHERE id = $2`, n, seen.ID); err != nil {
			return err
		}
		if err := s.history(ctx, q, seen.ID, p, s.now(), "reminded", "", "", strconv.Itoa(n), FromSystem); err != nil {
			return err
		}
		return s.emit(ctx, q, Event{Kind: "reminder", TicketID: seen.ID, Reminder: n, Source: FromSystem})
	})
	if err != nil {
		return false, fmt.Errorf("ticket: reminder %d of %d: %w", n, seen.ID, err)
	}
	return done, nil
}

// Alarm tickets are paged at once (their ticket.created event) and again
// by the lifecycle timers until a staff member of their unit responds:
// alarm_paged_at is when they were last paged, NULL once someone
// responded (a public reply or note by the unit's staff, alarmAnswered).
// While the status stays new or assigned, nobody has taken the alarm in
// hand.

// alarmPagedAt is the alarm_paged_at of a new ticket of kind created at
// now: an alarm is paged at once (its ticket.created event), and the
// re-page timer counts from then.
func alarmPagedAt(kind Kind, now time.Time) sql.Null[time.Time] {
	return sql.Null[time.Time]{V: now, Valid: kind == KindAlarm}
}

// AlarmsBefore returns up to limit alarm tickets still new or assigned,
// not answered by their unit's staff and last paged before t, after the
// ticket from (as SolvedBefore; Since is when they were last paged).
func (s *Store) AlarmsBefore(ctx context.Context, t time.Time, from Timed, limit int) ([]Timed, error) {
	return s.timed(ctx, `SELECT id, COALESCE(unit_id, 0), status, alarm_paged_at, reminders_sent FROM tickets
		WHERE alarm_paged_at IS NOT NULL AND status IN ('new', 'assigned') AND alarm_paged_at <= $1
		AND (alarm_paged_at > $2 OR (alarm_paged_at = $2 AND id > $3))
		ORDER BY alarm_paged_at, id LIMIT $4`, t, from, limit)
}

// Repage pages alarm ticket seen again for the lifecycle timer p, if it
// is still as the scan saw it (locked, so two nodes page once): a history
// entry by the timer and a ticket.alarm event, which tells the alarm
// contacts, the unit and the ticket handler team. It tells whether it did.
func (s *Store) Repage(ctx context.Context, p *auth.Principal, seen Timed) (bool, error) {
	if !p.IsTimer() {
		return false, apperr.New(apperr.Forbidden, "%s may not page alarms", p.Label())
	}
	lock := ""
	if s.db.Engine == db.Postgres {
		lock = " FOR UPDATE"
	}
	done := false
	err := s.db.Tx(ctx, func(q db.Querier) error {
		var status string
		var paged sql.Null[time.Time]
		err := q.QueryRowContext(ctx, `SELECT status, alarm_paged_at FROM tickets WHERE id = $1`+lock, seen.ID).Scan(&status, &paged)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if Status(status) != seen.Status || !paged.Valid || !paged.V.Equal(seen.Since) {
			return nil
		}
		now := s.now()
		if _, err := q.ExecContext(ctx, `UPDATE tickets SET alarm_paged_at = $1 WHERE id = $2`, now, seen.ID); err != nil {
			return err
		}
		if err := s.history(ctx, q, seen.ID, p, now, "paged", "", "", "", FromSystem); err != nil {
			return err
		}
		done = true
		return s.emit(ctx, q, Event{Kind: "alarm", TicketID: seen.ID, Source: FromSystem})
	})
	if err != nil {
		return false, fmt.Errorf("ticket: re-page alarm %d: %w", seen.ID, err)
	}
	return done, nil
}

// alarmAnswered stops the re-paging of alarm ticket id in q: a staff
// member of its unit responded.
func alarmAnswered(ctx context.Context, q db.Querier, id int64) error {
	if _, err := q.ExecContext(ctx, `UPDATE tickets SET alarm_paged_at = NULL WHERE id = $1`, id); err != nil {
		return fmt.Errorf("alarm answered: %w", err)
	}
	return nil
}
