package connector_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/blob"
	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/connector/connectortest"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

type fixture struct {
	d       *db.DB
	log     *event.Log
	tickets *ticket.Store
	engine  *connector.Engine
	peer    *connectortest.Peer
	req     *auth.Principal
	staff   *auth.Principal
	svc     *unit.Service
	ctx     context.Context
	blobs   blob.Store
}

// newFixture makes a world with a requester, a staff member of unit ops,
// and a service "ext" of ops in the external mode through connector
// "peer", whose peer is f.peer.
func newFixture(t *testing.T, d *db.DB, mapped bool) *fixture {
	t.Helper()
	ctx := context.Background()
	l := event.New(d, event.Options{})
	tickets := ticket.NewStore(d, ticket.Options{Emit: func(ctx context.Context, q db.Querier, ev ticket.Event) error {
		return l.Append(ctx, q, ev.Type(), ev.TicketID, ev)
	}})
	units := unit.NewStore(d)
	users := user.NewStore(d)
	policy, err := outbound.NewPolicy([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	peer := &connectortest.Peer{}
	mk := peer.Kind()
	if mapped {
		mk = func(connector.Config) (connector.Peer, error) { return connectortest.Mapped{Peer: peer}, nil }
	}
	blobs, err := blob.NewDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := connector.New(d, connector.Options{Kinds: connector.Kinds{connector.RT5: mk}, Tickets: tickets, Services: units, Blobs: blobs, MaxFile: 1 << 20,
		Checker: policy, BackoffBase: time.Hour, BackoffMax: time.Hour, MaxAttempts: 3})
	e.Follow(l)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Create(ctx, connector.NewConnector{Name: "peer", Kind: connector.RT5, URL: "http://127.0.0.1:9/", Token: "secret", Queue: "General"}); err != nil {
		t.Fatal(err)
	}
	ops, err := units.CreateUnit(ctx, unit.Unit{Slug: "ops", Name: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := units.CreateService(ctx, unit.Service{Slug: "ext", Name: "ext", UnitSlug: "ops", Mode: unit.External, Connector: "peer"})
	if err != nil {
		t.Fatal(err)
	}
	person := func(email string, unitID int64) *auth.Principal {
		u, err := users.Create(ctx, user.NewUser{Email: email, Name: email})
		if err != nil {
			t.Fatal(err)
		}
		if unitID != 0 {
			if err := units.SetMember(ctx, unitID, u.ID, auth.UnitMember); err != nil {
				t.Fatal(err)
			}
		}
		p, err := users.Principal(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return &fixture{d: d, log: l, tickets: tickets, engine: e, peer: peer, svc: svc, ctx: ctx, blobs: blobs,
		req: person("req@example.org", 0), staff: person("staff@example.org", ops.ID)}
}

// tell runs the follower over what is new in the event stream.
func (f *fixture) tell(t *testing.T) {
	t.Helper()
	if _, err := f.log.Step(f.ctx, connector.Follower); err != nil {
		t.Fatal(err)
	}
}

// open creates a ticket of the external service as the requester and
// queues its creation.
func (f *fixture) open(t *testing.T) *ticket.Ticket {
	t.Helper()
	tk, err := f.tickets.Create(f.ctx, f.req, ticket.NewTicket{Subject: "disk full", Body: "the disk is full", ServiceID: f.svc.ID, UnitID: f.svc.UnitID})
	if err != nil {
		t.Fatal(err)
	}
	f.tell(t)
	return tk
}

// sync sends what is due and fails the test on an error.
func (f *fixture) send(t *testing.T) int {
	t.Helper()
	n, err := f.engine.SendDue(f.ctx, "peer")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) conn(t *testing.T) *connector.Connector {
	t.Helper()
	c, err := f.engine.Get(f.ctx, "peer")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) setStatus(t *testing.T, p *auth.Principal, id int64, s ticket.Status) {
	t.Helper()
	if _, err := f.tickets.Update(f.ctx, p, id, ticket.Update{Status: &s}); err != nil {
		t.Fatalf("set %s: %v", s, err)
	}
}

func (f *fixture) status(t *testing.T, id int64) ticket.Status {
	t.Helper()
	tk, err := f.tickets.Get(f.ctx, auth.System("test"), id)
	if err != nil {
		t.Fatal(err)
	}
	return tk.Status
}

func (f *fixture) messages(t *testing.T, id int64) []*ticket.Message {
	t.Helper()
	ms, err := f.tickets.Messages(f.ctx, f.staff, id)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// linked makes ticket id known on the peer and returns its remote id.
func (f *fixture) linked(t *testing.T, id int64) string {
	t.Helper()
	f.send(t)
	ls, err := f.engine.Links(f.ctx, id)
	if err != nil || len(ls) != 1 {
		t.Fatalf("links of %d: %v %v", id, ls, err)
	}
	// The first poll of a connector gives its cursor.
	if err := f.engine.PollNow(f.ctx, "peer"); err != nil {
		t.Fatal(err)
	}
	return ls[0].RemoteID
}

func TestCreateThenPushInOrder(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, false)
		tk := f.open(t)
		if _, err := f.tickets.AddMessage(f.ctx, f.staff, tk.ID, ticket.NewMessage{Body: "we look at it"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.tickets.AddMessage(f.ctx, f.staff, tk.ID, ticket.NewMessage{Body: "disk of node 4", Internal: true}); err != nil {
			t.Fatal(err)
		}
		f.setStatus(t, f.staff, tk.ID, ticket.InProgress)
		top := ticket.TopPriority
		if _, err := f.tickets.Update(f.ctx, f.staff, tk.ID, ticket.Update{Priority: &top}); err != nil {
			t.Fatal(err)
		}
		f.tell(t)
		if c := f.conn(t); c.Pending != 5 || c.State != connector.StateOK {
			t.Fatalf("connector before sending: %+v", c)
		}
		if n := f.send(t); n != 5 {
			t.Fatalf("sent %d items, want 5", n)
		}
		{
			created := f.peer.Created()
			if len(created) != 1 || created[0].Subject != "disk full" || created[0].Body != "the disk is full" || created[0].LocalID != tk.ID ||
				created[0].Requester.Email != "req@example.org" {
				t.Fatalf("created: %+v", created)
			}
			var got []string
			for _, c := range f.peer.Pushed() {
				got = append(got, string(c.Kind)+":"+c.Body+c.Status+c.Priority)
				if c.Ticket.RemoteID != "101" {
					t.Errorf("pushed to %q", c.Ticket.RemoteID)
				}
			}
			want := []string{"message:we look at it", "note:disk of node 4", "status:in_progress", "priority:top_priority"}
			if !slices.Equal(got, want) {
				t.Fatalf("pushed %q, want %q", got, want)
			}
		}
		ls, err := f.engine.Links(f.ctx, tk.ID)
		if err != nil || len(ls) != 1 || ls[0].Connector != "peer" || ls[0].RemoteID != "101" || ls[0].RemoteURL != "https://peer.example/t/101" || ls[0].State != "linked" {
			t.Fatalf("links: %+v %v", ls, err)
		}
		log, err := f.engine.SyncLog(f.ctx, tk.ID)
		if err != nil || len(log) != 5 || log[0].What != "create" || log[0].Direction != "out" || log[0].Result != "ok" {
			t.Fatalf("sync log: %+v %v", log, err)
		}
		if c := f.conn(t); c.Pending != 0 || c.Dead != 0 {
			t.Fatalf("connector after sending: %+v", c)
		}
		// Told again, nothing new is queued.
		f.tell(t)
		if n := f.send(t); n != 0 {
			t.Fatalf("sent %d more", n)
		}
	})
}

func TestDirectServicesAreNotSent(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, false)
		units := unit.NewStore(d)
		direct, err := units.CreateService(f.ctx, unit.Service{Slug: "direct", Name: "direct", UnitSlug: "ops"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.tickets.Create(f.ctx, f.req, ticket.NewTicket{Subject: "s", Body: "b", ServiceID: direct.ID, UnitID: direct.UnitID}); err != nil {
			t.Fatal(err)
		}
		f.tell(t)
		if c := f.conn(t); c.Pending != 0 {
			t.Fatalf("a direct service's ticket was queued: %+v", c)
		}
	})
}

func TestBackoffEndsWhenThePeerAnswers(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, false)
		f.peer.Set(func(p *connectortest.Peer) { p.Down = true })
		tk := f.open(t)
		if n, err := f.engine.SendDue(f.ctx, "peer"); n != 0 || err != nil {
			t.Fatalf("sent %d, %v", n, err)
		}
		c := f.conn(t)
		if c.State != connector.StateFailing || c.Pending != 1 || c.LastError == "" {
			t.Fatalf("after a failure: %+v", c)
		}
		var calls int
		calls = f.peer.Calls()
		// Backed off (an hour): the peer is left alone.
		f.send(t)
		if f.peer.Calls() != calls {
			t.Fatalf("the peer was called during the backoff")
		}
		f.peer.Set(func(p *connectortest.Peer) { p.Down = false })
		// The poll answers: the backoff ends at once, what waited goes.
		if err := f.engine.PollNow(f.ctx, "peer"); err != nil {
			t.Fatal(err)
		}
		if n := f.send(t); n != 1 {
			t.Fatalf("sent %d after recovery", n)
		}
		if c := f.conn(t); c.State != connector.StateOK || c.Pending != 0 {
			t.Fatalf("after recovery: %+v", c)
		}
		if ls, _ := f.engine.Links(f.ctx, tk.ID); len(ls) != 1 {
			t.Fatalf("links: %+v", ls)
		}
	})
}

func TestPermanentErrorsAreDeadThenRetriedOrSkipped(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, false)
		tk := f.open(t)
		f.send(t)
		f.peer.Set(func(p *connectortest.Peer) { p.Permanent = true })
		for _, b := range []string{"first", "second"} {
			if _, err := f.tickets.AddMessage(f.ctx, f.staff, tk.ID, ticket.NewMessage{Body: b}); err != nil {
				t.Fatal(err)
			}
		}
		f.tell(t)
		f.send(t)
		c := f.conn(t)
		if c.Dead != 1 || c.Pending != 1 {
			t.Fatalf("after ErrPermanent: %+v", c)
		}
		dead, err := f.engine.DeadItems(f.ctx, "peer")
		if err != nil || len(dead) != 1 || dead[0].Op != "message" || dead[0].Attempts != 1 || dead[0].TicketID != tk.ID {
			t.Fatalf("dead items: %+v %v", dead, err)
		}
		// The second waits behind the dead one (order per ticket).
		f.peer.Set(func(p *connectortest.Peer) { p.Permanent = false })
		if n := f.send(t); n != 0 {
			t.Fatalf("an item passed a dead one of its ticket")
		}
		if err := f.engine.Retry(f.ctx, "peer", dead[0].ID); err != nil {
			t.Fatal(err)
		}
		if n := f.send(t); n != 2 {
			t.Fatalf("sent %d after the retry", n)
		}
		if p := f.peer.Pushed(); len(p) != 2 || p[0].Body != "first" || p[1].Body != "second" {
			t.Fatalf("pushed: %+v", p)
		}
		// Skip: dead again, skipped, the next one goes.
		f.peer.Set(func(p *connectortest.Peer) { p.Permanent = true })
		for _, b := range []string{"third", "fourth"} {
			if _, err := f.tickets.AddMessage(f.ctx, f.staff, tk.ID, ticket.NewMessage{Body: b}); err != nil {
				t.Fatal(err)
			}
		}
		f.tell(t)
		f.send(t)
		f.peer.Set(func(p *connectortest.Peer) { p.Permanent = false })
		dead, _ = f.engine.DeadItems(f.ctx, "peer")
		if len(dead) != 1 {
			t.Fatalf("dead: %+v", dead)
		}
		if err := f.engine.Skip(f.ctx, "peer", dead[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := f.engine.Skip(f.ctx, "peer", dead[0].ID); err == nil {
			t.Fatal("skipped an item twice")
		}
		if n := f.send(t); n != 1 {
			t.Fatalf("sent %d after the skip", n)
		}
		if p := f.peer.Pushed(); p[len(p)-1].Body != "fourth" {
			t.Fatalf("last pushed: %+v", p[len(p)-1])
		}
		if c := f.conn(t); c.Dead != 0 || c.Pending != 0 {
			t.Fatalf("after skip: %+v", c)
		}
	})
}

func TestTransientFailuresEndDeadAfterMaxAttempts(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, false)
		f.open(t)
		f.peer.Set(func(p *connectortest.Peer) { p.Down = true })
		for range 3 { // MaxAttempts
			f.send(t)
			// The peer answers a poll between tries? No: end the backoff by hand.
			if _, err := f.d.W.ExecContext(f.ctx, `UPDATE connectors SET retry_at = NULL`); err != nil {
				t.Fatal(err)
			}
			if _, err := f.d.W.ExecContext(f.ctx, `UPDATE connector_items SET next_try_at = created_at`); err != nil {
				t.Fatal(err)
			}
		}
		if c := f.conn(t); c.Dead != 1 || c.Pending != 0 {
			t.Fatalf("after 3 tries: %+v", c)
		}
	})
}

func TestPollAppliesEachChangeOnce(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, false)
		tk := f.open(t)
		rid := f.linked(t, tk.ID)
		f.peer.Add(connector.Change{Kind: connector.KindMessage, Body: "from the peer", Ticket: connector.Ref{RemoteID: rid}})
		f.peer.Add(connector.Change{Kind: connector.KindNote, Body: "peer note", Ticket: connector.Ref{RemoteID: rid}})

		// A crash between Poll and commit: nothing applied, the cursor stays.
		f.engine.SetBeforeCommit(func() error { return errors.New("crash") })
		if err := f.engine.PollNow(f.ctx, "peer"); err == nil {
			t.Fatal("the crash was not reported")
		}
		if ms := f.messages(t, tk.ID); len(ms) != 1 {
			t.Fatalf("after the crash: %d messages", len(ms))
		}
		f.engine.SetBeforeCommit(nil)
		if err := f.engine.PollNow(f.ctx, "peer"); err != nil {
			t.Fatal(err)
		}
		// The same changes again (a peer that replays): applied once.
		f.peer.Set(func(p *connectortest.Peer) { p.Replay = true })
		if err := f.engine.PollNow(f.ctx, "peer"); err != nil {
			t.Fatal(err)
		}
		ms := f.messages(t, tk.ID)
		if len(ms) != 3 || ms[1].Body != "from the peer" || ms[1].Source != ticket.FromPeer || ms[1].Internal ||
			ms[2].Body != "peer note" || !ms[2].Internal {
			t.Fatalf("messages: %d %+v", len(ms), ms)
		}
		// Pushed to the receiver's apply path too: once.
		if err := f.engine.Apply(f.ctx, "peer", []connector.Change{{Kind: connector.KindMessage, Body: "from the peer", RemoteID: "tx-1", Ticket: connector.Ref{RemoteID: rid}}}); err != nil {
			t.Fatal(err)
		}
		if ms := f.messages(t, tk.ID); len(ms) != 3 {
			t.Fatalf("a pushed change applied twice: %d messages", len(ms))
		}
		// Echo suppression: what the peer wrote is not sent back.
		f.tell(t)
		if c := f.conn(t); c.Pending != 0 {
			t.Fatalf("the peer's changes were queued back to it: %+v", c)
		}
		log, _ := f.engine.SyncLog(f.ctx, tk.ID)
		if in := slices.IndexFunc(log, func(s connector.SyncEntry) bool { return s.Direction == "in" }); in < 0 {
			t.Fatalf("no inbound line in the sync log: %+v", log)
		}
	})
}

func TestOwnershipOfStatuses(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, true)
		f.peer.Set(func(p *connectortest.Peer) {
			p.Statuses = map[string]string{"waiting_for_reply": "stalled", "on_hold": "stalled", "solved": "resolved", "verified": "resolved"}
		})
		tk := f.open(t)
		rid := f.linked(t, tk.ID)
		ref := connector.Ref{RemoteID: rid}
		poll := func(c connector.Change) {
			t.Helper()
			c.Ticket = ref
			f.peer.Add(c)
			if err := f.engine.PollNow(f.ctx, "peer"); err != nil {
				t.Fatal(err)
			}
		}
		// The working side owns progress.
		poll(connector.Change{Kind: connector.KindStatus, Status: "in_progress"})
		if s := f.status(t, tk.ID); s != ticket.InProgress {
			t.Fatalf("status %s, want in_progress", s)
		}
		// And priority.
		poll(connector.Change{Kind: connector.KindPriority, Priority: "very_urgent"})
		if tk2, _ := f.tickets.Get(f.ctx, f.staff, tk.ID); tk2.Priority != ticket.VeryUrgent {
			t.Fatalf("priority %s", tk2.Priority)
		}
		// waiting_for_reply shows as stalled on the peer: on_hold (stalled) keeps it.
		f.setStatus(t, f.staff, tk.ID, ticket.WaitingForReply)
		poll(connector.Change{Kind: connector.KindStatus, Status: "on_hold"})
		if s := f.status(t, tk.ID); s != ticket.WaitingForReply {
			t.Fatalf("status %s, want waiting_for_reply kept", s)
		}
		// The peer cannot verify or reopen.
		poll(connector.Change{Kind: connector.KindStatus, Status: "solved"})
		poll(connector.Change{Kind: connector.KindStatus, Status: "verified"})
		if s := f.status(t, tk.ID); s != ticket.Solved {
			t.Fatalf("status %s, want solved", s)
		}
		poll(connector.Change{Kind: connector.KindStatus, Status: "in_progress"})
		if s := f.status(t, tk.ID); s != ticket.Solved {
			t.Fatalf("the peer reopened: %s", s)
		}
		// The requester verifies; a coarse resolved does not regress it.
		f.setStatus(t, f.req, tk.ID, ticket.Verified)
		poll(connector.Change{Kind: connector.KindStatus, Status: "solved"})
		poll(connector.Change{Kind: connector.KindStatus, Status: "in_progress"})
		if s := f.status(t, tk.ID); s != ticket.Verified {
			t.Fatalf("verified regressed to %s", s)
		}
		// A message to a verified (frozen) ticket is refused and logged, not retried.
		poll(connector.Change{Kind: connector.KindMessage, Body: "late"})
		log, _ := f.engine.SyncLog(f.ctx, tk.ID)
		if last := log[len(log)-1]; last.What != "message" || last.Direction != "in" || len(last.Result) < 7 || last.Result[:7] != "refused" {
			t.Fatalf("last sync log line: %+v", last)
		}
		if c := f.conn(t); c.State != connector.StateOK {
			t.Fatalf("a refused change failed the connector: %+v", c)
		}
	})
}

func TestChangesOnBothSidesAtOnce(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, false)
		tk := f.open(t)
		rid := f.linked(t, tk.ID)
		// helpmesh replies and solves; meanwhile the peer writes and puts it on hold.
		if _, err := f.tickets.AddMessage(f.ctx, f.staff, tk.ID, ticket.NewMessage{Body: "fixed"}); err != nil {
			t.Fatal(err)
		}
		f.setStatus(t, f.staff, tk.ID, ticket.Solved)
		f.tell(t)
		f.peer.Add(connector.Change{Kind: connector.KindMessage, Body: "still looking", Ticket: connector.Ref{RemoteID: rid}})
		f.peer.Add(connector.Change{Kind: connector.KindStatus, Status: "on_hold", Ticket: connector.Ref{RemoteID: rid}})
		if err := f.engine.PollNow(f.ctx, "peer"); err != nil {
			t.Fatal(err)
		}
		f.send(t)
		if s := f.status(t, tk.ID); s != ticket.Solved {
			t.Fatalf("status %s, want solved (the requester's side owns reopening)", s)
		}
		ms := f.messages(t, tk.ID)
		if len(ms) != 3 || ms[1].Body != "fixed" || ms[2].Body != "still looking" {
			t.Fatalf("messages: %+v", ms)
		}
		if p := f.peer.Pushed(); len(p) != 2 || p[0].Body != "fixed" || p[1].Status != "solved" {
			t.Fatalf("pushed: %+v", p)
		}
	})
}

func TestTakeStatus(t *testing.T) {
	for _, c := range []struct {
		cur, to string
		ok      bool
	}{
		{"assigned", "in_progress", true},
		{"in_progress", "solved", true},
		{"in_progress", "in_progress", false},
		{"verified", "solved", false},
		{"closed", "in_progress", false},
		{"solved", "in_progress", false},
		{"solved", "verified", false},
		{"in_progress", "reopened", false},
		{"solved", "unsolved", true},
	} {
		if ok, why := connector.TakeStatus(c.cur, c.to, nil); ok != c.ok {
			t.Errorf("TakeStatus(%s, %s) = %v (%s)", c.cur, c.to, ok, why)
		}
	}
}

func TestConnectorValidation(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, false)
		ok := connector.NewConnector{Name: "rm", Kind: connector.Redmine5, URL: "http://127.0.0.1:3000", Token: "k", Project: "p"}
		for name, nc := range map[string]connector.NewConnector{
			"bad name":     {Name: "Bad Name", Kind: ok.Kind, URL: ok.URL, Token: ok.Token, Project: ok.Project},
			"bad kind":     {Name: "rm", Kind: "zammad", URL: ok.URL, Token: ok.Token},
			"bad url":      {Name: "rm", Kind: ok.Kind, URL: "ftp://x", Token: ok.Token, Project: ok.Project},
			"private url":  {Name: "rm", Kind: ok.Kind, URL: "http://10.1.2.3/", Token: ok.Token, Project: ok.Project},
			"no token":     {Name: "rm", Kind: ok.Kind, URL: ok.URL, Project: ok.Project},
			"no project":   {Name: "rm", Kind: ok.Kind, URL: ok.URL, Token: ok.Token},
			"no queue":     {Name: "rt", Kind: connector.RT5, URL: ok.URL, Token: ok.Token},
			"bad interval": {Name: "rm", Kind: ok.Kind, URL: ok.URL, Token: ok.Token, Project: ok.Project, PollInterval: "1ms"},
		} {
			if _, err := f.engine.Create(f.ctx, nc); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
		c, err := f.engine.Create(f.ctx, ok)
		if err != nil || c.PollInterval != 30*time.Second || c.State != connector.StateOK {
			t.Fatalf("create: %+v %v", c, err)
		}
		if _, err := f.engine.Create(f.ctx, ok); err == nil {
			t.Fatal("a second connector of the same name")
		}
		if c, err := f.engine.SetPaused(f.ctx, "rm", true); err != nil || c.State != connector.StatePaused {
			t.Fatalf("pause: %+v %v", c, err)
		}
		if err := f.engine.Delete(f.ctx, "peer"); err == nil {
			t.Fatal("deleted a connector a service names")
		}
		if err := f.engine.Delete(f.ctx, "rm"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFilesBothWays(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, false)
		tk := f.open(t)
		rid := f.linked(t, tk.ID)
		sum, size, err := f.blobs.Put(f.ctx, bytes.NewReader([]byte("ERROR disk full\n")), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.tickets.AddMessage(f.ctx, f.staff, tk.ID, ticket.NewMessage{Body: "the log",
			Attachments: []ticket.NewAttachment{{Filename: "node4.log", ContentType: "text/plain", Size: size, SHA256: sum}}}); err != nil {
			t.Fatal(err)
		}
		f.tell(t)
		f.send(t)
		p := f.peer.Pushed()
		if len(p) != 1 || len(p[0].Attachments) != 1 || p[0].Attachments[0].Filename != "node4.log" || string(p[0].Attachments[0].Data) != "ERROR disk full\n" {
			t.Fatalf("pushed: %+v", p)
		}
		// A file from the peer, with no text: stored, named in the body.
		f.peer.Add(connector.Change{Kind: connector.KindMessage, Ticket: connector.Ref{RemoteID: rid},
			Attachments: []connector.Attachment{{Filename: "fix.patch", ContentType: "text/x-diff", Data: []byte("--- a\n+++ b\n")}}})
		if err := f.engine.PollNow(f.ctx, "peer"); err != nil {
			t.Fatal(err)
		}
		ms := f.messages(t, tk.ID)
		last := ms[len(ms)-1]
		if last.Source != ticket.FromPeer || len(last.Attachments) != 1 || last.Attachments[0].Filename != "fix.patch" || !strings.Contains(last.Body, "fix.patch") {
			t.Fatalf("received: %+v", last)
		}
		r, err := f.blobs.Open(f.ctx, last.Attachments[0].SHA256)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if b, _ := io.ReadAll(r); string(b) != "--- a\n+++ b\n" {
			t.Fatalf("stored %q", b)
		}
	})
}

// TestSupersededStatusIsNotPushed: helpmesh sets a status and a priority
// while the peer sets others before they are sent; the peer's, applied at
// the poll, win (the working side owns progress and priority) and
// helpmesh's older values are logged as superseded, not pushed over them.
// A status changed twice in helpmesh sends only the newer one.
func TestSupersededStatusIsNotPushed(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, false)
		tk := f.open(t)
		remote := f.linked(t, tk.ID)
		f.setStatus(t, f.staff, tk.ID, ticket.WaitingForReply)
		high := ticket.VeryUrgent
		if _, err := f.tickets.Update(f.ctx, f.staff, tk.ID, ticket.Update{Priority: &high}); err != nil {
			t.Fatal(err)
		}
		f.tell(t)
		ref := connector.Ref{RemoteID: remote}
		f.peer.Add(connector.Change{Kind: connector.KindStatus, Status: "solved", Ticket: ref})
		f.peer.Add(connector.Change{Kind: connector.KindPriority, Priority: "top_priority", Ticket: ref})
		if err := f.engine.PollNow(f.ctx, "peer"); err != nil {
			t.Fatal(err)
		}
		f.send(t)
		if got := f.status(t, tk.ID); got != ticket.Solved {
			t.Fatalf("status %s, want the peer's solved", got)
		}
		if p := f.peer.Pushed(); len(p) != 0 {
			t.Fatalf("pushed %+v over the peer's newer status and priority", p)
		}
		log, err := f.engine.SyncLog(f.ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		var superseded []string
		for _, e := range log {
			if e.Direction == "out" && strings.HasPrefix(e.Result, "superseded") {
				superseded = append(superseded, e.What)
			}
		}
		if !slices.Equal(superseded, []string{"status waiting_for_reply", "priority very_urgent"}) {
			t.Fatalf("superseded in the sync log: %q; log %+v", superseded, log)
		}

		f.setStatus(t, f.req, tk.ID, ticket.Reopened)
		f.setStatus(t, f.staff, tk.ID, ticket.InProgress)
		f.tell(t)
		f.send(t)
		if p := f.peer.Pushed(); len(p) != 1 || p[0].Status != "in_progress" {
			t.Fatalf("pushed %+v, want in_progress only", p)
		}
	})
}

// TestReconcileRepairsDrift: a reply and a status made on the peer that
// the poll cursor moved past are applied by a pass, through the poller's
// path; a reply and a priority of helpmesh's whose items were lost are
// queued again and sent once; a reply the follower has not yet seen is
// queued by the pass and not again by the follower; a second pass repairs
// nothing.
func TestReconcileRepairsDrift(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, false)
		tk := f.open(t)
		f.send(t)
		ref := connector.Ref{RemoteID: f.linked(t, tk.ID)}
		if err := f.engine.PollNow(f.ctx, "peer"); err != nil {
			t.Fatal(err)
		}
		// In: the peer's reply and status, the cursor moved past them.
		f.peer.Add(connector.Change{Kind: connector.KindMessage, Body: "missed by the poller", Ticket: ref})
		f.peer.Add(connector.Change{Kind: connector.KindStatus, Status: "in_progress", Ticket: ref})
		if _, err := d.W.ExecContext(f.ctx, `UPDATE connectors SET poll_cursor = '2'`); err != nil {
			t.Fatal(err)
		}
		// Out: a reply and a priority whose items are lost.
		if _, err := f.tickets.AddMessage(f.ctx, f.staff, tk.ID, ticket.NewMessage{Body: "lost in the queue"}); err != nil {
			t.Fatal(err)
		}
		top := ticket.Priority("top_priority")
		if _, err := f.tickets.Update(f.ctx, f.staff, tk.ID, ticket.Update{Priority: &top}); err != nil {
			t.Fatal(err)
		}
		f.tell(t)
		if _, err := d.W.ExecContext(f.ctx, `DELETE FROM connector_items`); err != nil {
			t.Fatal(err)
		}
		// A reply the follower has not yet told.
		if _, err := f.tickets.AddMessage(f.ctx, f.staff, tk.ID, ticket.NewMessage{Body: "not yet told"}); err != nil {
			t.Fatal(err)
		}

		res, err := f.engine.Reconcile(f.ctx, "peer")
		if err != nil {
			t.Fatal(err)
		}
		// message and status in; the two replies and the priority out
		if res.Checked != 1 || res.Repaired != 5 || res.Failed != 0 {
			t.Errorf("first pass: %+v, want 1 checked, 5 repaired", res)
		}
		f.tell(t) // the follower sees "not yet told" now: queued once
		f.send(t)
		if st := f.status(t, tk.ID); st != ticket.InProgress {
			t.Errorf("status %s, want the peer's in_progress", st)
		}
		count := func() map[string]int {
			n := map[string]int{}
			for _, m := range f.messages(t, tk.ID) {
				n[m.Body]++
			}
			for _, c := range f.peer.Pushed() {
				n["pushed "+string(c.Kind)+" "+c.Body+c.Priority]++
			}
			return n
		}
		want := map[string]int{"missed by the poller": 1, "pushed message lost in the queue": 1, "pushed message not yet told": 1,
			"pushed priority top_priority": 1}
		got := count()
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%q %d times, want %d: %v", k, got[k], v, got)
			}
		}

		res, err = f.engine.Reconcile(f.ctx, "peer")
		if err != nil {
			t.Fatal(err)
		}
		if res.Repaired != 0 || res.Checked != 1 {
			t.Errorf("second pass: %+v, want nothing repaired", res)
		}
		f.tell(t)
		f.send(t)
		if again := count(); !maps.Equal(again, got) {
			t.Errorf("after the second pass %v, before %v", again, got)
		}
		if c := f.conn(t); c.Reconciliation.At == nil || c.Reconciliation.Checked != 1 {
			t.Errorf("the connector's summary: %+v", c.Reconciliation)
		}

		// A peer that cannot be reached ends the pass and backs off.
		f.peer.Set(func(p *connectortest.Peer) { p.Down = true })
		res, err = f.engine.Reconcile(f.ctx, "peer")
		if err != nil || res.Failed != 1 || res.Error == "" {
			t.Errorf("a pass with the peer down: %+v %v", res, err)
		}
		if c := f.conn(t); c.State != connector.StateFailing {
			t.Errorf("state after a failed pass: %s", c.State)
		}
		if _, err := f.engine.SetPaused(f.ctx, "peer", true); err != nil {
			t.Fatal(err)
		}
		if _, err := f.engine.Reconcile(f.ctx, "peer"); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("a paused connector reconciled: %v", err)
		}
		if _, err := f.engine.Reconcile(f.ctx, "nope"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("no connector: %v", err)
		}
	})
}
