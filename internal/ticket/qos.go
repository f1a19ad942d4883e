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

// The response clock (DESIGN.md "QoS, calendars and the ticket
// lifecycle") starts when a unit gets a ticket (its creation, each move to
// another unit) and stops at the unit's first response: a status change,
// a public reply or a note by its staff. When it starts, the Store asks
// Options.ResponseClock for its deadlines on the unit's calendar and
// keeps them on the ticket row; the lifecycle timer warns the unit at
// WarnAt and tells of the violation at DueAt (QoSDue, TellQoS), each once
// per clock, through qos_next_at.

// QoS states of a ticket's response clock.
const (
	QoSRunning  = "running"
	QoSWarning  = "warning"
	QoSViolated = "violated"
	QoSMet      = "met"
)

// What the timer told of a clock (qos_told).
const (
	toldNothing = iota
	toldWarning
	toldViolation
)

// QoSClock is the response clock of a ticket's unit; the zero QoSClock is
// no clock (a ticket without a unit).
type QoSClock struct {
	StartedAt time.Time
	DueAt     time.Time
	WarnAt    time.Time
	// MetAt is the unit's first response; nil while the clock runs.
	MetAt *time.Time
	// Told is what the timer told: 0 nothing, 1 the warning, 2 the
	// violation.
	Told int
}

// Deadlines are when a response clock started at a unit warns and falls due.
type Deadlines struct {
	WarnAt, DueAt time.Time
}

// ResponseClock returns the deadlines of a response clock of unit unitID
// for a ticket of priority started at start.
type ResponseClock func(ctx context.Context, unitID int64, priority Priority, start time.Time) (Deadlines, error)

// Set tells whether c is a clock at all.
func (c QoSClock) Set() bool { return !c.DueAt.IsZero() }

// Running tells whether c waits for the unit's first response.
func (c QoSClock) Running() bool { return c.Set() && c.MetAt == nil }

// State is c's state at now: met (responded in time), violated (responded
// late, or not yet and past due), warning (past the warning), running; ""
// for no clock.
func (c QoSClock) State(now time.Time) string {
	switch {
	case !c.Set():
		return ""
	case c.MetAt != nil && c.MetAt.Before(c.DueAt):
		return QoSMet
	case c.MetAt != nil, !now.Before(c.DueAt):
		return QoSViolated
	case !now.Before(c.WarnAt):
		return QoSWarning
	}
	return QoSRunning
}

// next is when the timer has something to tell of c (qos_next_at).
func (c QoSClock) next() sql.Null[time.Time] {
	switch {
	case !c.Running():
		return sql.Null[time.Time]{}
	case c.Told == toldNothing:
		return sql.Null[time.Time]{V: c.WarnAt, Valid: true}
	case c.Told == toldWarning:
		return sql.Null[time.Time]{V: c.DueAt, Valid: true}
	}
	return sql.Null[time.Time]{}
}

// nullTime is t, NULL when zero.
func nullTime(t time.Time) sql.Null[time.Time] { return sql.Null[time.Time]{V: t, Valid: !t.IsZero()} }

// startClock returns the response clock of unit unitID started at start
// for a ticket of priority: no clock without a unit or a ResponseClock.
func (s *Store) startClock(ctx context.Context, unitID int64, priority Priority, start time.Time) (QoSClock, error) {
	if unitID == 0 || s.opts.ResponseClock == nil {
		return QoSClock{}, nil
	}
	d, err := s.opts.ResponseClock(ctx, unitID, priority, start)
	if err != nil {
		return QoSClock{}, fmt.Errorf("response clock: %w", err)
	}
	// PostgreSQL keeps microseconds: the clock returned equals the one read.
	return QoSClock{StartedAt: start, DueAt: d.DueAt.UTC().Truncate(time.Microsecond), WarnAt: d.WarnAt.UTC().Truncate(time.Microsecond)}, nil
}

// clockColumns are the SET clauses that store c.
func clockColumns(c QoSClock, a *args) []string {
	var met sql.Null[time.Time]
	if c.MetAt != nil {
		met = sql.Null[time.Time]{V: *c.MetAt, Valid: true}
	}
	return []string{"qos_started_at = " + a.add(nullTime(c.StartedAt)), "qos_due_at = " + a.add(nullTime(c.DueAt)),
		"qos_warn_at = " + a.add(nullTime(c.WarnAt)), "qos_met_at = " + a.add(met), "qos_told = " + a.add(c.Told),
		"qos_next_at = " + a.add(c.next())}
}

// clockAfter returns the clock of ticket t after changes by p at now, and
// whether it changed: a move to another unit starts it again; a new
// priority moves its deadlines (counted from its start); a status change
// by the ticket's staff is the unit's response.
func (s *Store) clockAfter(ctx context.Context, p *auth.Principal, t *Ticket, changes []Change, now time.Time) (QoSClock, bool, error) {
	c := t.QoS
	priority, moved, status := t.Priority, int64(-1), false
	for _, ch := range changes {
		switch ch.Field {
		case "unit_id":
			moved = 0
			if _, err := fmt.Sscan(ch.New, &moved); err != nil {
				moved = 0
			}
		case "priority":
			priority = Priority(ch.New)
		case "status":
			status = true
		}
	}
	switch {
	case moved >= 0:
		nc, err := s.startClock(ctx, moved, priority, now)
		return nc, true, err
	case !c.Running():
		return c, false, nil
	}
	changed := false
	if priority != t.Priority {
		nc, err := s.startClock(ctx, t.UnitID, priority, c.StartedAt)
		if err != nil {
			return c, false, err
		}
		c.DueAt, c.WarnAt, changed = nc.DueAt, nc.WarnAt, true
	}
	if status && !p.IsTimer() && p.CanNote(t.Facts()) {
		c.MetAt, changed = &now, true
	}
	return c, changed, nil
}

// responded stops the running clock of ticket t in q: its staff (p)
// replied or wrote a note at now.
func responded(ctx context.Context, q db.Querier, p *auth.Principal, t *Ticket, now time.Time) error {
	// The unit's list (the mode redirect) answers for the unit.
	if f := t.Facts(); !t.QoS.Running() || !(p.CanNote(f) || p.IsUnitList() && p.CanWrite(f)) {
		return nil
	}
	if _, err := q.ExecContext(ctx, `UPDATE tickets SET qos_met_at = $1, qos_next_at = NULL WHERE id = $2 AND qos_met_at IS NULL`, now, t.ID); err != nil {
		return fmt.Errorf("response clock: %w", err)
	}
	return nil
}

// QoSDue returns up to limit tickets whose response clock has something
// to tell by t (a warning or a violation), after the ticket from (as
// SolvedBefore; Since is when it fell due, Reminders what was told).
func (s *Store) QoSDue(ctx context.Context, t time.Time, from Timed, limit int) ([]Timed, error) {
	return s.timed(ctx, `SELECT id, COALESCE(unit_id, 0), status, qos_next_at, qos_told FROM tickets
		WHERE qos_next_at <= $1 AND (qos_next_at > $2 OR (qos_next_at = $2 AND id > $3))
		ORDER BY qos_next_at, id LIMIT $4`, t, from, limit)
}

// TellQoS tells what the response clock of ticket seen has to tell at
// now, for the lifecycle timer p, if it is still as the scan saw it
// (locked, so two nodes tell once): the violation when it is past due
// (then the warning is not told: it came too late), else the warning. It
// writes a history entry by the timer and a ticket.qos_warning or
// ticket.qos_violated event, and returns which ("" when nothing).
func (s *Store) TellQoS(ctx context.Context, p *auth.Principal, seen Timed, now time.Time) (string, error) {
	if !p.IsTimer() {
		return "", apperr.New(apperr.Forbidden, "%s may not tell of QoS", p.Label())
	}
	lock := ""
	if s.db.Engine == db.Postgres {
		lock = " FOR UPDATE"
	}
	told := ""
	err := s.db.Tx(ctx, func(q db.Querier) error {
		var next sql.Null[time.Time]
		var due time.Time
		var n int
		err := q.QueryRowContext(ctx, `SELECT qos_next_at, qos_due_at, qos_told FROM tickets WHERE id = $1 AND qos_met_at IS NULL`+lock, seen.ID).Scan(&next, &due, &n)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if !next.Valid || !next.V.Equal(seen.Since) || n != seen.Reminders || now.Before(next.V) {
			return nil
		}
		kind, set, nextAt := "qos_warning", toldWarning, sql.Null[time.Time]{V: due, Valid: true}
		if !now.Before(due) {
			kind, set, nextAt = "qos_violated", toldViolation, sql.Null[time.Time]{}
		}
		if _, err := q.ExecContext(ctx, `UPDATE tickets SET qos_told = $1, qos_next_at = $2 WHERE id = $3`, set, nextAt, seen.ID); err != nil {
			return err
		}
		if err := s.history(ctx, q, seen.ID, p, s.now(), kind, "", "", due.UTC().Format(time.RFC3339), FromSystem); err != nil {
			return err
		}
		told = kind
		return s.emit(ctx, q, Event{Kind: kind, TicketID: seen.ID, Source: FromSystem})
	})
	if err != nil {
		return "", fmt.Errorf("ticket: QoS of %d: %w", seen.ID, err)
	}
	return told, nil
}
