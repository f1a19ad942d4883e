package apptest_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
)

// cast is the set of people the authorisation matrix is about, around one
// ticket opened by req through service "svc" of unit "ops".
type cast struct {
	in      *apptest.Instance
	clients map[string]*client.Client
	users   map[string]*client.User
	ticket  *client.Ticket
	// note is the internal note on the ticket, with an attachment.
	note *client.Message
	// reply is a public reply with an attachment.
	reply *client.Message
}

// Roles of the matrix.
const (
	rRequester  = "requester"
	rOther      = "other requester"
	rForeign    = "member of another unit"
	rMember     = "unit member"
	rUnitAdmin  = "unit admin"
	rHandler    = "ticket handler"
	rAdmin      = "admin"
	rTeammate   = "teammate (user ticket)"
	rWatcherUsr = "watcher"
)

var roles = []string{rRequester, rOther, rForeign, rMember, rUnitAdmin, rHandler, rAdmin, rWatcherUsr}

func newCast(t *testing.T, e apptest.Engine) *cast {
	t.Helper()
	ctx := context.Background()
	in := apptest.Start(t, e)
	c := &cast{in: in, clients: map[string]*client.Client{}, users: map[string]*client.User{}}
	in.NewUnit(t, "ops", false)
	in.NewUnit(t, "elsewhere", false)
	in.NewUnit(t, "triage", true)
	in.NewService(t, "svc", "ops")
	for _, r := range []struct{ role, email, sysrole string }{
		{rRequester, "req@example.org", "user"},
		{rOther, "other@example.org", "user"},
		{rForeign, "foreign@example.org", "user"},
		{rMember, "member@example.org", "user"},
		{rUnitAdmin, "uadmin@example.org", "user"},
		{rHandler, "handler@example.org", "user"},
		{rAdmin, "root@example.org", "admin"},
		{rWatcherUsr, "watcher@example.org", "user"},
	} {
		u, cl := in.NewUser(t, r.email, r.sysrole)
		c.users[r.role], c.clients[r.role] = u, cl
	}
	in.AddMember(t, "elsewhere", c.users[rForeign].ID, "admin")
	in.AddMember(t, "ops", c.users[rMember].ID, "member")
	in.AddMember(t, "ops", c.users[rUnitAdmin].ID, "admin")
	in.AddMember(t, "triage", c.users[rHandler].ID, "member")

	var err error
	c.ticket, err = c.clients[rRequester].CreateTicket(ctx, client.NewTicket{
		Subject: "Quasar pipeline broken", Body: "The frobnicator answers 502 since Monday.", Service: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.clients[rRequester].AddWatcher(ctx, c.ticket.ID, "watcher@example.org"); err != nil {
		t.Fatal(err)
	}
	c.note, err = c.clients[rMember].AddMessage(ctx, c.ticket.ID, "Internal: the zanzibar cluster is misconfigured.", true,
		[]client.File{{Name: "secret-notes.txt", ContentType: "text/plain", Content: strings.NewReader("internal file")}})
	if err != nil {
		t.Fatal(err)
	}
	c.reply, err = c.clients[rMember].AddMessage(ctx, c.ticket.ID, "We are looking into the marmalade issue.", false,
		[]client.File{{Name: "public.txt", ContentType: "text/plain", Content: strings.NewReader("public file")}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sees tells whether role may see the ticket, works tells whether it works
// the ticket (changes fields, internal notes).
func sees(role string) bool { return role != rOther && role != rForeign }
func works(role string) bool {
	return role == rMember || role == rUnitAdmin || role == rHandler || role == rAdmin
}

func expect(ok bool, yes, no int) int {
	if ok {
		return yes
	}
	return no
}

// TestAuthorisationMatrix checks every role against read, list, search,
// update, reply, internal note, escalation, messages, history and attachment download,
// with exact status codes, on both engines.
func TestAuthorisationMatrix(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		c := newCast(t, e)
		ctx := context.Background()
		id := c.ticket.ID
		for _, role := range roles {
			cl := c.clients[role]
			t.Run(role, func(t *testing.T) {
				// read
				_, err := cl.Ticket(ctx, id)
				if got, want := client.StatusOf(err), expect(sees(role), 0, 404); got != want {
					t.Errorf("GET ticket: status %d (err %v), want %d", got, err, want)
				}
				// list
				page, err := cl.Tickets(ctx, client.ListOptions{})
				if err != nil {
					t.Fatalf("list: %v", err)
				}
				if got := containsTicket(page.Items, id); got != sees(role) {
					t.Errorf("list contains the ticket: %v, want %v", got, sees(role))
				}
				// search: subject, public reply, internal note
				for _, s := range []struct {
					q    string
					want bool
				}{
					{"quasar", sees(role)},
					{"frobnicator", sees(role)},
					{"marmalade", sees(role)},
					{"zanzibar", works(role)},
					{"zanzibar cluster", works(role)},
				} {
					page, err := cl.Tickets(ctx, client.ListOptions{Q: s.q})
					if err != nil {
						t.Fatalf("search %q: %v", s.q, err)
					}
					if got := containsTicket(page.Items, id); got != s.want {
						t.Errorf("search %q finds the ticket: %v, want %v", s.q, got, s.want)
					}
				}
				// messages: internal notes only for staff
				ms, err := cl.Messages(ctx, id)
				if got, want := client.StatusOf(err), expect(sees(role), 0, 404); got != want {
					t.Errorf("GET messages: status %d, want %d", got, want)
				}
				if err == nil {
					hasNote := slices.ContainsFunc(ms, func(m client.Message) bool { return m.Internal || strings.Contains(m.Body, "zanzibar") })
					if hasNote != works(role) {
						t.Errorf("messages include the internal note: %v, want %v", hasNote, works(role))
					}
				}
				// history: "noted" entries only for staff
				hs, err := cl.History(ctx, id)
				if got, want := client.StatusOf(err), expect(sees(role), 0, 404); got != want {
					t.Errorf("GET history: status %d, want %d", got, want)
				}
				if err == nil {
					hasNote := slices.ContainsFunc(hs, func(h client.HistoryEntry) bool { return h.Action == "noted" })
					if hasNote != works(role) {
						t.Errorf("history includes the note: %v, want %v (%+v)", hasNote, works(role), hs)
					}
				}
				// attachments
				var buf bytes.Buffer
				err = cl.Download(ctx, c.note.Attachments[0].ID, &buf)
				if got, want := client.StatusOf(err), expect(works(role), 0, 404); got != want {
					t.Errorf("download internal attachment: status %d, want %d", got, want)
				}
				if err == nil && buf.String() != "internal file" {
					t.Errorf("internal attachment content %q", buf.String())
				}
				buf.Reset()
				err = cl.Download(ctx, c.reply.Attachments[0].ID, &buf)
				if got, want := client.StatusOf(err), expect(sees(role), 0, 404); got != want {
					t.Errorf("download public attachment: status %d, want %d", got, want)
				}
				if err == nil && buf.String() != "public file" {
					t.Errorf("public attachment content %q", buf.String())
				}
				// update a field
				_, err = cl.UpdateTicket(ctx, id, client.TicketUpdate{Priority: client.S("urgent")})
				if got, want := client.StatusOf(err), expect(works(role), 0, expect(sees(role), 403, 404)); got != want {
					t.Errorf("PATCH priority: status %d (%v), want %d", got, err, want)
				}
				// reply
				_, err = cl.Reply(ctx, id, "reply from "+role)
				if got, want := client.StatusOf(err), expect(sees(role), 0, 404); got != want {
					t.Errorf("reply: status %d (%v), want %d", got, err, want)
				}
				// internal note
				_, err = cl.Note(ctx, id, "note from "+role)
				if got, want := client.StatusOf(err), expect(works(role), 0, expect(sees(role), 403, 404)); got != want {
					t.Errorf("internal note: status %d (%v), want %d", got, err, want)
				}
				// escalate (a ticket of its own each, as levels stop at 3):
				// the requester and the staff; a watcher sees but may not
				esc, err := c.clients[rRequester].CreateTicket(ctx, client.NewTicket{Subject: "Escalate me", Body: "b", Service: "svc"})
				if err != nil {
					t.Fatal(err)
				}
				if err := c.clients[rRequester].AddWatcher(ctx, esc.ID, "watcher@example.org"); err != nil {
					t.Fatal(err)
				}
				_, err = cl.Escalate(ctx, esc.ID, "escalated by "+role)
				if got, want := client.StatusOf(err), expect(role == rRequester || works(role), 0, expect(sees(role), 403, 404)); got != want {
					t.Errorf("escalate: status %d (%v), want %d", got, err, want)
				}
				// unit settings: the unit's admins rename it; only
				// administrators change its mail addresses
				err = cl.Do(ctx, "PATCH", "/api/v1/units/ops", map[string]string{"name": "Unit ops"}, nil)
				if got, want := client.StatusOf(err), expect(role == rUnitAdmin || role == rAdmin, 0, 403); got != want {
					t.Errorf("PATCH unit name: status %d (%v), want %d", got, err, want)
				}
				addr := "ops-" + strings.ReplaceAll(role, " ", "-") + "@example.org"
				err = cl.Do(ctx, "PATCH", "/api/v1/units/ops", map[string]string{"comment_email": addr}, nil)
				if got, want := client.StatusOf(err), expect(role == rAdmin, 0, 403); got != want {
					t.Errorf("PATCH unit comment address: status %d (%v), want %d", got, err, want)
				}
				// a non-staff reply never shows up as internal
				if !works(role) && sees(role) {
					ms, _ := cl.Messages(ctx, id)
					for _, m := range ms {
						if m.Internal || strings.HasPrefix(m.Body, "note from") {
							t.Errorf("%s sees internal message %d %q", role, m.ID, m.Body)
						}
					}
				}
			})
		}
	})
}

// TestKindAuthorisation: an alarm is raised only by members of the
// service's alarm_teams, and administrators as a break-glass (DESIGN:
// anyone else is 403; nobody of the cast has a team, so unit staff are
// refused too: alarm_test.go has a team member raise one); a team ticket
// needs a team.
func TestKindAuthorisation(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		c := newCast(t, e)
		ctx := context.Background()
		for _, role := range roles {
			cl := c.clients[role]
			t.Run(role, func(t *testing.T) {
				_, err := cl.CreateTicket(ctx, client.NewTicket{Subject: "down", Body: "all of it", Service: "svc", Kind: "alarm"})
				if got, want := client.StatusOf(err), expect(role == rAdmin, 0, 403); got != want {
					t.Errorf("alarm for svc: status %d (%v), want %d", got, err, want)
				}
				_, err = cl.CreateTicket(ctx, client.NewTicket{Subject: "down", Body: "all of it", Unit: "elsewhere", Kind: "alarm"})
				if got, want := client.StatusOf(err), expect(role == rAdmin, 0, 403); got != want {
					t.Errorf("alarm for another unit: status %d (%v), want %d", got, err, want)
				}
				// Nobody of the cast has a team.
				_, err = cl.CreateTicket(ctx, client.NewTicket{Subject: "ours", Body: "b", Kind: "team"})
				if got := client.StatusOf(err); got != 403 {
					t.Errorf("team ticket without a team: status %d (%v), want 403", got, err)
				}
			})
		}
	})
}

func containsTicket(ts []client.Ticket, id int64) bool {
	return slices.ContainsFunc(ts, func(t client.Ticket) bool { return t.ID == id })
}

// TestTeamTickets: a team ticket is visible to the requester's team, a user
// ticket is not; neither is workable by the teammate.
func TestTeamTickets(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		ctx := context.Background()
		mk := func(email, team string) *client.Client {
			u, err := in.Admin.CreateUser(ctx, client.NewUser{Email: email, Name: email, Team: team})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := in.Admin.CreateToken(ctx, u.ID, client.NewToken{})
			if err != nil {
				t.Fatal(err)
			}
			return in.Client(tok.Token)
		}
		ann, bob, eve := mk("ann@example.org", "atlas"), mk("bob@example.org", "atlas"), mk("eve@example.org", "cms")
		team, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "team", Body: "b", Kind: "team"})
		if err != nil {
			t.Fatal(err)
		}
		mine, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "mine", Body: "b"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.Ticket(ctx, team.ID); err != nil {
			t.Errorf("teammate reads team ticket: %v", err)
		}
		if _, err := bob.Reply(ctx, team.ID, "me too"); err != nil {
			t.Errorf("teammate replies to team ticket: %v", err)
		}
		if _, err := bob.Note(ctx, team.ID, "x"); client.StatusOf(err) != 403 {
			t.Errorf("teammate internal note: %v, want 403", err)
		}
		if _, err := bob.Ticket(ctx, mine.ID); client.StatusOf(err) != 404 {
			t.Errorf("teammate reads user ticket: %v, want 404", err)
		}
		if _, err := eve.Ticket(ctx, team.ID); client.StatusOf(err) != 404 {
			t.Errorf("other team reads team ticket: %v, want 404", err)
		}
		page, err := bob.Tickets(ctx, client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !containsTicket(page.Items, team.ID) || containsTicket(page.Items, mine.ID) {
			t.Errorf("teammate's list: %+v", page.Items)
		}
	})
}
