package ticket

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/event"
)

// relationsOf lists the relations of ticket id as the admin sees them,
// as "kind #other".
func (w *world) relationsOf(t *testing.T, id int64) []string {
	t.Helper()
	rs, err := w.s.Relations(context.Background(), w.adm, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.Kind+" #"+itoa(r.OtherID))
	}
	return out
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

func (w *world) statusOf(t *testing.T, id int64) Status {
	t.Helper()
	tk, err := w.s.Get(context.Background(), w.adm, id)
	if err != nil {
		t.Fatal(err)
	}
	return tk.Status
}

// reasons lists the history of ticket id written by the relation actor, as
// "action field new: reason".
func (w *world) reasons(t *testing.T, id int64) []string {
	t.Helper()
	var out []string
	for _, h := range w.history(t, id) {
		if h.Actor != "relation" {
			continue
		}
		if h.Reason == "" {
			t.Errorf("relation history without a reason: %+v", h)
		}
		if h.Action == "changed" {
			out = append(out, h.Field+" "+h.New+": "+h.Reason)
		} else {
			out = append(out, h.Action+": "+h.Reason)
		}
	}
	return out
}

func TestRelationRules(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d, Options{})
		ctx := context.Background()
		mk := func() int64 { return w.create(t, w.req, NewTicket{UnitID: w.ops.ID}).ID }
		a, b, c, dd := mk(), mk(), mk(), mk()
		relate := func(id, other int64, kind string) error {
			_, err := w.s.Relate(ctx, w.staff, id, other, kind, FromAPI)
			return err
		}
		if err := relate(a, b, KindMasterOf); err != nil {
			t.Fatal(err)
		}
		// One relation, seen from both tickets.
		if got := w.relationsOf(t, a); !slices.Equal(got, []string{"master_of #" + itoa(b)}) {
			t.Errorf("master's relations: %v", got)
		}
		if got := w.relationsOf(t, b); !slices.Equal(got, []string{"slave_of #" + itoa(a)}) {
			t.Errorf("slave's relations: %v", got)
		}
		if st := w.statusOf(t, b); st != OnHold {
			t.Errorf("slave is %s, want on_hold", st)
		}
		if got := w.reasons(t, b); !slices.Equal(got, []string{"status on_hold: on hold as the slave of master #" + itoa(a)}) {
			t.Errorf("slave's history by the relation: %v", got)
		}
		for _, c := range []struct {
			name        string
			id, other   int64
			kind        string
			want        apperr.Kind
			wantMessage string
		}{
			{"the inverse again", b, a, KindSlaveOf, apperr.Conflict, "related already"},
			{"another kind between the same tickets", b, a, KindRelated, apperr.Conflict, "related already"},
			{"a slave as a master", b, c, KindMasterOf, apperr.Conflict, "a slave cannot be a master"},
			{"a master as a slave", c, a, KindMasterOf, apperr.Conflict, "a master cannot be a slave"},
			{"a slave of a slave", c, b, KindSlaveOf, apperr.Conflict, "a slave cannot be a master"},
			{"a second master", dd, b, KindMasterOf, apperr.Conflict, "already the slave of"},
			{"itself", c, c, KindRelated, apperr.Invalid, "itself"},
			{"unknown kind", c, dd, "sibling_of", apperr.Invalid, "not one of"},
		} {
			err := relate(c.id, c.other, c.kind)
			if kindOf(err) != c.want || !strings.Contains(err.Error(), c.wantMessage) {
				t.Errorf("%s: %v, want %s (%q)", c.name, err, c.want, c.wantMessage)
			}
		}

		// Parent and children: no second parent, no cycle.
		p, c1, c2, x := mk(), mk(), mk(), mk()
		for _, ch := range []int64{c1, c2} {
			if err := relate(ch, p, KindChildOf); err != nil {
				t.Fatal(err)
			}
		}
		if st := w.statusOf(t, p); st != OnHold {
			t.Errorf("parent with open children is %s, want on_hold", st)
		}
		if err := relate(x, c1, KindParentOf); kindOf(err) != apperr.Conflict || !strings.Contains(err.Error(), "already the child of") {
			t.Errorf("second parent: %v", err)
		}
		if err := relate(c1, x, KindParentOf); err != nil {
			t.Fatal(err)
		}
		if err := relate(x, p, KindParentOf); kindOf(err) != apperr.Conflict || !strings.Contains(err.Error(), "cycle") {
			t.Errorf("cycle p > c1 > x > p: %v", err)
		}
		if got := w.relationsOf(t, c1); !slices.Equal(got, []string{"child_of #" + itoa(p), "parent_of #" + itoa(x)}) {
			t.Errorf("middle ticket's relations: %v", got)
		}

		// related is symmetric.
		if err := relate(dd, c, KindRelated); err != nil {
			t.Fatal(err)
		}
		if got := w.relationsOf(t, c); !slices.Equal(got, []string{"related #" + itoa(dd)}) {
			t.Errorf("related from the other side: %v", got)
		}
		if err := relate(c, dd, KindRelated); kindOf(err) != apperr.Conflict {
			t.Errorf("related twice, the other way round: %v", err)
		}

		// Only open tickets become master and slave.
		solved := mk()
		w.setStatus(t, solved, Solved)
		if err := relate(solved, mk(), KindMasterOf); kindOf(err) != apperr.Conflict || !strings.Contains(err.Error(), "solved") {
			t.Errorf("a solved master: %v", err)
		}

		// Rights: staff of both tickets. The staff member's own ticket in
		// another unit is visible to them, but they do not work it.
		own := w.create(t, w.staff, NewTicket{UnitID: w.elsewhere.ID}).ID
		if err := relate(c, own, KindRelated); kindOf(err) != apperr.Forbidden {
			t.Errorf("relate to a ticket staff does not work: %v", err)
		}
		if _, err := w.s.Relate(ctx, w.req, a, c, KindRelated, FromAPI); kindOf(err) != apperr.Forbidden {
			t.Errorf("requester relates: %v", err)
		}
		// The requester sees the relations between their own tickets,
		// not those to a ticket they cannot see.
		if err := relate(own, mk(), KindRelated); kindOf(err) != apperr.Forbidden {
			t.Errorf("relate from a ticket staff does not work: %v", err)
		}
		if _, err := w.s.Relate(ctx, w.adm, own, a, KindRelated, FromAPI); err != nil {
			t.Fatal(err)
		}
		rs, err := w.s.Relations(ctx, w.req, a)
		if err != nil || len(rs) != 1 || rs[0].OtherID != b {
			t.Errorf("requester's view of the master's relations: %+v %v", rs, err)
		}

		// Unlinking, from either side: the slave's hold ends.
		rs, _ = w.s.Relations(ctx, w.adm, b)
		if err := w.s.Unrelate(ctx, w.req, b, rs[0].ID, FromAPI); kindOf(err) != apperr.Forbidden {
			t.Errorf("requester unlinks: %v", err)
		}
		if err := w.s.Unrelate(ctx, w.staff, b, rs[0].ID+1000, FromAPI); kindOf(err) != apperr.NotFound {
			t.Errorf("unknown relation: %v", err)
		}
		if err := w.s.Unrelate(ctx, w.staff, b, rs[0].ID, FromAPI); err != nil {
			t.Fatal(err)
		}
		if st := w.statusOf(t, b); st != InProgress {
			t.Errorf("released slave is %s, want in_progress", st)
		}
		if got := w.relationsOf(t, a); len(got) != 1 { // related to own
			t.Errorf("master's relations after unlinking: %v", got)
		}
		if c := countAction(w.history(t, a), "unrelated"); c != 1 {
			t.Errorf("unrelated history rows on the master: %d", c)
		}
	})
}

func TestRelationPropagation(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		var mu sync.Mutex
		var events []Event
		w := newWorld(t, d, Options{Emit: func(_ context.Context, _ db.Querier, ev Event) error {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev)
			return nil
		}})
		ctx := context.Background()
		typesOf := func(id int64) []string {
			mu.Lock()
			defer mu.Unlock()
			var out []string
			for _, ev := range events {
				if ev.TicketID == id && ev.ActorID == 0 {
					out = append(out, ev.Type())
				}
			}
			return out
		}
		mk := func(p *NewTicket) int64 { return w.create(t, w.req, *p).ID }
		master := mk(&NewTicket{UnitID: w.ops.ID, Subject: "storage down"})
		slave := w.create(t, w.other, NewTicket{UnitID: w.ops.ID, Subject: "cannot write"}).ID
		if _, err := w.s.Relate(ctx, w.staff, slave, master, KindSlaveOf, FromAPI); err != nil {
			t.Fatal(err)
		}
		// The staff's public updates reach the slave; the requester's
		// replies and internal notes stay on the master.
		for _, m := range []struct {
			by       string
			internal bool
			body     string
		}{{"staff", false, "we are restarting the servers"}, {"req", false, "thanks, waiting"}, {"staff", true, "disk 3 is dead"}} {
			p := w.staff
			if m.by == "req" {
				p = w.req
			}
			if _, err := w.s.AddMessage(ctx, p, master, NewMessage{Body: m.body, Internal: m.internal}); err != nil {
				t.Fatal(err)
			}
		}
		ms, err := w.s.Messages(ctx, w.adm, slave)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 2 || ms[1].Internal || ms[1].Author.ID != w.staff.UserID ||
			ms[1].Body != "Update from master ticket #"+itoa(master)+":\n\nwe are restarting the servers" {
			t.Fatalf("slave's thread: %+v", ms)
		}
		// A second slave, linked after the solution was written, gets it
		// when the master is solved; the first had it already.
		late := w.create(t, w.other, NewTicket{UnitID: w.ops.ID}).ID
		if _, err := w.s.Relate(ctx, w.staff, master, late, KindMasterOf, FromAPI); err != nil {
			t.Fatal(err)
		}
		solved := Solved
		if _, err := w.s.Update(ctx, w.staff, master, Update{Status: &solved}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []int64{slave, late} {
			if st := w.statusOf(t, id); st != Solved {
				t.Errorf("slave %d is %s, want solved", id, st)
			}
			want := "status solved: solved with its master #" + itoa(master)
			if got := w.reasons(t, id); !slices.Contains(got, want) {
				t.Errorf("slave %d history by the relation: %v, want %q", id, got, want)
			}
			// The slave's requester is told as by any solved ticket: the
			// event is in the stream, by the relation (no person).
			if got := typesOf(id); !slices.Contains(got, event.TicketSolved) {
				t.Errorf("slave %d events by the relation: %v", id, got)
			}
		}
		ms, _ = w.s.Messages(ctx, w.adm, slave)
		if len(ms) != 2 {
			t.Errorf("slave that had the solution got it again: %d messages", len(ms))
		}
		ms, _ = w.s.Messages(ctx, w.adm, late)
		if len(ms) != 2 || !strings.Contains(ms[1].Body, "Solved with its master ticket #"+itoa(master)) || !strings.Contains(ms[1].Body, "restarting the servers") {
			t.Errorf("late slave's thread: %+v", ms)
		}
		if got := typesOf(late); !slices.Equal(got, []string{event.TicketUpdated, event.TicketMessage, event.TicketSolved}) {
			t.Errorf("late slave's events by the relation: %v", got)
		}

		// Parent and children: each child's solution noted in the parent,
		// which goes back to in_progress with the last.
		parent := mk(&NewTicket{UnitID: w.ops.ID, Subject: "all sites"})
		c1 := mk(&NewTicket{UnitID: w.ops.ID, Subject: "site one"})
		c2 := mk(&NewTicket{UnitID: w.ops.ID, Subject: "site two"})
		for _, c := range []int64{c1, c2} {
			if _, err := w.s.Relate(ctx, w.staff, parent, c, KindParentOf, FromAPI); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.s.AddMessage(ctx, w.staff, c1, NewMessage{Body: "site one patched"}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.s.Update(ctx, w.staff, c1, Update{Status: &solved}); err != nil {
			t.Fatal(err)
		}
		if st := w.statusOf(t, parent); st != OnHold {
			t.Errorf("parent with one open child is %s", st)
		}
		if _, err := w.s.Update(ctx, w.staff, c2, Update{Status: &solved}); err != nil {
			t.Fatal(err)
		}
		if st := w.statusOf(t, parent); st != InProgress {
			t.Errorf("parent after its last child is %s, want in_progress", st)
		}
		ms, _ = w.s.Messages(ctx, w.adm, parent)
		var notes []string
		for _, m := range ms {
			if m.Internal {
				notes = append(notes, m.Body)
			}
		}
		if len(notes) != 2 || !strings.Contains(notes[0], "#"+itoa(c1)) || !strings.Contains(notes[0], "site one patched") || !strings.Contains(notes[1], "#"+itoa(c2)) {
			t.Errorf("parent's notes: %q", notes)
		}
		if rm, _ := w.s.Messages(ctx, w.req, parent); len(rm) != 1 {
			t.Errorf("the parent's requester sees the children's notes: %d messages", len(rm))
		}
		want := "status in_progress: its last open child #" + itoa(c2) + " is solved"
		if got := w.reasons(t, parent); !slices.Contains(got, want) {
			t.Errorf("parent's history by the relation: %v, want %q", got, want)
		}
		// A child reopened puts the parent on hold again.
		reopened := Reopened
		if _, err := w.s.Update(ctx, w.staff, c2, Update{Status: &reopened}); err != nil {
			t.Fatal(err)
		}
		if st := w.statusOf(t, parent); st != OnHold {
			t.Errorf("parent after a child was reopened is %s, want on_hold", st)
		}
		// A slave reopened stays reopened: its master is solved.
		if _, err := w.s.Update(ctx, w.staff, slave, Update{Status: &reopened}); err != nil {
			t.Fatal(err)
		}
		if st := w.statusOf(t, master); st != Solved {
			t.Errorf("master after a slave was reopened is %s", st)
		}
	})
}

// TestMigrateRelations checks migration 0800 on relations stored before
// it: inverses are turned around to the master's and parent's side,
// related gets the lower id first, and a row that duplicates another
// once turned goes.
func TestMigrateRelations(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d, Options{})
		ctx := context.Background()
		var ids []int64
		for range 4 {
			ids = append(ids, w.create(t, w.req, NewTicket{UnitID: w.ops.ID}).ID)
		}
		for _, q := range []string{`DROP INDEX ticket_relations_other`, `ALTER TABLE ticket_relations DROP COLUMN since_message`,
			`ALTER TABLE history DROP COLUMN reason`, `DELETE FROM schema_migrations WHERE version = 800`} {
			if _, err := d.W.ExecContext(ctx, q); err != nil {
				t.Fatal(q, err)
			}
		}
		a, b, c, e := ids[0], ids[1], ids[2], ids[3]
		for _, r := range []struct {
			from, to int64
			kind     string
		}{{b, a, KindSlaveOf}, {a, b, KindMasterOf}, {c, a, KindChildOf}, {e, c, KindRelated}, {a, e, KindDuplicate}} {
			if _, err := d.W.ExecContext(ctx, `INSERT INTO ticket_relations (ticket_id, other_id, kind, created_at) VALUES ($1, $2, $3, $4)`,
				r.from, r.to, r.kind, time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := w.relationsOf(t, a), []string{"master_of #" + itoa(b), "duplicate_of #" + itoa(e), "parent_of #" + itoa(c)}; !slices.Equal(got, want) {
			t.Errorf("relations of a after the migration: %v, want %v", got, want)
		}
		if got := w.relationsOf(t, c); !slices.Equal(got, []string{"child_of #" + itoa(a), "related #" + itoa(e)}) {
			t.Errorf("relations of c after the migration: %v", got)
		}
	})
}

// TestRelationManySlaves: one master with 50 slaves (a GGUS outage with
// many reports) is solved in one transaction that solves every slave; the
// time it takes is logged.
func TestRelationManySlaves(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d, Options{})
		ctx := context.Background()
		master := w.create(t, w.req, NewTicket{UnitID: w.ops.ID}).ID
		const n = 50
		slaves := make([]int64, n)
		for i := range slaves {
			slaves[i] = w.create(t, w.req, NewTicket{UnitID: w.ops.ID}).ID
			if _, err := w.s.Relate(ctx, w.staff, slaves[i], master, KindSlaveOf, FromAPI); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		if _, err := w.s.AddMessage(ctx, w.staff, master, NewMessage{Body: "fixed"}); err != nil {
			t.Fatal(err)
		}
		replied := time.Since(start)
		solved := Solved
		start = time.Now()
		if _, err := w.s.Update(ctx, w.staff, master, Update{Status: &solved}); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: a public reply copied to %d slaves in %v; solving the master with them in %v", d.Engine, n, replied, time.Since(start))
		for _, id := range slaves {
			if st := w.statusOf(t, id); st != Solved {
				t.Fatalf("slave %d is %s", id, st)
			}
		}
	})
}
