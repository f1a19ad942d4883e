package ticket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// world is a store with people and units:
// req (requester), other (another requester), staff (member of ops),
// handler (member of the handler team triage), admin.
type world struct {
	d                               *db.DB
	s                               *Store
	users                           *user.Store
	units                           *unit.Store
	req, other, staff, handler, adm *auth.Principal
	ops, elsewhere, triage          *unit.Unit
	svc                             *unit.Service
}

func newWorld(t *testing.T, d *db.DB, opts Options) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{d: d, s: NewStore(d, opts), users: user.NewStore(d), units: unit.NewStore(d)}
	var err error
	mk := func(slug string, handler bool) *unit.Unit {
		u, err := w.units.CreateUnit(ctx, unit.Unit{Slug: slug, Name: slug, Handler: handler})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	w.ops, w.elsewhere, w.triage = mk("ops", false), mk("elsewhere", false), mk("triage", true)
	if w.svc, err = w.units.CreateService(ctx, unit.Service{Slug: "svc", Name: "svc", UnitSlug: "ops"}); err != nil {
		t.Fatal(err)
	}
	person := func(email string, role auth.Role, unitID int64, ur auth.UnitRole) *auth.Principal {
		u, err := w.users.Create(ctx, user.NewUser{Email: email, Name: email, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		if unitID != 0 {
			if err := w.units.SetMember(ctx, unitID, u.ID, ur); err != nil {
				t.Fatal(err)
			}
		}
		p, err := w.users.Principal(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	w.req = person("req@example.org", auth.RoleUser, 0, "")
	w.other = person("other@example.org", auth.RoleUser, w.elsewhere.ID, auth.UnitAdmin)
	w.staff = person("staff@example.org", auth.RoleUser, w.ops.ID, auth.UnitMember)
	w.handler = person("handler@example.org", auth.RoleUser, w.triage.ID, auth.UnitMember)
	w.adm = person("admin@example.org", auth.RoleAdmin, 0, "")
	return w
}

func (w *world) create(t *testing.T, p *auth.Principal, nt NewTicket) *Ticket {
	t.Helper()
	if nt.Subject == "" {
		nt.Subject = "subject"
	}
	if nt.Body == "" {
		nt.Body = "body"
	}
	tk, err := w.s.Create(context.Background(), p, nt)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return tk
}

func (w *world) history(t *testing.T, id int64) []HistoryEntry {
	t.Helper()
	hs, err := w.s.History(context.Background(), w.adm, id)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// setStatus puts a ticket into a status directly (test setup only), through
// Tx like every change, so that the read cache sees it.
func (w *world) setStatus(t *testing.T, id int64, st Status) {
	t.Helper()
	if err := w.d.Tx(context.Background(), func(q db.Querier) error {
		_, err := q.ExecContext(context.Background(), `UPDATE tickets SET status = $1 WHERE id = $2`, string(st), id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// sameAsRead checks that a ticket a write returned is what a read of it
// returns, to the byte.
func (w *world) sameAsRead(t *testing.T, written *Ticket) {
	t.Helper()
	read, err := w.s.Get(context.Background(), w.adm, written.ID)
	if err != nil {
		t.Fatal(err)
	}
	cj, _ := json.Marshal(written)
	rj, _ := json.Marshal(read)
	if string(cj) != string(rj) {
		t.Errorf("created %s\nread    %s", cj, rj)
	}
}

func kindOf(err error) apperr.Kind {
	if err == nil {
		return ""
	}
	return apperr.KindOf(err)
}

func TestStoreCreateRouting(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d, Options{})
		ctx := context.Background()
		bySvc := w.create(t, w.req, NewTicket{ServiceID: w.svc.ID, UnitID: w.svc.UnitID, HandlerID: w.triage.ID})
		if bySvc.Status != Assigned || bySvc.Unit != "ops" || bySvc.Service != "svc" || bySvc.Requester.ID != w.req.UserID {
			t.Errorf("by service: %+v", bySvc)
		}
		none := w.create(t, w.req, NewTicket{HandlerID: w.triage.ID})
		if none.Status != New || none.Unit != "triage" || none.Service != "" {
			t.Errorf("no service: %+v", none)
		}
		noHandler := w.create(t, w.req, NewTicket{})
		if noHandler.Status != New || noHandler.UnitID != 0 {
			t.Errorf("no handler team: %+v", noHandler)
		}
		// The handler team sees a ticket with no unit; unit staff do not.
		if _, err := w.s.Get(ctx, w.handler, noHandler.ID); err != nil {
			t.Errorf("handler reads unrouted ticket: %v", err)
		}
		if _, err := w.s.Get(ctx, w.staff, noHandler.ID); kindOf(err) != apperr.NotFound {
			t.Errorf("staff reads unrouted ticket: %v", err)
		}
		if _, err := w.s.Create(ctx, w.req, NewTicket{Subject: "s", Body: "b", UnitID: 999999}); kindOf(err) != apperr.Invalid {
			t.Errorf("unknown unit: %v", err)
		}
		if _, err := w.s.Create(ctx, w.req, NewTicket{Subject: "s", Body: "b", RequesterID: w.other.UserID}); kindOf(err) != apperr.Forbidden {
			t.Errorf("ticket for someone else: %v", err)
		}
		ro := *w.req
		ro.ReadOnly = true
		if _, err := w.s.Create(ctx, &ro, NewTicket{Subject: "s", Body: "b"}); kindOf(err) != apperr.Forbidden {
			t.Errorf("read-only create: %v", err)
		}
		// What Create returns is what a read returns, to the byte.
		for _, created := range []*Ticket{bySvc, none, noHandler} {
			w.sameAsRead(t, created)
		}
		hs := w.history(t, bySvc.ID)
		if len(hs) != 1 || hs[0].Action != "created" || hs[0].New != "assigned" || hs[0].ActorID != w.req.UserID || hs[0].Source != FromAPI {
			t.Errorf("creation history: %+v", hs)
		}
	})
}

// TestStoreTransitions tries every status pair on a fresh ticket: allowed
// moves change the status with one history row; the others change nothing.
func TestStoreTransitions(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d, Options{})
		ctx := context.Background()
		// The requester is an admin, so that every transition, verified
		// included, is the workflow's decision alone.
		for _, from := range Statuses {
			for _, to := range Statuses {
				tk := w.create(t, w.adm, NewTicket{UnitID: w.ops.ID})
				w.setStatus(t, tk.ID, from)
				before := len(w.history(t, tk.ID))
				got, err := w.s.Update(ctx, w.adm, tk.ID, Update{Status: &to})
				after := len(w.history(t, tk.ID))
				switch {
				case from.Frozen():
					if kindOf(err) != apperr.Conflict {
						t.Errorf("%s -> %s: %v, want conflict (frozen)", from, to, err)
					}
				case from == to:
					if err != nil || got.Status != from || after != before {
						t.Errorf("%s -> %s: %v, %d history rows added", from, to, err, after-before)
					}
				case CanMove(from, to):
					if err != nil || got.Status != to || after != before+1 {
						t.Errorf("%s -> %s: %v, status %v, %d history rows added", from, to, err, got, after-before)
					}
					if err == nil && (to == Solved || to == Unsolved) != (got.SolvedAt != nil) && to != Verified && to != Closed {
						t.Errorf("%s -> %s: solved_at %v", from, to, got.SolvedAt)
					}
				default:
					if kindOf(err) != apperr.Invalid {
						t.Errorf("%s -> %s: %v, want invalid", from, to, err)
					}
				}
				if !CanMove(from, to) || from.Frozen() {
					if after != before {
						t.Errorf("%s -> %s refused but wrote %d history rows", from, to, after-before)
					}
					if cur, _ := w.s.Get(ctx, w.adm, tk.ID); cur.Status != from {
						t.Errorf("%s -> %s refused but status is %s", from, to, cur.Status)
					}
				}
			}
		}
	})
}

func TestStoreWorkflowRules(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d, Options{})
		ctx := context.Background()
		st := func(s Status) *Status { return &s }

		// Setting a unit moves new to assigned, with history for both.
		tk := w.create(t, w.req, NewTicket{HandlerID: w.triage.ID})
		got, err := w.s.Update(ctx, w.handler, tk.ID, Update{UnitID: &w.ops.ID})
		if err != nil || got.Status != Assigned || got.Unit != "ops" {
			t.Fatalf("set unit: %+v %v", got, err)
		}
		hs := w.history(t, tk.ID)
		if len(hs) != 3 || hs[1].Field != "unit" || hs[1].Old != "triage" || hs[1].New != "ops" ||
			hs[2].Field != "status" || hs[2].Old != "new" || hs[2].New != "assigned" || hs[2].ActorID != w.handler.UserID {
			t.Errorf("history: %+v", hs)
		}
		// Staff of ops now work it; staff of another unit do not see it.
		if _, err := w.s.Update(ctx, w.staff, tk.ID, Update{Priority: ptr(Urgent)}); err != nil {
			t.Errorf("staff works moved ticket: %v", err)
		}
		if _, err := w.s.Get(ctx, w.other, tk.ID); kindOf(err) != apperr.NotFound {
			t.Errorf("other unit sees it: %v", err)
		}
		// Setting the service moves the ticket to the service's unit.
		tk2 := w.create(t, w.req, NewTicket{HandlerID: w.triage.ID})
		got, err = w.s.Update(ctx, w.adm, tk2.ID, Update{ServiceID: &w.svc.ID, ServiceUnitID: w.svc.UnitID})
		if err != nil || got.Unit != "ops" || got.Service != "svc" || got.Status != Assigned {
			t.Errorf("set service: %+v %v", got, err)
		}

		// Requester reply to waiting_for_reply -> in_progress; staff reply and
		// internal notes do not move it.
		if _, err := w.s.Update(ctx, w.staff, tk.ID, Update{Status: st(WaitingForReply)}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.s.AddMessage(ctx, w.staff, tk.ID, NewMessage{Body: "question"}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.s.AddMessage(ctx, w.staff, tk.ID, NewMessage{Body: "note", Internal: true}); err != nil {
			t.Fatal(err)
		}
		if cur, _ := w.s.Get(ctx, w.req, tk.ID); cur.Status != WaitingForReply {
			t.Errorf("after staff messages: %s", cur.Status)
		}
		if _, err := w.s.AddMessage(ctx, w.req, tk.ID, NewMessage{Body: "note", Internal: true}); kindOf(err) != apperr.Forbidden {
			t.Errorf("requester internal note: %v", err)
		}
		n := len(w.history(t, tk.ID))
		if _, err := w.s.AddMessage(ctx, w.req, tk.ID, NewMessage{Body: "answer", Source: FromEmail}); err != nil {
			t.Fatal(err)
		}
		cur, _ := w.s.Get(ctx, w.req, tk.ID)
		hs = w.history(t, tk.ID)
		if cur.Status != InProgress || len(hs) != n+2 || hs[n].Action != "replied" || hs[n+1].Field != "status" ||
			hs[n+1].New != "in_progress" || hs[n+1].Source != FromEmail {
			t.Errorf("requester reply: %s %+v", cur.Status, hs[n:])
		}

		// The requester may not change fields, nor solve.
		for _, u := range []Update{{Priority: ptr(TopPriority)}, {Status: st(Solved)}, {UnitID: &w.elsewhere.ID}, {Status: st(Verified), Priority: ptr(Urgent)}} {
			if _, err := w.s.Update(ctx, w.req, tk.ID, u); kindOf(err) != apperr.Forbidden {
				t.Errorf("requester update %+v: %v", u, err)
			}
		}
		// Only the requester verifies.
		if _, err := w.s.Update(ctx, w.staff, tk.ID, Update{Status: st(Solved)}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []*auth.Principal{w.staff, w.handler, w.adm} {
			if _, err := w.s.Update(ctx, p, tk.ID, Update{Status: st(Verified)}); kindOf(err) != apperr.Forbidden {
				t.Errorf("%s verifies: %v", p.Email, err)
			}
		}
		if _, err := w.s.Update(ctx, w.req, tk.ID, Update{Status: st(Verified)}); err != nil {
			t.Fatalf("requester verifies: %v", err)
		}
		// Verified is frozen for everyone and everything.
		n = len(w.history(t, tk.ID))
		if _, err := w.s.Update(ctx, w.adm, tk.ID, Update{Priority: ptr(Urgent)}); kindOf(err) != apperr.Conflict {
			t.Errorf("change verified: %v", err)
		}
		if _, err := w.s.Update(ctx, w.req, tk.ID, Update{Status: st(Reopened)}); kindOf(err) != apperr.Conflict {
			t.Errorf("reopen verified: %v", err)
		}
		if _, err := w.s.AddMessage(ctx, w.req, tk.ID, NewMessage{Body: "more"}); kindOf(err) != apperr.Conflict {
			t.Errorf("reply to verified: %v", err)
		}
		if err := w.s.AddWatcher(ctx, w.req, tk.ID, "x@example.org", FromAPI); kindOf(err) != apperr.Conflict {
			t.Errorf("watch verified: %v", err)
		}
		if len(w.history(t, tk.ID)) != n {
			t.Errorf("a frozen ticket got history")
		}
		// Closed is frozen too.
		tk3 := w.create(t, w.req, NewTicket{UnitID: w.ops.ID})
		w.setStatus(t, tk3.ID, Closed)
		if _, err := w.s.AddMessage(ctx, w.staff, tk3.ID, NewMessage{Body: "x", Internal: true}); kindOf(err) != apperr.Conflict {
			t.Errorf("note on closed: %v", err)
		}

		// Assignees must work the unit.
		if _, err := w.s.Update(ctx, w.staff, tk3.ID, Update{AssigneeID: &w.other.UserID}); kindOf(err) != apperr.Conflict {
			// tk3 is closed: conflict first
			t.Errorf("assign on closed: %v", err)
		}
		tk4 := w.create(t, w.req, NewTicket{UnitID: w.ops.ID})
		if _, err := w.s.Update(ctx, w.staff, tk4.ID, Update{AssigneeID: &w.other.UserID}); kindOf(err) != apperr.Invalid {
			t.Errorf("assign to a member of another unit: %v", err)
		}
		for _, p := range []*auth.Principal{w.staff, w.handler, w.adm} {
			got, err := w.s.Update(ctx, w.staff, tk4.ID, Update{AssigneeID: &p.UserID})
			if err != nil || got.Assignee == nil || got.Assignee.ID != p.UserID {
				t.Errorf("assign to %s: %+v %v", p.Email, got, err)
			}
		}
		zero := int64(0)
		if got, err := w.s.Update(ctx, w.staff, tk4.ID, Update{AssigneeID: &zero}); err != nil || got.Assignee != nil {
			t.Errorf("unassign: %+v %v", got, err)
		}
		hs = w.history(t, tk4.ID)
		if last := hs[len(hs)-1]; last.Field != "assignee" || last.Old != "admin@example.org" || last.New != "" {
			t.Errorf("unassign history: %+v", last)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestStoreAtomicHistory: when anything in a change's transaction fails
// (here the event hook, which runs last), neither the change nor its
// history row is kept.
func TestStoreAtomicHistory(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		fail := false
		boom := errors.New("boom")
		w := newWorld(t, d, Options{Emit: func(ctx context.Context, q db.Querier, ev Event) error {
			if fail {
				return boom
			}
			return nil
		}})
		ctx := context.Background()
		tk := w.create(t, w.req, NewTicket{UnitID: w.ops.ID})
		n := len(w.history(t, tk.ID))
		fail = true
		if _, err := w.s.Update(ctx, w.staff, tk.ID, Update{Priority: ptr(VeryUrgent), Status: ptr(InProgress)}); !errors.Is(err, boom) {
			t.Errorf("update: %v", err)
		}
		if _, err := w.s.AddMessage(ctx, w.staff, tk.ID, NewMessage{Body: "lost"}); !errors.Is(err, boom) {
			t.Errorf("message: %v", err)
		}
		if err := w.s.AddWatcher(ctx, w.staff, tk.ID, "w@example.org", FromAPI); !errors.Is(err, boom) {
			t.Errorf("watcher: %v", err)
		}
		if _, err := w.s.Create(ctx, w.req, NewTicket{Subject: "lost ticket", Body: "b"}); !errors.Is(err, boom) {
			t.Errorf("create: %v", err)
		}
		fail = false
		cur, _ := w.s.Get(ctx, w.adm, tk.ID)
		if cur.Priority != LessUrgent || cur.Status != Assigned || len(cur.WatcherList) != 0 {
			t.Errorf("failed changes were kept: %+v", cur)
		}
		if got := len(w.history(t, tk.ID)); got != n {
			t.Errorf("history rows %d, want %d", got, n)
		}
		ms, _ := w.s.Messages(ctx, w.adm, tk.ID)
		if len(ms) != 1 {
			t.Errorf("messages: %d", len(ms))
		}
		if ts, _ := w.s.List(ctx, w.adm, Filter{Query: "lost"}); len(ts) != 0 {
			t.Errorf("a failed create or message is searchable: %+v", ts)
		}
		var count int
		if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM tickets`).Scan(&count); err != nil || count != 1 {
			t.Errorf("tickets: %d %v", count, err)
		}
		// Every successful change has exactly its history rows.
		if _, err := w.s.Update(ctx, w.staff, tk.ID, Update{Priority: ptr(VeryUrgent), Status: ptr(InProgress), Type: ptr(ServiceRequest)}); err != nil {
			t.Fatal(err)
		}
		if got := len(w.history(t, tk.ID)); got != n+3 {
			t.Errorf("3 field changes wrote %d history rows", got-n)
		}
	})
}

func TestStoreWatchersRelationsAttachments(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d, Options{})
		ctx := context.Background()
		tk := w.create(t, w.req, NewTicket{UnitID: w.ops.ID, Watchers: []string{"Colleague@Example.org"}})
		if !slices.Equal(tk.WatcherList, []string{"colleague@example.org"}) {
			t.Errorf("watchers at creation: %v", tk.WatcherList)
		}
		// A watcher with an account sees the ticket, but does not work it.
		if err := w.s.AddWatcher(ctx, w.req, tk.ID, "other@example.org", FromAPI); err != nil {
			t.Fatal(err)
		}
		if err := w.s.AddWatcher(ctx, w.req, tk.ID, "OTHER@example.org", FromAPI); err != nil {
			t.Fatal(err)
		}
		got, err := w.s.Get(ctx, w.other, tk.ID)
		if err != nil || !got.Watching {
			t.Fatalf("watcher reads: %+v %v", got, err)
		}
		if _, err := w.s.AddMessage(ctx, w.other, tk.ID, NewMessage{Body: "x", Internal: true}); kindOf(err) != apperr.Forbidden {
			t.Errorf("watcher's internal note: %v", err)
		}
		hs := w.history(t, tk.ID)
		if c := countAction(hs, "watcher_added"); c != 1 {
			t.Errorf("watcher_added rows: %d (adding twice must write once)", c)
		}
		if err := w.s.AddWatcher(ctx, w.req, tk.ID, "bad address", FromAPI); kindOf(err) != apperr.Invalid {
			t.Errorf("bad watcher: %v", err)
		}
		// Removal: the watcher themselves, the requester, staff; not others.
		if err := w.s.RemoveWatcher(ctx, w.other, tk.ID, "other@example.org", FromAPI); err != nil {
			t.Errorf("watcher removes themselves: %v", err)
		}
		if _, err := w.s.Get(ctx, w.other, tk.ID); kindOf(err) != apperr.NotFound {
			t.Errorf("former watcher reads: %v", err)
		}
		if err := w.s.RemoveWatcher(ctx, w.staff, tk.ID, "colleague@example.org", FromAPI); err != nil {
			t.Errorf("staff removes a watcher: %v", err)
		}

		// Relations.
		tk2 := w.create(t, w.req, NewTicket{UnitID: w.elsewhere.ID})
		if _, err := w.s.Relate(ctx, w.staff, tk.ID, tk2.ID, "related", FromAPI); kindOf(err) != apperr.Invalid {
			t.Errorf("relate to a ticket staff cannot see: %v", err)
		}
		r, err := w.s.Relate(ctx, w.adm, tk.ID, tk2.ID, "duplicate_of", FromAPI)
		if err != nil || r.ID == 0 {
			t.Fatalf("relate: %v", err)
		}
		if _, err := w.s.Relate(ctx, w.adm, tk.ID, tk2.ID, "duplicate_of", FromAPI); kindOf(err) != apperr.Conflict {
			t.Errorf("relate twice: %v", err)
		}
		if _, err := w.s.Relate(ctx, w.adm, tk.ID, tk.ID, "related", FromAPI); kindOf(err) != apperr.Invalid {
			t.Errorf("relate to itself: %v", err)
		}
		if _, err := w.s.Relate(ctx, w.adm, tk.ID, tk2.ID, "sibling", FromAPI); kindOf(err) != apperr.Invalid {
			t.Errorf("unknown kind: %v", err)
		}
		if _, err := w.s.Relate(ctx, w.req, tk.ID, tk2.ID, "related", FromAPI); kindOf(err) != apperr.Forbidden {
			t.Errorf("requester relates: %v", err)
		}
		if rs, err := w.s.Relations(ctx, w.adm, tk.ID); err != nil || len(rs) != 1 || rs[0].OtherID != tk2.ID {
			t.Errorf("relations for admin: %+v %v", rs, err)
		}
		if rs, err := w.s.Relations(ctx, w.staff, tk.ID); err != nil || len(rs) != 0 {
			t.Errorf("staff sees a relation to a ticket they cannot see: %+v %v", rs, err)
		}
		if c := countAction(w.history(t, tk.ID), "related"); c != 1 {
			t.Errorf("related history rows: %d", c)
		}

		// Attachments: on an internal note only staff may fetch them.
		sum := fmt.Sprintf("%064x", 1)
		note, err := w.s.AddMessage(ctx, w.staff, tk.ID, NewMessage{Body: "see log", Internal: true,
			Attachments: []NewAttachment{{Filename: "log.txt", ContentType: "text/plain", Size: 3, SHA256: sum}}})
		if err != nil || len(note.Attachments) != 1 || note.Attachments[0].Filename != "log.txt" || note.Attachments[0].SHA256 != sum {
			t.Fatalf("note with attachment: %+v %v", note, err)
		}
		aid := note.Attachments[0].ID
		if a, err := w.s.Attachment(ctx, w.staff, aid); err != nil || a.TicketID != tk.ID || a.Size != 3 {
			t.Errorf("staff fetches: %+v %v", a, err)
		}
		if _, err := w.s.Attachment(ctx, w.req, aid); kindOf(err) != apperr.NotFound {
			t.Errorf("requester fetches internal attachment: %v", err)
		}
		reply, err := w.s.AddMessage(ctx, w.staff, tk.ID, NewMessage{Body: "see log",
			Attachments: []NewAttachment{{Filename: "pub.txt", ContentType: "text/plain", Size: 3, SHA256: sum}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.s.Attachment(ctx, w.req, reply.Attachments[0].ID); err != nil {
			t.Errorf("requester fetches public attachment: %v", err)
		}
		if _, err := w.s.Attachment(ctx, w.other, reply.Attachments[0].ID); kindOf(err) != apperr.NotFound {
			t.Errorf("stranger fetches attachment: %v", err)
		}
		ms, _ := w.s.Messages(ctx, w.req, tk.ID)
		for _, m := range ms {
			if m.Internal {
				t.Errorf("requester sees internal message %d", m.ID)
			}
		}
		if hs := w.history(t, tk.ID); countAction(hs, "noted") != 1 {
			t.Errorf("noted rows: %d", countAction(hs, "noted"))
		}
		if hs, _ := w.s.History(ctx, w.req, tk.ID); countAction(hs, "noted") != 0 {
			t.Errorf("requester sees noted history")
		}
		// The blob sweep asks which sums are in use.
		unused := fmt.Sprintf("%064x", 2)
		if used, err := w.s.ReferencedBlobs(ctx, []string{sum, unused}); err != nil || !used[sum] || used[unused] {
			t.Errorf("referenced blobs: %v %v", used, err)
		}
	})
}

func countAction(hs []HistoryEntry, action string) int {
	n := 0
	for _, h := range hs {
		if h.Action == action {
			n++
		}
	}
	return n
}

// TestStoreSearchVisibility: a requester's search never matches an internal
// note; staff's does.
func TestStoreSearchVisibility(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d, Options{})
		ctx := context.Background()
		tk := w.create(t, w.req, NewTicket{Subject: "Printer on fire", Body: "It smokes.", UnitID: w.ops.ID})
		other := w.create(t, w.other, NewTicket{Subject: "Another printer", Body: "paper jam", UnitID: w.ops.ID})
		if _, err := w.s.AddMessage(ctx, w.staff, tk.ID, NewMessage{Body: "Root cause: xylophone firmware", Internal: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.s.AddMessage(ctx, w.staff, tk.ID, NewMessage{Body: "Replaced the toner cartridge"}); err != nil {
			t.Fatal(err)
		}
		ids := func(p *auth.Principal, q string) []int64 {
			t.Helper()
			ts, err := w.s.List(ctx, p, Filter{Query: q})
			if err != nil {
				t.Fatalf("search %q: %v", q, err)
			}
			var out []int64
			for _, x := range ts {
				out = append(out, x.ID)
			}
			return out
		}
		for _, c := range []struct {
			p    *auth.Principal
			q    string
			want []int64
		}{
			{w.req, "printer", []int64{tk.ID}},
			{w.req, "PRINTER fire", []int64{tk.ID}},
			{w.req, "smokes", []int64{tk.ID}},
			{w.req, "toner", []int64{tk.ID}},
			{w.req, "xylophone", nil},
			{w.req, "xylophone firmware", nil},
			{w.req, "jam", nil},
			{w.other, "xylophone", nil},
			{w.other, "printer", []int64{other.ID}},
			{w.staff, "xylophone", []int64{tk.ID}},
			{w.staff, "printer", []int64{other.ID, tk.ID}},
			{w.handler, "xylophone", []int64{tk.ID}},
			{w.adm, "xylophone", []int64{tk.ID}},
			{w.adm, `"xylophone" OR "jam"`, nil},
			{w.adm, "nothingmatches", nil},
			{w.adm, "*", nil},
			{w.adm, `'); DROP TABLE tickets; --`, nil},
		} {
			if got := ids(c.p, c.q); !slices.Equal(got, c.want) {
				t.Errorf("%s searches %q: %v, want %v", c.p.Email, c.q, got, c.want)
			}
		}
		// A requester who is also staff of another unit: still no internal
		// notes of tickets outside their units.
		if got := ids(w.other, "xylophone"); got != nil {
			t.Errorf("staff of another unit: %v", got)
		}
	})
}

// TestStorePagination walks the list with a cursor: every ticket once, in
// order, while new tickets keep arriving.
func TestStorePagination(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d, Options{})
		ctx := context.Background()
		var all []int64
		for range 23 {
			all = append(all, w.create(t, w.req, NewTicket{UnitID: w.ops.ID}).ID)
		}
		w.create(t, w.other, NewTicket{UnitID: w.elsewhere.ID}) // invisible to req
		slices.Reverse(all)
		for _, limit := range []int{1, 5, 7, 23, 50} {
			var seen []int64
			before := int64(0)
			for page := 0; ; page++ {
				ts, err := w.s.List(ctx, w.req, Filter{Limit: limit, Before: before})
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range ts {
					seen = append(seen, x.ID)
				}
				if page == 0 {
					w.create(t, w.req, NewTicket{UnitID: w.ops.ID}) // arrives during the walk
				}
				if len(ts) < limit {
					break
				}
				before = ts[len(ts)-1].ID
			}
			if !slices.Equal(seen[:len(all)], all) || len(seen) != len(all) {
				t.Errorf("limit %d: %v, want %v", limit, seen, all)
			}
			all = nil
			ts, _ := w.s.List(ctx, w.req, Filter{Limit: MaxLimit})
			for _, x := range ts {
				all = append(all, x.ID)
			}
		}
		if ts, _ := w.s.List(ctx, w.req, Filter{Limit: 10000}); len(ts) > MaxLimit {
			t.Errorf("limit not capped: %d", len(ts))
		}
		if _, err := w.s.List(ctx, w.req, Filter{Statuses: []Status{"bogus"}}); kindOf(err) != apperr.Invalid {
			t.Errorf("bogus status filter: %v", err)
		}
	})
}

// TestStoreUnicode: text comes back exactly as it went in.
func TestStoreUnicode(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d, Options{})
		ctx := context.Background()
		for _, s := range []string{
			"Emoji 👩🏽‍🔬 🇪🇺 🏳️‍🌈 ok",
			"RTL: مرحبا بالعالم שלום",
			"Combining: e\u0301 a\u0308\u0304 Z\u0335\u0321\u0334",
			"CJK 漢字 かな 한국어",
			"SQL: '; DROP TABLE tickets; -- \" \\ %_",
			"HTML: <script>alert('x')</script> &amp; &lt;",
			"Zero width: a\u200bb\u200dc\ufeff",
			"Astral: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \U0010FFFD",
		} {
			body := s + "\n  second line\twith tab\r\n  "
			tk, err := w.s.Create(ctx, w.req, NewTicket{Subject: s, Body: body, UnitID: w.ops.ID})
			if err != nil {
				t.Errorf("create %q: %v", s, err)
				continue
			}
			got, _ := w.s.Get(ctx, w.req, tk.ID)
			if got.Subject != s {
				t.Errorf("subject %q came back as %q", s, got.Subject)
			}
			ms, _ := w.s.Messages(ctx, w.req, tk.ID)
			if len(ms) != 1 || ms[0].Body != body {
				t.Errorf("body %q came back as %+v", body, ms)
			}
		}
		for _, bad := range []NewTicket{
			{Subject: "a\x00b", Body: "b"},
			{Subject: "s", Body: "a\x00b"},
			{Subject: "s", Body: "bad \xff utf-8"},
			{Subject: "bad \xc3", Body: "b"},
		} {
			if _, err := w.s.Create(ctx, w.req, bad); kindOf(err) != apperr.Invalid {
				t.Errorf("create %q %q: %v, want invalid", bad.Subject, bad.Body, err)
			}
		}
		tk := w.create(t, w.req, NewTicket{})
		if _, err := w.s.AddMessage(ctx, w.req, tk.ID, NewMessage{Body: "x\x00"}); kindOf(err) != apperr.Invalid {
			t.Errorf("NUL message: %v", err)
		}
	})
}

// TestStoreReadCache: Get answers from memory on SQLite, and never with a
// ticket older than the last change committed, whoever made it: the store
// (update, watchers) or any other transaction.
func TestStoreReadCache(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d, Options{})
		ctx := context.Background()
		tk := w.create(t, w.req, NewTicket{UnitID: w.ops.ID})
		get := func(p *auth.Principal) *Ticket {
			t.Helper()
			got, err := w.s.Get(ctx, p, tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		get(w.staff)
		if d.Engine == db.SQLite {
			if _, hit := w.s.cache.get(mustGen(t, d), tk.ID); !hit {
				t.Error("a ticket just read is not in the cache")
			}
		} else if _, ok := d.Generation(); ok {
			t.Error("PostgreSQL has no generation: other nodes write too")
		}
		// A copy per caller: changing one does not change the next.
		got := get(w.staff)
		got.Subject, got.WatcherList = "changed by the caller", append(got.WatcherList, "x@example.org")
		if again := get(w.staff); again.Subject != tk.Subject || len(again.WatcherList) != 0 {
			t.Errorf("the cached ticket was changed through a copy: %+v", again)
		}
		prio := VeryUrgent
		if _, err := w.s.Update(ctx, w.staff, tk.ID, Update{Priority: &prio}); err != nil {
			t.Fatal(err)
		}
		if got := get(w.staff); got.Priority != VeryUrgent {
			t.Errorf("after an update: priority %s", got.Priority)
		}
		if err := w.s.AddWatcher(ctx, w.staff, tk.ID, "other@example.org", FromAPI); err != nil {
			t.Fatal(err)
		}
		if got := get(w.other); !got.Watching || !slices.Equal(got.WatcherList, []string{"other@example.org"}) {
			t.Errorf("the new watcher: watching %v, watchers %v", got.Watching, got.WatcherList)
		}
		if got := get(w.staff); got.Watching {
			t.Error("staff is not a watcher")
		}
		// Any transaction, not only the store's.
		w.setStatus(t, tk.ID, InProgress)
		if got := get(w.staff); got.Status != InProgress {
			t.Errorf("after a change by another transaction: status %s", got.Status)
		}
	})
}

func mustGen(t *testing.T, d *db.DB) uint64 {
	t.Helper()
	g, ok := d.Generation()
	if !ok {
		t.Fatal("no generation on SQLite")
	}
	return g
}

func TestStoreWatcherLimits(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		own := func(_ context.Context, addr string) (bool, error) { return addr == "ops@helpdesk.test", nil }
		w := newWorld(t, d, Options{OwnAddress: own})
		ctx := context.Background()
		addrs := func(n int) []string {
			var as []string
			for i := range n {
				as = append(as, fmt.Sprintf("w%d@example.org", i))
			}
			return as
		}
		// At creation: at most MaxWatchers, none of our own addresses.
		if _, err := w.s.Create(ctx, w.req, NewTicket{Subject: "s", Body: "b", UnitID: w.ops.ID, Watchers: addrs(MaxWatchers + 1)}); kindOf(err) != apperr.Invalid {
			t.Errorf("creation with %d watchers: %v", MaxWatchers+1, err)
		}
		for _, a := range []string{"ops@helpdesk.test", "OPS+t1-forged@helpdesk.test"} {
			if _, err := w.s.Create(ctx, w.req, NewTicket{Subject: "s", Body: "b", Watchers: []string{a}}); kindOf(err) != apperr.Invalid {
				t.Errorf("creation with watcher %s: %v", a, err)
			}
			if _, err := w.s.CreateTx(ctx, w.d.W, w.req, NewTicket{Subject: "s", Body: "b", Watchers: []string{a}}); kindOf(err) != apperr.Invalid {
				t.Errorf("creation in a transaction with watcher %s: %v", a, err)
			}
		}
		tk := w.create(t, w.req, NewTicket{UnitID: w.ops.ID, Watchers: addrs(MaxWatchers - 1)})
		for _, a := range []string{"ops@helpdesk.test", "ops+t1-x@helpdesk.test"} {
			if err := w.s.AddWatcher(ctx, w.req, tk.ID, a, FromAPI); kindOf(err) != apperr.Invalid {
				t.Errorf("own address %s as a watcher: %v", a, err)
			}
		}
		// The cap counts the ticket's total, on every path.
		if err := w.s.AddWatcher(ctx, w.req, tk.ID, "last@example.org", FromAPI); err != nil {
			t.Fatalf("watcher number %d: %v", MaxWatchers, err)
		}
		if err := w.s.AddWatcher(ctx, w.req, tk.ID, "w0@example.org", FromAPI); err != nil {
			t.Errorf("a watcher again at the cap: %v", err)
		}
		if err := w.s.AddWatcher(ctx, w.req, tk.ID, "one-more@example.org", FromAPI); kindOf(err) != apperr.Invalid {
			t.Errorf("watcher number %d: %v", MaxWatchers+1, err)
		}
		got, err := w.s.Get(ctx, w.adm, tk.ID)
		if err != nil || len(got.WatcherList) != MaxWatchers {
			t.Errorf("watchers after the refusal: %d %v", len(got.WatcherList), err)
		}
	})
}

// TestStoreNoteKeepsPublicUpdatedAt: an internal note moves updated_at for
// staff only; the requester sees when the ticket last changed publicly.
func TestStoreNoteKeepsPublicUpdatedAt(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
		w := newWorld(t, d, Options{Now: func() time.Time { return now }})
		ctx := context.Background()
		tk := w.create(t, w.req, NewTicket{UnitID: w.ops.ID})
		now = now.Add(time.Hour)
		if _, err := w.s.AddMessage(ctx, w.staff, tk.ID, NewMessage{Body: "staff only", Internal: true}); err != nil {
			t.Fatal(err)
		}
		seen := func(p *auth.Principal) (time.Time, time.Time) {
			got, err := w.s.Get(ctx, p, tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			ts, err := w.s.List(ctx, p, Filter{})
			if err != nil || len(ts) == 0 {
				t.Fatalf("list: %v %v", ts, err)
			}
			return got.UpdatedAt, ts[0].UpdatedAt
		}
		if g, l := seen(w.req); !g.Equal(tk.CreatedAt) || !l.Equal(tk.CreatedAt) {
			t.Errorf("the requester sees the note's time: get %v, list %v, want %v", g, l, tk.CreatedAt)
		}
		if g, l := seen(w.staff); !g.Equal(now) || !l.Equal(now) {
			t.Errorf("staff see: get %v, list %v, want %v", g, l, now)
		}
		now = now.Add(time.Hour)
		if _, err := w.s.AddMessage(ctx, w.staff, tk.ID, NewMessage{Body: "public"}); err != nil {
			t.Fatal(err)
		}
		if g, _ := seen(w.req); !g.Equal(now) {
			t.Errorf("after a public reply the requester sees %v, want %v", g, now)
		}
	})
}
