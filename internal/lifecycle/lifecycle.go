// Package lifecycle runs the ticket lifecycle timers (DESIGN.md "QoS,
// calendars and the ticket lifecycle"), with GGUS defaults:
//   - solved and unsolved tickets are closed CloseAfter (10wd) after they
//     were solved; nobody else closes a ticket;
//   - the requester of a ticket waiting for their reply is reminded at
//     each of Reminders (5wd, 10wd) after it started waiting, and the
//     ticket becomes unsolved at Unsolved (15wd);
//   - an alarm ticket nobody of its unit has responded to (still new or
//     assigned, no reply or note by its staff) is paged again every
//     AlarmRepage (30m of clock time: an emergency knows no working hours);
//   - the unit of a ticket whose response clock passed its warning (75 %
//     of the response time by default) is warned, and told of the
//     violation at 100 %, once each per clock (the deadlines are on the
//     ticket, counted on the unit's calendar when its clock started).
//
// Durations count the working time of the ticket's unit's calendar. The
// timers act as auth.Timer through the ticket store, which writes each
// action to the ticket's history and the event stream. A periodic scan
// finds what is due; the store acts on a ticket only if it is still as the
// scan saw it, with its row locked, so timers act once across nodes, and
// what they did is on the ticket, so a restart repeats nothing.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/worktime"
)

// Tickets is what the timers need of the ticket store.
type Tickets interface {
	SolvedBefore(ctx context.Context, t time.Time, from ticket.Timed, limit int) ([]ticket.Timed, error)
	WaitingBefore(ctx context.Context, t time.Time, from ticket.Timed, limit int) ([]ticket.Timed, error)
	Expire(ctx context.Context, p *auth.Principal, seen ticket.Timed, to ticket.Status) (bool, error)
	Remind(ctx context.Context, p *auth.Principal, seen ticket.Timed, n int) (bool, error)
	AlarmsBefore(ctx context.Context, t time.Time, from ticket.Timed, limit int) ([]ticket.Timed, error)
	Repage(ctx context.Context, p *auth.Principal, seen ticket.Timed) (bool, error)
	QoSDue(ctx context.Context, t time.Time, from ticket.Timed, limit int) ([]ticket.Timed, error)
	TellQoS(ctx context.Context, p *auth.Principal, seen ticket.Timed, now time.Time) (string, error)
}

// Policy is what the timers do when.
type Policy struct {
	CloseAfter worktime.Duration
	Reminders  []worktime.Duration
	Unsolved   worktime.Duration
	// AlarmRepage is how often an unanswered alarm is paged again; 0
	// never.
	AlarmRepage time.Duration
}

// Options configure Timers. Tickets, Policy and Calendar are required.
type Options struct {
	Tickets Tickets
	Policy  Policy
	// Calendar is the working time of units without a calendar of their
	// own.
	Calendar *worktime.Calendar
	// UnitCalendar returns the calendar of unit id, nil for the default
	// Calendar; nil: every unit uses Calendar. The scan reads the tickets
	// that started at least a policy's duration ago on any calendar
	// (worktime's MinElapsedAny).
	UnitCalendar func(ctx context.Context, unitID int64) (*worktime.Calendar, error)
	// Interval between scans; a minute by default.
	Interval time.Duration
	// Now returns the current time; time.Now by default.
	Now func() time.Time
	Log *slog.Logger
}

// Timers runs the lifecycle timers.
type Timers struct {
	opts  Options
	timer *auth.Principal
}

// batch is how many tickets one read of the scan returns.
const batch = 500

// New checks opts and returns the Timers.
func New(opts Options) (*Timers, error) {
	if opts.Tickets == nil || opts.Calendar == nil {
		return nil, errors.New("lifecycle: Tickets and Calendar are required")
	}
	zero := worktime.Duration{}
	if opts.Policy.CloseAfter == zero || opts.Policy.Unsolved == zero {
		return nil, errors.New("lifecycle: the policy needs CloseAfter and Unsolved")
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Timers{opts: opts, timer: auth.Timer()}, nil
}

// Run scans every Interval until ctx ends.
func (t *Timers) Run(ctx context.Context) error {
	tick := time.NewTicker(t.opts.Interval)
	defer tick.Stop()
	for {
		if _, err := t.Scan(ctx); err != nil && ctx.Err() == nil {
			t.opts.Log.Warn("lifecycle timers", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Done counts what one scan did.
type Done struct {
	Closed, Reminded, Unsolved, Repaged int
	// QoSWarnings and QoSViolations count the response clocks told of.
	QoSWarnings, QoSViolations int
}

// Scan acts on every ticket that is due now, and returns what it did. A
// ticket that fails is logged and left for the next scan; the others go
// on.
func (t *Timers) Scan(ctx context.Context) (Done, error) {
	var done Done
	now := t.opts.Now()
	p := t.opts.Policy
	closed, err := t.each(ctx, t.opts.Tickets.SolvedBefore, now.Add(-t.minElapsed(p.CloseAfter)), func(tk ticket.Timed, cal *worktime.Calendar) (bool, error) {
		if now.Before(cal.Add(tk.Since, p.CloseAfter)) {
			return false, nil
		}
		return t.opts.Tickets.Expire(ctx, t.timer, tk, ticket.Closed)
	})
	done.Closed = closed
	first := p.Unsolved
	if len(p.Reminders) > 0 {
		first = p.Reminders[0]
	}
	_, err2 := t.each(ctx, t.opts.Tickets.WaitingBefore, now.Add(-t.minElapsed(first)), func(tk ticket.Timed, cal *worktime.Calendar) (bool, error) {
		if !now.Before(cal.Add(tk.Since, p.Unsolved)) {
			ok, err := t.opts.Tickets.Expire(ctx, t.timer, tk, ticket.Unsolved)
			if ok {
				done.Unsolved++
			}
			return ok, err
		}
		// The last reminder due that was not sent: reminders that fell
		// due together (no node ran) go as one.
		n := 0
		for i := len(p.Reminders); i > tk.Reminders; i-- {
			if !now.Before(cal.Add(tk.Since, p.Reminders[i-1])) {
				n = i
				break
			}
		}
		if n == 0 {
			return false, nil
		}
		ok, err := t.opts.Tickets.Remind(ctx, t.timer, tk, n)
		if ok {
			done.Reminded++
		}
		return ok, err
	})
	var err3 error
	if p.AlarmRepage > 0 {
		done.Repaged, err3 = t.each(ctx, t.opts.Tickets.AlarmsBefore, now.Add(-p.AlarmRepage), func(tk ticket.Timed, _ *worktime.Calendar) (bool, error) {
			return t.opts.Tickets.Repage(ctx, t.timer, tk)
		})
	}
	_, err4 := t.each(ctx, t.opts.Tickets.QoSDue, now, func(tk ticket.Timed, _ *worktime.Calendar) (bool, error) {
		told, err := t.opts.Tickets.TellQoS(ctx, t.timer, tk, now)
		switch told {
		case "qos_warning":
			done.QoSWarnings++
		case "qos_violated":
			done.QoSViolations++
		}
		return told != "", err
	})
	return done, errors.Join(err, err2, err3, err4)
}

// each reads the tickets of list that started before, a batch at a time,
// and calls act on each with its calendar; it returns how many act did.
func (t *Timers) each(ctx context.Context, list func(context.Context, time.Time, ticket.Timed, int) ([]ticket.Timed, error),
	before time.Time, act func(ticket.Timed, *worktime.Calendar) (bool, error)) (int, error) {
	n := 0
	var from ticket.Timed
	for {
		tks, err := list(ctx, before, from, batch)
		if err != nil {
			return n, err
		}
		for _, tk := range tks {
			cal, err := t.calendar(ctx, tk.UnitID)
			if err != nil {
				return n, err
			}
			ok, err := act(tk, cal)
			if err != nil {
				if ctx.Err() != nil {
					return n, ctx.Err()
				}
				t.opts.Log.Warn("lifecycle timer failed on a ticket; it is tried again at the next scan", "ticket", tk.ID, "status", tk.Status, "err", err)
				continue
			}
			if ok {
				n++
				t.opts.Log.Info("lifecycle timer acted", "ticket", tk.ID, "status", tk.Status, "since", tk.Since)
			}
		}
		if len(tks) < batch {
			return n, nil
		}
		from = tks[len(tks)-1]
	}
}

// minElapsed is the least wall-clock time d takes on the calendar of any
// ticket: the default Calendar's, or, with units' calendars, any.
func (t *Timers) minElapsed(d worktime.Duration) time.Duration {
	if t.opts.UnitCalendar == nil {
		return d.MinElapsed(t.opts.Calendar)
	}
	return d.MinElapsedAny(t.opts.Calendar)
}

// calendar returns the calendar of unit id.
func (t *Timers) calendar(ctx context.Context, unitID int64) (*worktime.Calendar, error) {
	if t.opts.UnitCalendar == nil || unitID == 0 {
		return t.opts.Calendar, nil
	}
	c, err := t.opts.UnitCalendar(ctx, unitID)
	if err != nil {
		return nil, fmt.Errorf("lifecycle: calendar of unit %d: %w", unitID, err)
	}
	if c == nil {
		return t.opts.Calendar, nil
	}
	return c, nil
}
