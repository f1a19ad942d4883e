package notify

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// world is what the stores would hold: units 1 (support, a list on our
// own domain, so its members are told), 2 (network, an outside list) and
// 3 (the ticket handler team, no address); users 10 (the requester),
// 11 and 12 (members of support), 13 (member of network), 14 (handler).
type world struct {
	tickets   map[int64]*ticket.Ticket
	messages  map[int64]*ticket.Message
	automatic map[int64]bool
}

var (
	units = map[int64]*unit.Unit{
		1: {ID: 1, Slug: "support", Name: "Support", Email: "support@hm.test"},
		2: {ID: 2, Slug: "network", Name: "Network", Email: "net-list@lists.example"},
		3: {ID: 3, Slug: "tht", Name: "Ticket handlers", Handler: true},
	}
	members = map[int64][]unit.Member{
		1: {{UserID: 11, Email: "ann@uni.example", Name: "Ann"}, {UserID: 12, Email: "bob@uni.example", Name: "Bob"}},
		2: {{UserID: 13, Email: "nat@net.example", Name: "Nat"}},
		3: {{UserID: 14, Email: "hal@uni.example", Name: "Hal"}},
	}
	users = map[int64]*user.User{
		10: {ID: 10, Email: "req@ext.example", Name: "Rita"},
		11: {ID: 11, Email: "ann@uni.example", Name: "Ann"},
		12: {ID: 12, Email: "bob@uni.example", Name: "Bob"},
		13: {ID: 13, Email: "nat@net.example", Name: "Nat"},
		14: {ID: 14, Email: "hal@uni.example", Name: "Hal"},
	}
)

func (w *world) Get(_ context.Context, _ *auth.Principal, id int64) (*ticket.Ticket, error) {
	if t, ok := w.tickets[id]; ok {
		c := *t
		return &c, nil
	}
	return nil, apperr.New(apperr.NotFound, "no ticket %d", id)
}

func (w *world) Message(_ context.Context, id int64) (*ticket.Message, error) {
	if m, ok := w.messages[id]; ok {
		return m, nil
	}
	return nil, apperr.New(apperr.NotFound, "no message %d", id)
}

func (w *world) UnitByID(_ context.Context, id int64) (*unit.Unit, error) {
	if u, ok := units[id]; ok {
		return u, nil
	}
	return nil, apperr.New(apperr.NotFound, "no unit %d", id)
}

func (w *world) Members(_ context.Context, id int64) ([]unit.Member, error) { return members[id], nil }

func (w *world) UserByID(id int64) (*user.User, error) {
	if u, ok := users[id]; ok {
		return u, nil
	}
	return nil, apperr.New(apperr.NotFound, "no such user")
}

type userStore struct{ w *world }

func (s userStore) Get(_ context.Context, id int64) (*user.User, error) { return s.w.UserByID(id) }

func (s userStore) Principal(_ context.Context, id int64) (*auth.Principal, error) {
	u, err := s.w.UserByID(id)
	if err != nil {
		return nil, apperr.New(apperr.Unauthorized, "no such user")
	}
	p := &auth.Principal{UserID: u.ID, Email: u.Email, Name: u.Name, Role: auth.RoleUser, Units: map[int64]auth.UnitRole{}}
	for uid, ms := range members {
		for _, m := range ms {
			if m.UserID == id {
				p.Units[uid] = auth.UnitMember
				p.Handler = p.Handler || units[uid].Handler
			}
		}
	}
	return p, nil
}

func newWorld(t *testing.T) (*world, *Notifier) {
	t.Helper()
	w := &world{
		tickets: map[int64]*ticket.Ticket{
			// 100: in support, no assignee, one watcher.
			100: {ID: 100, Subject: "VM down", Status: ticket.InProgress, UnitID: 1, Unit: "support",
				Requester: ticket.Person{ID: 10, Email: "req@ext.example", Name: "Rita"}, WatcherList: []string{"wat@ext.example"}},
			// 101: in network (an outside list), assigned to Nat.
			101: {ID: 101, Subject: "Link flaps", Status: ticket.Assigned, UnitID: 2, Unit: "network",
				Requester: ticket.Person{ID: 10, Email: "req@ext.example", Name: "Rita"}, Assignee: &ticket.Person{ID: 13, Email: "nat@net.example", Name: "Nat"}},
			// 102: moved to the ticket handler team.
			102: {ID: 102, Subject: "Who?", Status: ticket.Assigned, UnitID: 3, Unit: "tht",
				Requester: ticket.Person{ID: 10, Email: "req@ext.example", Name: "Rita"}},
			// 103: waiting for its requester's reply, one watcher.
			103: {ID: 103, Subject: "Which VM?", Status: ticket.WaitingForReply, UnitID: 1, Unit: "support",
				Requester: ticket.Person{ID: 10, Email: "req@ext.example", Name: "Rita"}, WatcherList: []string{"wat@ext.example"}},
		},
		messages: map[int64]*ticket.Message{
			500: {ID: 500, TicketID: 100, Author: ticket.Person{ID: 10, Email: "req@ext.example", Name: "Rita"}, Body: "help", MailID: "m500@ext.example"},
			501: {ID: 501, TicketID: 100, Author: ticket.Person{ID: 10, Email: "req@ext.example"}, Body: "out of office", MailID: "m501@ext.example"},
		},
		automatic: map[int64]bool{501: true},
	}
	n, err := New(Options{Tickets: w, Units: w, Users: userStore{w},
		Internal:  func(addr string) bool { return strings.HasSuffix(addr, "@hm.test") },
		Automatic: func(_ context.Context, id int64) (bool, error) { return w.automatic[id], nil }})
	if err != nil {
		t.Fatal(err)
	}
	return w, n
}

// told is a notice written short: kind role addr.
func told(d *Decision) []string {
	var out []string
	for _, n := range d.Notices {
		out = append(out, string(n.Kind)+" "+string(n.To.Role)+" "+n.To.Addr)
	}
	return out
}

func TestDecide(t *testing.T) {
	_, n := newWorld(t)
	msg := func(id, author int64, internal bool) *ticket.Message {
		u := users[author]
		return &ticket.Message{ID: id, TicketID: 100, Author: ticket.Person{ID: u.ID, Email: u.Email, Name: u.Name}, Internal: internal, Body: "text"}
	}
	cases := []struct {
		name string
		ev   ticket.Event
		typ  string
		want []string
	}{
		{"created: auto-reply, and every member of a unit whose address is ours",
			ticket.Event{Kind: "created", TicketID: 100, MessageID: 500, ActorID: 10}, event.TicketCreated,
			[]string{"auto_reply requester req@ext.example", "new_ticket unit_member ann@uni.example", "new_ticket unit_member bob@uni.example"}},
		{"created from automatic mail: no auto-reply",
			ticket.Event{Kind: "created", TicketID: 100, MessageID: 501, ActorID: 10}, event.TicketCreated,
			[]string{"new_ticket unit_member ann@uni.example", "new_ticket unit_member bob@uni.example"}},
		{"created with an assignee: the assignee, not the list",
			ticket.Event{Kind: "created", TicketID: 101, MessageID: 600, ActorID: 10, Message: &ticket.Message{ID: 600, TicketID: 101, Author: ticket.Person{ID: 10, Email: "req@ext.example"}}}, event.TicketCreated,
			[]string{"auto_reply requester req@ext.example", "new_ticket assignee nat@net.example"}},
		{"created by a member for someone: the member is not told",
			ticket.Event{Kind: "created", TicketID: 100, MessageID: 601, ActorID: 11, Message: msg(601, 11, false)}, event.TicketCreated,
			[]string{"auto_reply requester req@ext.example", "new_ticket unit_member bob@uni.example"}},
		{"requester's reply: watchers and staff",
			ticket.Event{Kind: "message", TicketID: 100, MessageID: 602, ActorID: 10, Message: msg(602, 10, false)}, event.TicketMessage,
			[]string{"reply watcher wat@ext.example", "reply unit_member ann@uni.example", "reply unit_member bob@uni.example"}},
		{"staff reply: the requester side only, address hidden",
			ticket.Event{Kind: "message", TicketID: 100, MessageID: 603, ActorID: 11, Message: msg(603, 11, false)}, event.TicketMessage,
			[]string{"reply requester req@ext.example", "reply watcher wat@ext.example"}},
		{"automatic mail into a ticket: nobody",
			ticket.Event{Kind: "message", TicketID: 100, MessageID: 501, ActorID: 10}, event.TicketMessage, nil},
		{"internal note: the other members",
			ticket.Event{Kind: "message", TicketID: 100, MessageID: 604, Internal: true, ActorID: 11, Message: msg(604, 11, true)}, event.TicketNote,
			[]string{"note unit_member bob@uni.example"}},
		{"status: requester and watchers, not the actor",
			ticket.Event{Kind: "changed", TicketID: 100, ActorID: 11, Changes: []ticket.Change{{Field: "status", Old: "in_progress", New: "solved"}}}, event.TicketSolved,
			[]string{"status requester req@ext.example", "status watcher wat@ext.example"}},
		{"status by the requester: the watchers",
			ticket.Event{Kind: "changed", TicketID: 100, ActorID: 10, Changes: []ticket.Change{{Field: "status", Old: "solved", New: "reopened"}}}, event.TicketReopened,
			[]string{"status watcher wat@ext.example"}},
		{"priority: nobody",
			ticket.Event{Kind: "changed", TicketID: 100, ActorID: 11, Changes: []ticket.Change{{Field: "priority", Old: "urgent", New: "top_priority"}}}, event.TicketUpdated, nil},
		{"moved to a unit with an outside list: the list",
			ticket.Event{Kind: "changed", TicketID: 101, ActorID: 11, Changes: []ticket.Change{{Field: "unit_id", Old: "1", New: "2"}}}, event.TicketAssigned,
			[]string{"assigned unit_address net-list@lists.example"}},
		{"moved to a unit whose address is ours: every member but the mover",
			ticket.Event{Kind: "changed", TicketID: 100, ActorID: 11, Changes: []ticket.Change{{Field: "unit_id", Old: "2", New: "1"}}}, event.TicketAssigned,
			[]string{"assigned unit_member bob@uni.example"}},
		{"moved to the ticket handler team: an escalation to the team",
			ticket.Event{Kind: "changed", TicketID: 102, ActorID: 11, Changes: []ticket.Change{{Field: "unit_id", Old: "1", New: "3"}}}, event.TicketAssigned,
			[]string{"escalated handler_team hal@uni.example"}},
		{"assigned: the assignee",
			ticket.Event{Kind: "changed", TicketID: 101, ActorID: 11, Changes: []ticket.Change{{Field: "assignee_id", Old: "0", New: "13"}}}, event.TicketAssigned,
			[]string{"assigned assignee nat@net.example"}},
		{"assigned to someone since replaced: still the one assigned then",
			ticket.Event{Kind: "changed", TicketID: 101, ActorID: 11, Changes: []ticket.Change{{Field: "assignee_id", Old: "0", New: "12"}}}, event.TicketAssigned,
			[]string{"assigned assignee bob@uni.example"}},
		{"self-assigned: nobody",
			ticket.Event{Kind: "changed", TicketID: 101, ActorID: 13, Changes: []ticket.Change{{Field: "assignee_id", Old: "0", New: "13"}}}, event.TicketAssigned, nil},
		{"assignee taken away: nobody",
			ticket.Event{Kind: "changed", TicketID: 101, ActorID: 11, Changes: []ticket.Change{{Field: "assignee_id", Old: "13", New: "0"}}}, event.TicketAssigned, nil},
		{"moved and assigned at once, status too: each told once",
			ticket.Event{Kind: "changed", TicketID: 101, ActorID: 11, Changes: []ticket.Change{
				{Field: "status", Old: "new", New: "assigned"}, {Field: "unit_id", Old: "1", New: "2"}, {Field: "assignee_id", Old: "0", New: "13"}}}, event.TicketAssigned,
			[]string{"status requester req@ext.example", "assigned unit_address net-list@lists.example", "assigned assignee nat@net.example"}},
		{"a reminder of the timer: the requester only",
			ticket.Event{Kind: "reminder", TicketID: 103, Reminder: 2, Source: ticket.FromSystem}, event.TicketReminder,
			[]string{"reminder requester req@ext.example"}},
		{"a reminder for a ticket answered since: nobody",
			ticket.Event{Kind: "reminder", TicketID: 100, Reminder: 1, Source: ticket.FromSystem}, event.TicketReminder, nil},
		{"a watcher added: nobody",
			ticket.Event{Kind: "changed", TicketID: 100, ActorID: 10, Changes: []ticket.Change{{Field: "watchers", New: "x@ext.example"}}}, event.TicketUpdated, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := n.Decide(context.Background(), c.ev)
			if err != nil {
				t.Fatal(err)
			}
			if d.Type != c.typ {
				t.Errorf("type %s, want %s", d.Type, c.typ)
			}
			if d.Reminder != c.ev.Reminder {
				t.Errorf("reminder %d, want %d", d.Reminder, c.ev.Reminder)
			}
			if got := told(d); !reflect.DeepEqual(got, c.want) {
				t.Errorf("told\n  %q\nwant\n  %q", got, c.want)
			}
		})
	}
}

// What mail needs besides the notices: the actor, the unit, whether a
// reply's author is staff, where a ticket went and what a status change
// was.
func TestDecisionFacts(t *testing.T) {
	_, n := newWorld(t)
	ctx := context.Background()
	d, err := n.Decide(ctx, ticket.Event{Kind: "message", TicketID: 100, MessageID: 603, ActorID: 11,
		Message: &ticket.Message{ID: 603, TicketID: 100, Author: ticket.Person{ID: 11, Email: "ann@uni.example", Name: "Ann"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !d.StaffAuthor || d.Actor.Name != "Ann" || d.Unit == nil || d.Unit.Slug != "support" {
		t.Errorf("staff reply: %+v", d)
	}
	d, err = n.Decide(ctx, ticket.Event{Kind: "message", TicketID: 100, MessageID: 500, ActorID: 10})
	if err != nil {
		t.Fatal(err)
	}
	if d.StaffAuthor || d.Message == nil || d.Message.Body != "help" {
		t.Errorf("requester's mail read back: %+v", d)
	}
	d, err = n.Decide(ctx, ticket.Event{Kind: "changed", TicketID: 101, ActorID: 11, Changes: []ticket.Change{
		{Field: "status", Old: "new", New: "assigned"}, {Field: "unit_id", Old: "1", New: "2"}, {Field: "assignee_id", Old: "0", New: "13"}}})
	if err != nil {
		t.Fatal(err)
	}
	if d.MovedTo != "Network" || d.AssignedTo != "Nat" || d.Notices[0].Change.New != "assigned" {
		t.Errorf("move: %+v", d)
	}
	// A ticket gone since: nothing to tell.
	if d, err := n.Decide(ctx, ticket.Event{Kind: "changed", TicketID: 999, Changes: []ticket.Change{{Field: "status", New: "closed"}}}); d != nil || err != nil {
		t.Errorf("gone ticket: %+v, %v", d, err)
	}
	// A move to a unit gone since: nobody.
	d, err = n.Decide(ctx, ticket.Event{Kind: "changed", TicketID: 100, ActorID: 11, Changes: []ticket.Change{{Field: "unit_id", Old: "1", New: "77"}}})
	if err != nil || len(d.Notices) != 0 {
		t.Errorf("move to a unit gone: %+v, %v", d, err)
	}
}

type escalationDirectory struct{}

func (escalationDirectory) Handler(context.Context) (*unit.Unit, error) { return units[3], nil }

func (escalationDirectory) Admins(context.Context) ([]*user.User, error) {
	return []*user.User{{ID: 15, Email: "root@uni.example", Name: "Root"}, users[11]}, nil
}

// TestDecideUserEscalation: level 1 tells the unit, 2 the ticket handler
// team too, 3 the administrators too; never the one who escalated.
func TestDecideUserEscalation(t *testing.T) {
	w, _ := newWorld(t)
	n, err := New(Options{Tickets: w, Units: w, Users: userStore{w}, Handler: escalationDirectory{}, Admins: escalationDirectory{},
		Internal: func(addr string) bool { return strings.HasSuffix(addr, "@hm.test") }})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ticket, actor int64
		level         int
		want          []string
	}{
		{100, 10, 1, []string{"escalated_by_user unit_member ann@uni.example", "escalated_by_user unit_member bob@uni.example"}},
		{100, 10, 2, []string{"escalated_by_user unit_member ann@uni.example", "escalated_by_user unit_member bob@uni.example",
			"escalated_by_user handler_team hal@uni.example"}},
		{100, 10, 3, []string{"escalated_by_user unit_member ann@uni.example", "escalated_by_user unit_member bob@uni.example",
			"escalated_by_user handler_team hal@uni.example", "escalated_by_user administrator root@uni.example"}},
		// An outside list stands for its unit; the member who escalated is not told.
		{101, 10, 1, []string{"escalated_by_user unit_address net-list@lists.example"}},
		{100, 11, 3, []string{"escalated_by_user unit_member bob@uni.example",
			"escalated_by_user handler_team hal@uni.example", "escalated_by_user administrator root@uni.example"}},
	}
	for _, c := range cases {
		ev := ticket.Event{Kind: "escalated", TicketID: c.ticket, ActorID: c.actor, Level: c.level, Reason: "no answer for a week"}
		if ev.Type() != event.TicketEscalated {
			t.Fatalf("type %s", ev.Type())
		}
		d, err := n.Decide(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := told(d); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ticket %d by %d level %d: told %q, want %q", c.ticket, c.actor, c.level, got, c.want)
		}
		if d.Level != c.level || d.Reason != "no answer for a week" {
			t.Errorf("level %d reason %q", d.Level, d.Reason)
		}
	}
}

// alarmServices holds service grid, with an alarm address.
type alarmServices struct{}

func (alarmServices) Service(_ context.Context, slug string) (*unit.Service, error) {
	if slug == "grid" {
		return &unit.Service{Slug: "grid", Name: "Grid", AlarmEmail: "pager@site.example"}, nil
	}
	return nil, apperr.New(apperr.NotFound, "no such service")
}

// TestDecideAlarm: a new alarm and each re-page tell the service's alarm
// address, the unit and the ticket handler team, with no auto-reply; a
// ticket of a service gone since tells the unit and the team.
func TestDecideAlarm(t *testing.T) {
	w, _ := newWorld(t)
	n, err := New(Options{Tickets: w, Units: w, Users: userStore{w}, Handler: escalationDirectory{}, Services: alarmServices{},
		Internal: func(addr string) bool { return strings.HasSuffix(addr, "@hm.test") }})
	if err != nil {
		t.Fatal(err)
	}
	w.tickets[104] = &ticket.Ticket{ID: 104, Subject: "SE down", Status: ticket.Assigned, Kind: ticket.KindAlarm, UnitID: 1, Unit: "support",
		Service: "grid", Requester: ticket.Person{ID: 10, Email: "req@ext.example", Name: "Rita"}}
	w.tickets[105] = &ticket.Ticket{ID: 105, Subject: "gone", Status: ticket.Assigned, Kind: ticket.KindAlarm, UnitID: 2, Unit: "network",
		Service: "old", Requester: ticket.Person{ID: 10, Email: "req@ext.example", Name: "Rita"}}
	all := []string{"alarm alarm_contact pager@site.example", "alarm unit_member ann@uni.example", "alarm unit_member bob@uni.example",
		"alarm handler_team hal@uni.example"}
	for _, c := range []struct {
		ev   ticket.Event
		want []string
	}{
		{ticket.Event{Kind: "created", TicketID: 104, ActorID: 10}, all},
		{ticket.Event{Kind: "alarm", TicketID: 104}, all},
		{ticket.Event{Kind: "alarm", TicketID: 105}, []string{"alarm unit_address net-list@lists.example", "alarm handler_team hal@uni.example"}},
	} {
		d, err := n.Decide(context.Background(), c.ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := told(d); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s of %d: told %q, want %q", c.ev.Type(), c.ev.TicketID, got, c.want)
		}
	}
	if (ticket.Event{Kind: "alarm"}).Type() != event.TicketAlarm {
		t.Error("an alarm event is not ticket.alarm")
	}
}

// TestDecideQoS: a QoS warning tells the unit (its outside list, else its
// members) and the assignee; a violation the ticket handler team too; a
// clock the unit has answered since tells nobody.
func TestDecideQoS(t *testing.T) {
	w, _ := newWorld(t)
	n, err := New(Options{Tickets: w, Units: w, Users: userStore{w}, Handler: escalationDirectory{},
		Internal: func(addr string) bool { return strings.HasSuffix(addr, "@hm.test") }})
	if err != nil {
		t.Fatal(err)
	}
	met := time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC)
	w.tickets[106] = &ticket.Ticket{ID: 106, Subject: "answered", Status: ticket.InProgress, UnitID: 1, Unit: "support",
		Requester: ticket.Person{ID: 10, Email: "req@ext.example", Name: "Rita"}, QoS: ticket.QoSClock{DueAt: met.Add(time.Hour), MetAt: &met}}
	for _, c := range []struct {
		ev   ticket.Event
		typ  string
		want []string
	}{
		{ticket.Event{Kind: "qos_warning", TicketID: 100}, event.TicketQoSWarning,
			[]string{"qos_warning unit_member ann@uni.example", "qos_warning unit_member bob@uni.example"}},
		{ticket.Event{Kind: "qos_violated", TicketID: 100}, event.TicketQoSViolate,
			[]string{"qos_violated unit_member ann@uni.example", "qos_violated unit_member bob@uni.example", "qos_violated handler_team hal@uni.example"}},
		{ticket.Event{Kind: "qos_warning", TicketID: 101}, event.TicketQoSWarning,
			[]string{"qos_warning assignee nat@net.example", "qos_warning unit_address net-list@lists.example"}},
		{ticket.Event{Kind: "qos_violated", TicketID: 106}, event.TicketQoSViolate, nil},
	} {
		if c.ev.Type() != c.typ {
			t.Fatalf("%s is %s", c.ev.Kind, c.ev.Type())
		}
		d, err := n.Decide(context.Background(), c.ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := told(d); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s of %d: told %q, want %q", c.typ, c.ev.TicketID, got, c.want)
		}
	}
}

// services is a service catalogue of two services: "vm" in the mode
// redirect, "dns" in the mode direct.
type services map[string]*unit.Service

func (s services) Service(_ context.Context, slug string) (*unit.Service, error) {
	if sv, ok := s[slug]; ok {
		return sv, nil
	}
	return nil, apperr.New(apperr.NotFound, "no service %s", slug)
}

// TestRedirect: a ticket of a service in the mode redirect tells its
// unit's list of its creation and of every public update (role
// redirect_list); a reply by the list is a staff reply, told to the
// requester side only; an internal note never reaches the list; a
// ticket of a direct service of the same unit tells the list by the usual
// rule only.
func TestRedirect(t *testing.T) {
	w, _ := newWorld(t)
	rita := ticket.Person{ID: 10, Email: "req@ext.example", Name: "Rita"}
	w.tickets[110] = &ticket.Ticket{ID: 110, Subject: "VM gone", Status: ticket.Assigned, UnitID: 2, Unit: "network", Service: "vm",
		Requester: rita, WatcherList: []string{"wat@ext.example"}}
	w.tickets[111] = &ticket.Ticket{ID: 111, Subject: "DNS", Status: ticket.InProgress, UnitID: 2, Unit: "network", Service: "dns",
		Requester: rita, Assignee: &ticket.Person{ID: 13, Email: "nat@net.example", Name: "Nat"}}
	n, err := New(Options{Tickets: w, Units: w, Users: userStore{w},
		Services: services{"vm": {Slug: "vm", UnitID: 2, Mode: unit.Redirect}, "dns": {Slug: "dns", UnitID: 2, Mode: unit.Direct}},
		Internal: func(addr string) bool { return strings.HasSuffix(addr, "@hm.test") }})
	if err != nil {
		t.Fatal(err)
	}
	byRita := &ticket.Message{ID: 700, TicketID: 110, Author: rita, Body: "it is gone"}
	byList := &ticket.Message{ID: 701, TicketID: 110, Author: ticket.Person{Email: "net-list@lists.example", Name: "Network"}, Body: "restored"}
	byNat := &ticket.Message{ID: 702, TicketID: 110, Author: ticket.Person{ID: 13, Email: "nat@net.example", Name: "Nat"}, Body: "on it"}
	note := &ticket.Message{ID: 703, TicketID: 110, Author: ticket.Person{ID: 13, Email: "nat@net.example"}, Internal: true, Body: "secret"}
	for _, c := range []struct {
		name  string
		ev    ticket.Event
		typ   string
		want  []string
		staff bool
	}{
		{"created: the list", ticket.Event{Kind: "created", TicketID: 110, MessageID: 700, ActorID: 10, Message: byRita}, event.TicketCreated,
			[]string{"auto_reply requester req@ext.example", "new_ticket redirect_list net-list@lists.example"}, false},
		{"requester's reply: the list", ticket.Event{Kind: "message", TicketID: 110, MessageID: 700, ActorID: 10, Message: byRita}, event.TicketMessage,
			[]string{"reply watcher wat@ext.example", "reply redirect_list net-list@lists.example"}, false},
		{"the list's reply: a staff reply, to the requester side", ticket.Event{Kind: "message", TicketID: 110, MessageID: 701, Message: byList}, event.TicketMessage,
			[]string{"reply requester req@ext.example", "reply watcher wat@ext.example"}, true},
		{"a member's reply in the web: the list too", ticket.Event{Kind: "message", TicketID: 110, MessageID: 702, ActorID: 13, Message: byNat}, event.TicketMessage,
			[]string{"reply requester req@ext.example", "reply watcher wat@ext.example", "reply redirect_list net-list@lists.example"}, true},
		{"an internal note: not the list", ticket.Event{Kind: "message", TicketID: 110, MessageID: 703, Internal: true, ActorID: 13, Message: note}, event.TicketNote,
			nil, false},
		{"status: the list", ticket.Event{Kind: "changed", TicketID: 110, ActorID: 13, Changes: []ticket.Change{{Field: "status", Old: "assigned", New: "solved"}}}, event.TicketSolved,
			[]string{"status requester req@ext.example", "status watcher wat@ext.example", "status redirect_list net-list@lists.example"}, false},
		{"a direct service of the same unit: no redirect", ticket.Event{Kind: "changed", TicketID: 111, ActorID: 13, Changes: []ticket.Change{{Field: "status", Old: "in_progress", New: "solved"}}}, event.TicketSolved,
			[]string{"status requester req@ext.example"}, false},
	} {
		c.ev.Ticket = nil
		d, err := n.Decide(context.Background(), c.ev)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if d.Type != c.typ {
			t.Errorf("%s: type %s, want %s", c.name, d.Type, c.typ)
		}
		if got := told(d); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
		if d.StaffAuthor != c.staff {
			t.Errorf("%s: StaffAuthor %v, want %v", c.name, d.StaffAuthor, c.staff)
		}
	}
	// The unit's mode counts when the service's is the default.
	units[1].Mode = unit.Redirect
	defer func() { units[1].Mode = "" }()
	if l, err := n.List(context.Background(), w.tickets[100]); err != nil || l != nil {
		t.Errorf("a unit whose address is ours is no list: %v, %v", l, err)
	}
	units[2].Mode = unit.Redirect
	defer func() { units[2].Mode = "" }()
	if l, err := n.List(context.Background(), w.tickets[101]); err != nil || l == nil || l.Email != "net-list@lists.example" {
		t.Errorf("a ticket of a redirect unit without service: %v, %v", l, err)
	}
}
