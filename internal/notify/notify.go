// Package notify decides who is told of a ticket event, and as what: the
// requester, the watchers, the unit's address or members, the assignee, the
// ticket handler team (and, with alarm tickets, the alarm contacts). It
// decides only: mail (and tomorrow chat and webhooks) composes and delivers
// what a Decision lists.
//
// The rules (DESIGN.md "Routing"):
//   - a new ticket: an auto-reply to its requester (never for automatic
//     mail), a notice to its staff: the assignee, else the unit's list when
//     it is an outside address, else every member of the unit;
//   - a public message: the requester and the watchers; the staff too
//     (the same rule) when the author does not work the ticket;
//   - an internal note: the assignee and the unit's members;
//   - a status change: the requester and the watchers;
//   - a move to another unit: that unit, by the rule of a new ticket but
//     without the assignee; a move to the ticket handler team is an
//     escalation, told to the team;
//   - a new assignee: the assignee;
//   - a reminder of the lifecycle timers: the requester of the ticket
//     waiting for their reply;
//   - an alarm (a new ticket of kind alarm, and each re-page of the
//     lifecycle timers, ticket.alarm): the service's alarm_email, the unit
//     (its list, else its members) and the ticket handler team, as an
//     urgent notice; a new alarm tells its requester no auto-reply;
//   - a ticket in the integration mode redirect (its service's mode, else
//     its unit's): the unit's list (its address, an outside one) is told of
//     its creation and of every public update (public messages but the
//     list's own, status changes) with the full text (role RedirectList),
//     as the staff that works the ticket; a message by the list is a staff
//     reply;
//   - a user escalation (GGUS): level 1 the unit (its list, else its
//     members), level 2 the ticket handler team too, level 3 the
//     administrators too.
//
// The person who made the change, our own addresses, and the author of a
// message are never told of it.
package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// Kind is what a notice tells.
type Kind string

// Kinds of notice.
const (
	AutoReply Kind = "auto_reply" // to the requester of a new ticket
	NewTicket Kind = "new_ticket" // to the staff of a new ticket
	Reply     Kind = "reply"      // a public message
	Note      Kind = "note"       // an internal note, to staff only
	Status    Kind = "status"     // a status change
	Assigned  Kind = "assigned"   // moved to a unit or assigned to a person
	Escalated Kind = "escalated"  // moved to the ticket handler team
	Reminder  Kind = "reminder"   // the ticket waits for its requester's reply
	// EscalatedByUser is a user escalation (GGUS levels 1-3).
	EscalatedByUser Kind = "escalated_by_user"
	// Alarm is an urgent notice of an alarm ticket, at once and on each
	// re-page.
	Alarm Kind = "alarm"
	// QoSWarning warns a unit that its response time is running out;
	// QoSViolated tells it and the ticket handler team it ran out.
	QoSWarning  Kind = "qos_warning"
	QoSViolated Kind = "qos_violated"
)

// Role is why a recipient is told.
type Role string

// Roles of recipients.
const (
	Requester   Role = "requester"
	Watcher     Role = "watcher"
	UnitAddress Role = "unit_address" // the unit's list (an outside address)
	UnitMember  Role = "unit_member"
	Assignee    Role = "assignee"
	HandlerTeam Role = "handler_team" // the ticket handler team's list or members
	// Administrator is a user with the role admin (user escalation level 3).
	Administrator Role = "administrator"
	// AlarmContact is a service's emergency address (alarm tickets).
	AlarmContact Role = "alarm_contact"
	// RedirectList is the list of a unit in the mode redirect, which
	// works the ticket by mail: its replies come back as staff replies.
	RedirectList Role = "redirect_list"
)

// Recipient is one person or list told of an event.
type Recipient struct {
	Addr string // lower case
	Name string
	Role Role
}

// Notice is one recipient told of one thing.
type Notice struct {
	Kind Kind
	To   Recipient
	// Change is the status change a Status notice tells of.
	Change ticket.Change
}

// Decision is who is told of one ticket event, with what the telling
// needs to know of the ticket.
type Decision struct {
	Type    string         // the event's type (package event)
	Ticket  *ticket.Ticket // as it is now (or as the change left it)
	Message *ticket.Message
	// Actor made the change; zero for the system.
	Actor ticket.Person
	// Unit is the ticket's unit; nil when it has none.
	Unit *unit.Unit
	// StaffAuthor: the message's author works the ticket, so their address
	// stays out of what goes to the requester side.
	StaffAuthor bool
	// MovedTo is the name of the unit the event moved the ticket to, and
	// AssignedTo the name (else the address) of the person it assigned it
	// to; "" when it did not.
	MovedTo, AssignedTo string
	// Reminder counts the reminders of a ticket.reminder event, this one
	// included.
	Reminder int
	// List is the unit whose list works the ticket (the mode redirect);
	// nil when the ticket is not redirected.
	List *unit.Unit
	// Level and Reason are those of a user escalation (ticket.escalated).
	Level   int
	Reason  string
	Notices []Notice
}

// Tickets is what notify reads of tickets.
type Tickets interface {
	Get(ctx context.Context, p *auth.Principal, id int64) (*ticket.Ticket, error)
	// Message returns message id, for no particular reader.
	Message(ctx context.Context, id int64) (*ticket.Message, error)
}

// Units is what notify reads of units.
type Units interface {
	UnitByID(ctx context.Context, id int64) (*unit.Unit, error)
	Members(ctx context.Context, unitID int64) ([]unit.Member, error)
}

// Users is what notify reads of users.
type Users interface {
	Get(ctx context.Context, id int64) (*user.User, error)
	Principal(ctx context.Context, id int64) (*auth.Principal, error)
}

// HandlerFinder finds the ticket handler team (the unit store).
type HandlerFinder interface {
	// Handler returns the team's unit, or a NotFound error when there is
	// none.
	Handler(ctx context.Context) (*unit.Unit, error)
}

// Services finds a ticket's service (the unit store).
type Services interface {
	Service(ctx context.Context, slug string) (*unit.Service, error)
}

// Admins lists the administrators (the user store).
type Admins interface {
	// Admins returns the enabled users with the role admin.
	Admins(ctx context.Context) ([]*user.User, error)
}

// Options configure a Notifier. Tickets, Units and Users are required.
type Options struct {
	Tickets Tickets
	Units   Units
	Users   Users
	// Handler and Admins are who user escalations of levels 2 and 3 tell
	// beyond the unit; without them those levels tell the unit only.
	Handler HandlerFinder
	Admins  Admins
	// Services gives the alarm_email alarms are mailed to; without it an
	// alarm tells the unit and the ticket handler team only.
	Services Services
	// Internal tells whether addr is one of the helpdesk's own addresses
	// (its mail domain): it is never told, and a unit address that is
	// internal is no list, so the unit's members are told instead.
	Internal func(addr string) bool
	// Automatic tells whether message id came as automatic mail (RFC 3834:
	// auto-replies, bulk, lists): nobody is told of it, and its sender gets
	// no auto-reply. Asked only of messages that came by mail.
	Automatic func(ctx context.Context, messageID int64) (bool, error)
	// Prefs are the kinds of notice people turned off; without it
	// everyone is told of everything.
	Prefs Prefs
}

// Prefs are people's choices of what mails them (the user store).
type Prefs interface {
	// MutedByEmail returns, for those of emails that turned some kinds of
	// notice off, those kinds.
	MutedByEmail(ctx context.Context, emails []string) (map[string][]string, error)
}

// Notifier decides who is told of ticket events.
type Notifier struct {
	opts   Options
	system *auth.Principal // reads tickets for no particular person
	units  unitCache
}

// New checks opts and returns a Notifier.
func New(opts Options) (*Notifier, error) {
	if opts.Tickets == nil || opts.Units == nil || opts.Users == nil {
		return nil, errors.New("notify: Tickets, Units and Users are required")
	}
	if opts.Internal == nil {
		opts.Internal = func(string) bool { return false }
	}
	if opts.Automatic == nil {
		opts.Automatic = func(context.Context, int64) (bool, error) { return false, nil }
	}
	return &Notifier{opts: opts, system: &auth.Principal{Role: auth.RoleAdmin, Email: "notify", Via: "system"}}, nil
}

// Decide returns who is told of ev; nil when its ticket is gone or ev
// copies history from another system (an import).
func (n *Notifier) Decide(ctx context.Context, ev ticket.Event) (*Decision, error) {
	if ev.Source == ticket.FromImport {
		return nil, nil // history copied from another system: told long ago
	}
	t := ev.Ticket
	if t == nil {
		var err error
		t, err = n.opts.Tickets.Get(ctx, n.system, ev.TicketID)
		if apperr.Is(err, apperr.NotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("notify: ticket %d: %w", ev.TicketID, err)
		}
	}
	d := &Decision{Type: ev.Type(), Ticket: t}
	actor, err := n.actor(ctx, ev.ActorID, t)
	if err != nil {
		return nil, err
	}
	d.Actor = actor
	automatic, err := n.message(ctx, ev, d)
	if err != nil {
		return nil, err
	}
	var home *unitInfo
	if t.UnitID != 0 {
		if home, err = n.unit(ctx, t.UnitID); err != nil {
			return nil, err
		}
		d.Unit = home.u
	}
	if d.List, err = n.list(ctx, t, home); err != nil {
		return nil, err
	}
	switch d.Type {
	case event.TicketCreated:
		if t.Kind == ticket.KindAlarm {
			if err := n.alarm(ctx, d, home); err != nil {
				return nil, err
			}
			break
		}
		n.created(d, home, automatic)
	case event.TicketAlarm:
		if err := n.alarm(ctx, d, home); err != nil {
			return nil, err
		}
	case event.TicketReminder:
		d.Reminder = ev.Reminder
		if t.Status == ticket.WaitingForReply {
			n.recipients(d, Reminder).add(t.Requester.Email, t.Requester.Name, Requester)
		}
	case event.TicketEscalated:
		if err := n.escalated(ctx, d, home, ev); err != nil {
			return nil, err
		}
	case event.TicketQoSWarning, event.TicketQoSViolate:
		if err := n.qos(ctx, d, home); err != nil {
			return nil, err
		}
	case event.TicketMessage, event.TicketNote:
		if d.Message == nil || automatic {
			break
		}
		if ev.Internal || d.Message.Internal {
			n.note(d, home)
		} else if err := n.reply(ctx, d, home); err != nil {
			return nil, err
		}
	default:
		if err := n.changed(ctx, d, ev.Changes); err != nil {
			return nil, err
		}
	}
	if err := n.dropMuted(ctx, d); err != nil {
		return nil, err
	}
	return d, nil
}

// dropMuted takes out of d the notices their recipients turned off. An
// alarm is never taken out.
func (n *Notifier) dropMuted(ctx context.Context, d *Decision) error {
	if n.opts.Prefs == nil || len(d.Notices) == 0 {
		return nil
	}
	addrs := make([]string, 0, len(d.Notices))
	for _, no := range d.Notices {
		addrs = append(addrs, no.To.Addr)
	}
	muted, err := n.opts.Prefs.MutedByEmail(ctx, addrs)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if len(muted) == 0 {
		return nil
	}
	kept := d.Notices[:0]
	for _, no := range d.Notices {
		if no.Kind == Alarm || !slices.Contains(muted[no.To.Addr], string(no.Kind)) {
			kept = append(kept, no)
		}
	}
	d.Notices = kept
	return nil
}

// actor returns who made a change: the requester, a user, or nobody (the
// system, or a user no longer there).
func (n *Notifier) actor(ctx context.Context, id int64, t *ticket.Ticket) (ticket.Person, error) {
	switch {
	case id == 0:
		return ticket.Person{}, nil
	case id == t.Requester.ID:
		return t.Requester, nil
	}
	u, err := n.opts.Users.Get(ctx, id)
	if apperr.Is(err, apperr.NotFound) {
		return ticket.Person{}, nil
	}
	if err != nil {
		return ticket.Person{}, fmt.Errorf("notify: actor: %w", err)
	}
	return ticket.Person{ID: u.ID, Email: u.Email, Name: u.Name}, nil
}

// message sets the message ev is about on d, and tells whether it came as
// automatic mail.
func (n *Notifier) message(ctx context.Context, ev ticket.Event, d *Decision) (bool, error) {
	m := ev.Message
	switch {
	case ev.MessageID == 0:
		return false, nil
	case m != nil && m.MailID == "":
		// Not from a mail, so not automatic mail: all is in the event.
		d.Message = m
		return false, nil
	}
	m, err := n.opts.Tickets.Message(ctx, ev.MessageID)
	if err != nil {
		return false, fmt.Errorf("notify: %w", err)
	}
	d.Message = m
	if m.MailID == "" {
		return false, nil
	}
	automatic, err := n.opts.Automatic(ctx, m.ID)
	if err != nil {
		return false, fmt.Errorf("notify: message %d: %w", m.ID, err)
	}
	return automatic, nil
}

// created: an auto-reply to the requester, a notice to the staff.
func (n *Notifier) created(d *Decision, home *unitInfo, automatic bool) {
	t := d.Ticket
	if d.Message != nil && !automatic {
		r := n.recipients(d, AutoReply)
		r.add(t.Requester.Email, t.Requester.Name, Requester)
	}
	r := n.recipients(d, NewTicket, d.Actor.Email, t.Requester.Email)
	if d.List != nil {
		r.add(d.List.Email, d.List.Name, RedirectList)
	}
	n.staff(r, t, home)
}

// note: an internal note goes to the assignee and the unit's members.
func (n *Notifier) note(d *Decision, home *unitInfo) {
	r := n.recipients(d, Note, d.Actor.Email, d.Message.Author.Email)
	if a := d.Ticket.Assignee; a != nil {
		r.add(a.Email, a.Name, Assignee)
	}
	if home != nil {
		for _, m := range home.members {
			r.add(m.Email, m.Name, UnitMember)
		}
	}
}

// reply: a public message goes to the requester side, and to the staff
// when its author is not staff.
func (n *Notifier) reply(ctx context.Context, d *Decision, home *unitInfo) error {
	t, m := d.Ticket, d.Message
	r := n.recipients(d, Reply, d.Actor.Email, m.Author.Email)
	r.add(t.Requester.Email, t.Requester.Name, Requester)
	for _, w := range t.WatcherList {
		r.add(w, "", Watcher)
	}
	if d.List != nil && ByList(m, d.List) {
		d.StaffAuthor = true
		return nil
	}
	if d.List != nil {
		r.add(d.List.Email, d.List.Name, RedirectList)
	}
	staff, err := n.isStaff(ctx, m.Author.ID, t)
	if err != nil {
		return err
	}
	d.StaffAuthor = staff
	if !staff {
		n.staff(r, t, home)
	}
	return nil
}

// changed: status changes go to the requester side; a move to the unit it
// went to (an escalation to the ticket handler team); a new assignee to
// the assignee.
func (n *Notifier) changed(ctx context.Context, d *Decision, changes []ticket.Change) error {
	t := d.Ticket
	for _, c := range changes {
		switch c.Field {
		case "status":
			r := n.recipients(d, Status, d.Actor.Email)
			r.change = c
			r.add(t.Requester.Email, t.Requester.Name, Requester)
			for _, w := range t.WatcherList {
				r.add(w, "", Watcher)
			}
			if d.List != nil {
				r.add(d.List.Email, d.List.Name, RedirectList)
			}
		case "unit_id":
			id, _ := strconv.ParseInt(c.New, 10, 64)
			if id == 0 {
				continue
			}
			to, err := n.unit(ctx, id)
			if err != nil {
				return err
			}
			if to.u == nil {
				continue // gone since
			}
			d.MovedTo = to.u.Name
			kind, addrRole, memberRole := Assigned, UnitAddress, UnitMember
			if to.u.Handler {
				kind, addrRole, memberRole = Escalated, HandlerTeam, HandlerTeam
			}
			n.unitRule(n.recipients(d, kind, d.Actor.Email), to, addrRole, memberRole)
		case "assignee_id":
			id, _ := strconv.ParseInt(c.New, 10, 64)
			if id == 0 {
				continue
			}
			p, err := n.person(ctx, id, t)
			if err != nil {
				return err
			}
			if p.Email == "" {
				continue // gone since
			}
			d.AssignedTo = p.Name
			if d.AssignedTo == "" {
				d.AssignedTo = p.Email
			}
			n.recipients(d, Assigned, d.Actor.Email).add(p.Email, p.Name, Assignee)
		}
	}
	return nil
}

// escalated: a user escalation reminds the unit (level 1), then the
// ticket handler team too (2), then the administrators too (3).
func (n *Notifier) escalated(ctx context.Context, d *Decision, home *unitInfo, ev ticket.Event) error {
	d.Level, d.Reason = ev.Level, ev.Reason
	r := n.recipients(d, EscalatedByUser, d.Actor.Email)
	if home != nil {
		n.unitRule(r, home, UnitAddress, UnitMember)
	}
	if ev.Level >= 2 {
		if err := n.handlerTeam(ctx, r); err != nil {
			return err
		}
	}
	if ev.Level >= 3 && n.opts.Admins != nil {
		admins, err := n.opts.Admins.Admins(ctx)
		if err != nil {
			return fmt.Errorf("notify: administrators: %w", err)
		}
		for _, a := range admins {
			r.add(a.Email, a.Name, Administrator)
		}
	}
	return nil
}

// qos: a unit's response clock ran to its warning (the unit, and the
// assignee if any, are told) or past its due time (the ticket handler team
// too). A clock the unit has answered since tells nobody.
func (n *Notifier) qos(ctx context.Context, d *Decision, home *unitInfo) error {
	t := d.Ticket
	if t.QoS.MetAt != nil {
		return nil
	}
	kind := QoSWarning
	if d.Type == event.TicketQoSViolate {
		kind = QoSViolated
	}
	r := n.recipients(d, kind)
	if a := t.Assignee; a != nil {
		r.add(a.Email, a.Name, Assignee)
	}
	if home != nil {
		n.unitRule(r, home, UnitAddress, UnitMember)
	}
	if kind == QoSViolated {
		return n.handlerTeam(ctx, r)
	}
	return nil
}

// alarm: the service's alarm_email, the unit and the ticket handler team
// get an urgent notice.
func (n *Notifier) alarm(ctx context.Context, d *Decision, home *unitInfo) error {
	t := d.Ticket
	r := n.recipients(d, Alarm, d.Actor.Email)
	if t.Service != "" && n.opts.Services != nil {
		sv, err := n.opts.Services.Service(ctx, t.Service)
		switch {
		case apperr.Is(err, apperr.NotFound):
		case err != nil:
			return fmt.Errorf("notify: service %s: %w", t.Service, err)
		default:
			r.add(sv.AlarmEmail, sv.Name, AlarmContact)
		}
	}
	if home != nil {
		n.unitRule(r, home, UnitAddress, UnitMember)
	}
	return n.handlerTeam(ctx, r)
}

// List returns the unit whose list works ticket t by mail (the mode
// redirect: its service's mode, else its unit's, DESIGN.md "Integration
// modes and connectors"), or nil when t is worked otherwise or its unit
// has no outside address. The mail gateway asks it of replies to a
// list's reply token.
func (n *Notifier) List(ctx context.Context, t *ticket.Ticket) (*unit.Unit, error) {
	if t.UnitID == 0 {
		return nil, nil
	}
	home, err := n.unit(ctx, t.UnitID)
	if err != nil {
		return nil, err
	}
	return n.list(ctx, t, home)
}

func (n *Notifier) list(ctx context.Context, t *ticket.Ticket, home *unitInfo) (*unit.Unit, error) {
	if home == nil || home.u == nil {
		return nil, nil
	}
	var sv *unit.Service
	if t.Service != "" && n.opts.Services != nil {
		var err error
		sv, err = n.opts.Services.Service(ctx, t.Service)
		if err != nil && !apperr.Is(err, apperr.NotFound) {
			return nil, fmt.Errorf("notify: service %s: %w", t.Service, err)
		}
	}
	mode := unit.ModeOf(home.u, sv)
	a := strings.ToLower(strings.TrimSpace(home.u.Email))
	if mode != unit.Redirect || a == "" || n.opts.Internal(a) {
		return nil, nil
	}
	return home.u, nil
}

// ByList tells whether message m was written by the list of unit list (a
// reply to its reply token, auth.ActorUnitList): it has no account and
// the list's address.
func ByList(m *ticket.Message, list *unit.Unit) bool {
	return m.Author.ID == 0 && list != nil && strings.EqualFold(m.Author.Email, strings.TrimSpace(list.Email))
}

// handlerTeam adds the ticket handler team, when there is one.
func (n *Notifier) handlerTeam(ctx context.Context, r *recipients) error {
	if n.opts.Handler == nil {
		return nil
	}
	h, err := n.opts.Handler.Handler(ctx)
	switch {
	case apperr.Is(err, apperr.NotFound):
		return nil
	case err != nil:
		return fmt.Errorf("notify: ticket handler team: %w", err)
	}
	team, err := n.unit(ctx, h.ID)
	if err != nil {
		return err
	}
	n.unitRule(r, team, HandlerTeam, HandlerTeam)
	return nil
}

// person returns user id: the ticket's assignee when it is them.
func (n *Notifier) person(ctx context.Context, id int64, t *ticket.Ticket) (ticket.Person, error) {
	if a := t.Assignee; a != nil && a.ID == id {
		return *a, nil
	}
	u, err := n.opts.Users.Get(ctx, id)
	if apperr.Is(err, apperr.NotFound) {
		return ticket.Person{}, nil
	}
	if err != nil {
		return ticket.Person{}, fmt.Errorf("notify: assignee %d: %w", id, err)
	}
	return ticket.Person{ID: u.ID, Email: u.Email, Name: u.Name}, nil
}

// staff adds those told of what the requester side writes: the assignee,
// else the unit's list, else every member.
func (n *Notifier) staff(r *recipients, t *ticket.Ticket, home *unitInfo) {
	if a := t.Assignee; a != nil {
		r.add(a.Email, a.Name, Assignee)
		return
	}
	if home != nil {
		n.unitRule(r, home, UnitAddress, UnitMember)
	}
}

// unitRule adds a unit: its list when it is an outside address, else
// every member.
func (n *Notifier) unitRule(r *recipients, u *unitInfo, addrRole, memberRole Role) {
	if u.u == nil {
		return
	}
	if a := u.u.Email; a != "" && !n.opts.Internal(strings.ToLower(a)) {
		r.add(a, u.u.Name, addrRole)
		return
	}
	for _, m := range u.members {
		r.add(m.Email, m.Name, memberRole)
	}
}

func (n *Notifier) isStaff(ctx context.Context, userID int64, t *ticket.Ticket) (bool, error) {
	if userID == 0 {
		return false, nil
	}
	p, err := n.opts.Users.Principal(ctx, userID)
	if apperr.Is(err, apperr.Unauthorized) || apperr.Is(err, apperr.NotFound) {
		return false, nil // no longer a user
	}
	if err != nil {
		return false, fmt.Errorf("notify: author %d: %w", userID, err)
	}
	return p.CanWorkTicket(t.Facts()), nil
}

// recipients adds the notices of one kind to a decision: one per address,
// lower-cased, without the excluded addresses and our own.
type recipients struct {
	n       *Notifier
	d       *Decision
	kind    Kind
	change  ticket.Change
	exclude []string
}

func (n *Notifier) recipients(d *Decision, kind Kind, exclude ...string) *recipients {
	for i, x := range exclude {
		exclude[i] = strings.ToLower(strings.TrimSpace(x))
	}
	return &recipients{n: n, d: d, kind: kind, exclude: exclude}
}

func (r *recipients) add(addr, name string, role Role) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if addr == "" || !strings.Contains(addr, "@") || r.n.opts.Internal(addr) {
		return
	}
	for _, x := range r.exclude {
		if x == addr {
			return
		}
	}
	for _, x := range r.d.Notices {
		if x.Kind == r.kind && x.To.Addr == addr {
			return
		}
	}
	r.d.Notices = append(r.d.Notices, Notice{Kind: r.kind, To: Recipient{Addr: addr, Name: name, Role: role}, Change: r.change})
}

// unitCache keeps what notices need of a unit (its addresses and members)
// for unitTTL: a change of members reaches notices within that time. A
// burst of tickets for a unit then reads it once.
type unitCache struct {
	mu sync.Mutex
	m  map[int64]*unitInfo
}

const unitTTL = time.Second

type unitInfo struct {
	u       *unit.Unit // nil when the unit no longer exists
	members []unit.Member
	at      time.Time
}

// unit returns what notices need of unit id.
func (n *Notifier) unit(ctx context.Context, id int64) (*unitInfo, error) {
	now := time.Now()
	n.units.mu.Lock()
	u := n.units.m[id]
	n.units.mu.Unlock()
	if u != nil && now.Sub(u.at) < unitTTL {
		return u, nil
	}
	u = &unitInfo{at: now}
	un, err := n.opts.Units.UnitByID(ctx, id)
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		return nil, fmt.Errorf("notify: unit %d: %w", id, err)
	}
	if un != nil {
		u.u = un
		if u.members, err = n.opts.Units.Members(ctx, un.ID); err != nil {
			return nil, fmt.Errorf("notify: unit %d: %w", id, err)
		}
	}
	n.units.mu.Lock()
	if n.units.m == nil || len(n.units.m) > 1000 {
		n.units.m = map[int64]*unitInfo{}
	}
	n.units.m[id] = u
	n.units.mu.Unlock()
	return u, nil
}
