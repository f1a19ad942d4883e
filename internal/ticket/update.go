package ticket

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/user"
)

// Update lists the fields to change; nil leaves a field as it is.
type Update struct {
	Status   *Status
	Priority *Priority
	Type     *Type
	// UnitID moves the ticket to another unit.
	UnitID *int64
	// ServiceID changes the service; ServiceUnitID is that service's unit,
	// which the ticket follows unless UnitID is given too.
	ServiceID     *int64
	ServiceUnitID int64
	// AssigneeID assigns the ticket; 0 takes the assignee away.
	AssigneeID *int64
	Source     Source
}

// Empty tells whether u changes nothing.
func (u Update) Empty() bool {
	return u.Status == nil && u.Priority == nil && u.Type == nil && u.UnitID == nil && u.ServiceID == nil && u.AssigneeID == nil
}

// Update changes a ticket's fields following the GGUS workflow (see
// UpdateTx) in a transaction of its own, and returns the ticket as written,
// also when the change moved it out of p's sight (a supporter who
// escalates to the ticket handler team).
func (s *Store) Update(ctx context.Context, p *auth.Principal, id int64, u Update) (*Ticket, error) {
	if err := s.db.Tx(ctx, func(q db.Querier) error { return s.UpdateTx(ctx, q, p, id, u) }); err != nil {
		return nil, err
	}
	return s.cache.load(ctx, s, id, p.UserID)
}

// UpdateTx is Update inside the caller's transaction q, and the one way a
// ticket's fields change:
//   - only the ticket's staff change fields; whoever else may move its
//     status is auth's CanSetStatus (the requester verifies or reopens a
//     solved or unsolved ticket, a mail participant reopens it, the timer
//     closes it), and only the requester (or, for a team ticket, its team) may verify;
//   - status changes follow the allowed transitions;
//   - setting a unit moves a new ticket to assigned;
//   - a verified or closed ticket is frozen.
//
// q is unusable after any error and must be rolled back.
func (s *Store) UpdateTx(ctx context.Context, q db.Querier, p *auth.Principal, id int64, u Update) error {
	u, err := checkUpdate(u)
	if err != nil {
		return err
	}
	if err := s.update(ctx, q, p, id, u); err != nil {
		if db.IsForeignKeyViolation(err) {
			return apperr.New(apperr.Invalid, "the unit, service or assignee does not exist")
		}
		return fmt.Errorf("ticket: update %d: %w", id, err)
	}
	return nil
}

// checkUpdate checks the values of u and fills in its source.
func checkUpdate(u Update) (Update, error) {
	if u.Source == "" {
		u.Source = FromAPI
	}
	if err := checkEnum("source", u.Source, Sources); err != nil {
		return u, err
	}
	if u.Status != nil {
		if err := checkEnum("status", *u.Status, Statuses); err != nil {
			return u, err
		}
	}
	if u.Priority != nil {
		if err := checkEnum("priority", *u.Priority, Priorities); err != nil {
			return u, err
		}
	}
	if u.Type != nil {
		if err := checkEnum("type", *u.Type, Types); err != nil {
			return u, err
		}
	}
	return u, nil
}

func (s *Store) update(ctx context.Context, q db.Querier, p *auth.Principal, id int64, u Update) error {
	t, err := s.get(ctx, q, p, id)
	if err != nil {
		return err
	}
	if p.ReadOnly {
		return apperr.New(apperr.Forbidden, "this credential is read-only")
	}
	if u.Empty() {
		return nil
	}
	if t.Status.Frozen() {
		return apperr.New(apperr.Conflict, "ticket %d is %s and cannot change", t.ID, t.Status)
	}
	if f := t.Facts(); !p.CanWorkTicket(f) {
		others := u.Type != nil || u.UnitID != nil || u.ServiceID != nil || u.AssigneeID != nil
		statusOK := u.Status == nil || p.CanSetStatus(f, string(*u.Status))
		priorityOK := u.Priority == nil || p.CanSetPriority(f)
		if others || !statusOK || !priorityOK {
			if p.IsPerson() {
				return apperr.New(apperr.Forbidden, "requesters may only verify or reopen their solved tickets")
			}
			return apperr.New(apperr.Forbidden, "%s may not make this change", p.Label())
		}
	}
	changes, err := s.plan(ctx, q, p, t, u)
	if err != nil || len(changes) == 0 {
		return err
	}
	return s.apply(ctx, q, p, t, changes, u.Source)
}

// plan works out the field changes an update makes, and checks them.
func (s *Store) plan(ctx context.Context, q db.Querier, p *auth.Principal, t *Ticket, u Update) ([]Change, error) {
	var changes []Change
	add := func(field, old, new string) {
		if old != new {
			changes = append(changes, Change{Field: field, Old: old, New: new})
		}
	}
	id := func(v int64) string {
		if v == 0 {
			return ""
		}
		return strconv.FormatInt(v, 10)
	}
	unitID := t.UnitID
	if u.ServiceID != nil {
		if *u.ServiceID == 0 {
			return nil, apperr.Field("service", "is required")
		}
		add("service_id", id(t.ServiceID), id(*u.ServiceID))
		if u.UnitID == nil {
			unitID = u.ServiceUnitID
		}
	}
	if u.UnitID != nil {
		if *u.UnitID == 0 {
			return nil, apperr.Field("unit", "is required")
		}
		unitID = *u.UnitID
	}
	add("unit_id", id(t.UnitID), id(unitID))

	status := t.Status
	if u.Status != nil && *u.Status != t.Status {
		switch {
		case p.IsTimer() && TimerCanMove(t.Status, *u.Status):
		case *u.Status == Closed:
			return nil, apperr.Field("status", "only the lifecycle timer closes a ticket, once it has been solved or unsolved for HELPMESH_CLOSE_AFTER (allowed: %v)", Next(t.Status))
		case !CanMove(t.Status, *u.Status):
			return nil, apperr.Field("status", "a ticket cannot move from %s to %s (allowed: %v)", t.Status, *u.Status, Next(t.Status))
		}
		if *u.Status == Verified && p.UserID != t.Requester.ID && !p.InTeamOf(t.Facts()) {
			return nil, apperr.New(apperr.Forbidden, "only the requester (and for a team ticket its team) may verify a ticket")
		}
		status = *u.Status
	} else if unitID != t.UnitID && t.Status == New {
		status = Assigned
	}
	add("status", string(t.Status), string(status))
	if u.Priority != nil {
		add("priority", string(t.Priority), string(*u.Priority))
	}
	if u.Type != nil {
		add("type", string(t.Type), string(*u.Type))
	}
	if u.AssigneeID != nil {
		old := int64(0)
		if t.Assignee != nil {
			old = t.Assignee.ID
		}
		if *u.AssigneeID != 0 && *u.AssigneeID != old {
			if err := s.checkAssignee(ctx, q, *u.AssigneeID, unitID); err != nil {
				return nil, err
			}
		}
		add("assignee_id", id(old), id(*u.AssigneeID))
	}
	return changes, nil
}

// checkAssignee: an assignee works the unit (member or admin), or is in the
// ticket handler team, or is an administrator.
func (s *Store) checkAssignee(ctx context.Context, q db.Querier, userID, unitID int64) error {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM users u WHERE u.id = $1 AND NOT u.disabled AND (u.role = 'admin'
		OR EXISTS (SELECT 1 FROM unit_members m JOIN units un ON un.id = m.unit_id WHERE m.user_id = u.id AND (m.unit_id = $2 OR un.is_handler)))`,
		userID, unitID).Scan(&n)
	if err != nil {
		return fmt.Errorf("check assignee: %w", err)
	}
	if n == 0 {
		return apperr.Field("assignee", "user %d does not work this ticket's unit", userID)
	}
	return nil
}

func (s *Store) apply(ctx context.Context, q db.Querier, p *auth.Principal, t *Ticket, changes []Change, src Source) error {
	now := s.now()
	sets := []string{}
	var a args
	for _, c := range changes {
		var v any = c.New
		if c.Field == "service_id" || c.Field == "unit_id" || c.Field == "assignee_id" {
			n, _ := strconv.ParseInt(c.New, 10, 64)
			v = nullID(n)
		}
		sets = append(sets, c.Field+" = "+a.add(v))
		if c.Field == "status" {
			var solved *time.Time
			if st := Status(c.New); st == Solved || st == Unsolved {
				solved = &now
			}
			if st := Status(c.New); st != Verified && st != Closed {
				sets = append(sets, "solved_at = "+a.add(solved))
			}
			if Status(c.New) == WaitingForReply {
				// The lifecycle timers count from here (timers.go).
				sets = append(sets, "waiting_since = "+a.add(now), "reminders_sent = 0")
			}
		}
		old, nw, err := s.readable(ctx, q, c)
		if err != nil {
			return err
		}
		if err := s.history(ctx, q, t.ID, p, now, "changed", historyField(c.Field), old, nw, src); err != nil {
			return err
		}
	}
	clock, changed, err := s.clockAfter(ctx, p, t, changes, now)
	if err != nil {
		return err
	}
	if changed {
		sets = append(sets, clockColumns(clock, &a)...)
	}
	at := a.add(now)
	sets = append(sets, "updated_at = "+at, "public_updated_at = "+at)
	query := "UPDATE tickets SET " + strings.Join(sets, ", ") + " WHERE id = " + a.add(t.ID)
	if _, err := q.ExecContext(ctx, query, a...); err != nil {
		return fmt.Errorf("update ticket: %w", err)
	}
	if err := s.emit(ctx, q, Event{Kind: "changed", TicketID: t.ID, Changes: changes, ActorID: p.UserID, Source: src}); err != nil {
		return err
	}
	return s.afterStatus(ctx, q, t, changes)
}

// readable turns the ids of a change into the names people know: unit and
// service slugs, the assignee's email.
func (s *Store) readable(ctx context.Context, q db.Querier, c Change) (string, string, error) {
	var query string
	switch c.Field {
	case "unit_id":
		query = `SELECT slug FROM units WHERE id = $1`
	case "service_id":
		query = `SELECT slug FROM services WHERE id = $1`
	case "assignee_id":
		query = `SELECT email FROM users WHERE id = $1`
	default:
		return c.Old, c.New, nil
	}
	name := func(v string) (string, error) {
		if v == "" {
			return "", nil
		}
		var out string
		if err := q.QueryRowContext(ctx, query, v).Scan(&out); err != nil {
			return "", fmt.Errorf("history name of %s %s: %w", c.Field, v, err)
		}
		return out, nil
	}
	old, err := name(c.Old)
	if err != nil {
		return "", "", err
	}
	nw, err := name(c.New)
	return old, nw, err
}

// historyField names a column as the API names the field.
func historyField(col string) string {
	switch col {
	case "service_id":
		return "service"
	case "unit_id":
		return "unit"
	case "assignee_id":
		return "assignee"
	}
	return col
}

// MaxWatchers is the most addresses one ticket may have as watchers: each
// is mailed every public change.
const MaxWatchers = 50

func watcherLimit() error {
	return apperr.Field("watchers", "a ticket has at most %d watchers", MaxWatchers)
}

// checkWatcher normalises an address to watch a ticket and refuses the
// helpdesk's own addresses (with or without a +tag), which would make the
// helpdesk mail itself.
func (s *Store) checkWatcher(ctx context.Context, email string) (string, error) {
	email, err := user.NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	if s.opts.OwnAddress == nil {
		return email, nil
	}
	local, domain, _ := strings.Cut(email, "@")
	base, _, _ := strings.Cut(local, "+")
	for _, addr := range []string{email, base + "@" + domain} {
		own, err := s.opts.OwnAddress(ctx, addr)
		if err != nil {
			return "", fmt.Errorf("ticket: watcher %s: %w", email, err)
		}
		if own {
			return "", apperr.Field("watchers", "%s is one of the helpdesk's own addresses", email)
		}
	}
	return email, nil
}

// AddWatcher adds an address to a ticket's watchers. Anyone who sees the
// ticket may add one, up to MaxWatchers.
func (s *Store) AddWatcher(ctx context.Context, p *auth.Principal, ticketID int64, email string, src Source) error {
	email, err := s.checkWatcher(ctx, email)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(q db.Querier) error {
		t, err := s.get(ctx, q, p, ticketID)
		if err != nil {
			return err
		}
		if p.ReadOnly {
			return apperr.New(apperr.Forbidden, "this credential is read-only")
		}
		if !p.CanWrite(t.Facts()) { // the actors that only read
			return apperr.New(apperr.Forbidden, "%s may not add watchers", p.Label())
		}
		if t.Status.Frozen() {
			return apperr.New(apperr.Conflict, "ticket %d is %s and cannot change", t.ID, t.Status)
		}
		now := s.now()
		added, err := s.addWatcher(ctx, q, t.ID, email, now)
		if err != nil || !added {
			return err
		}
		if err := s.history(ctx, q, t.ID, p, now, "watcher_added", "watchers", "", email, src); err != nil {
			return err
		}
		return s.emit(ctx, q, Event{Kind: "changed", TicketID: t.ID, Changes: []Change{{Field: "watchers", New: email}}, ActorID: p.UserID, Source: src})
	})
}

// addWatcher adds a checked address to the watchers of ticket ticketID in
// transaction q, unless it is one already or the ticket has MaxWatchers.
func (s *Store) addWatcher(ctx context.Context, q db.Querier, ticketID int64, email string, now time.Time) (bool, error) {
	if s.db.Engine == db.Postgres {
		// Lock the ticket's row, so that concurrent additions count each
		// other (SQLite has one writer anyway).
		if _, err := q.ExecContext(ctx, `SELECT id FROM tickets WHERE id = $1 FOR UPDATE`, ticketID); err != nil {
			return false, fmt.Errorf("add watcher: %w", err)
		}
	}
	res, err := q.ExecContext(ctx, `INSERT INTO ticket_watchers (ticket_id, email, user_id, added_at)
		VALUES ($1, $2, (SELECT id FROM users WHERE email = $2), $3) ON CONFLICT (ticket_id, email) DO NOTHING`, ticketID, email, now)
	if err != nil {
		return false, fmt.Errorf("add watcher: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	var count int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM ticket_watchers WHERE ticket_id = $1`, ticketID).Scan(&count); err != nil {
		return false, fmt.Errorf("add watcher: %w", err)
	}
	if count > MaxWatchers {
		return false, watcherLimit()
	}
	return true, nil
}

// RemoveWatcher takes an address off a ticket's watchers: the staff of the
// ticket, or the watcher themselves.
func (s *Store) RemoveWatcher(ctx context.Context, p *auth.Principal, ticketID int64, email string, src Source) error {
	return s.db.Tx(ctx, func(q db.Querier) error {
		t, err := s.get(ctx, q, p, ticketID)
		if err != nil {
			return err
		}
		email, err := user.NormalizeEmail(email)
		if err != nil {
			return err
		}
		if p.ReadOnly || !p.CanWrite(t.Facts()) || (!p.CanWorkTicket(t.Facts()) && email != p.Email && p.UserID != t.Requester.ID) {
			return apperr.New(apperr.Forbidden, "you may not remove this watcher")
		}
		res, err := q.ExecContext(ctx, `DELETE FROM ticket_watchers WHERE ticket_id = $1 AND email = $2`, t.ID, email)
		if err != nil {
			return fmt.Errorf("remove watcher: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.New(apperr.NotFound, "%s is not a watcher", email)
		}
		return s.history(ctx, q, t.ID, p, s.now(), "watcher_removed", "watchers", email, "", src)
	})
}
