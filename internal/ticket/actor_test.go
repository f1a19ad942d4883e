package ticket

import (
	"context"
	"slices"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

// TestActorsWrite: writers that are not signed-in people write with their
// own rights through the same write paths as everyone, and the history
// names them as what they are.
func TestActorsWrite(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d, Options{})
		ctx := context.Background()
		reply := func(p *auth.Principal, id int64, internal bool, src Source) error {
			_, err := w.s.AddMessage(ctx, p, id, NewMessage{Body: "words", Internal: internal, Source: src})
			return err
		}
		status := func(p *auth.Principal, id int64, st Status, src Source) error {
			_, err := w.s.Update(ctx, p, id, Update{Status: &st, Source: src})
			return err
		}
		expect := func(what string, err error, want apperr.Kind) {
			t.Helper()
			if got := kindOf(err); got != want {
				t.Errorf("%s: %v, want %q", what, err, want)
			}
		}
		lastHistory := func(id int64) HistoryEntry {
			t.Helper()
			hs := w.history(t, id)
			return hs[len(hs)-1]
		}

		// An importer opens tickets for their requesters, in the caller's
		// transaction, and does nothing else.
		importer := auth.Importer("ggus")
		var imported int64
		err := d.Tx(ctx, func(q db.Querier) (err error) {
			imported, err = w.s.CreateTx(ctx, q, importer, NewTicket{Subject: "old ticket", Body: "from GGUS", UnitID: w.ops.ID, RequesterID: w.req.UserID, Source: FromCLI})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if h := lastHistory(imported); h.Action != "created" || h.Actor != "importer ggus" || h.ActorID != 0 || h.Source != FromCLI {
			t.Errorf("import history: %+v", h)
		}
		if tk, err := w.s.Get(ctx, w.req, imported); err != nil || tk.Requester.ID != w.req.UserID {
			t.Errorf("imported ticket for its requester: %+v %v", tk, err)
		}
		_, err = w.s.Create(ctx, importer, NewTicket{Subject: "s", Body: "b"})
		expect("importer without a requester", err, apperr.Invalid)
		expect("importer replies", reply(importer, imported, false, FromCLI), apperr.NotFound)
		expect("importer changes status", status(importer, imported, Solved, FromCLI), apperr.NotFound)

		// The requester by mail: as the requester would, nothing more.
		tk := w.create(t, w.req, NewTicket{UnitID: w.ops.ID})
		otherTk := w.create(t, w.other, NewTicket{UnitID: w.ops.ID})
		byMail := w.req.ByMail()
		if err := reply(byMail, tk.ID, false, FromEmail); err != nil {
			t.Fatal(err)
		}
		if h := lastHistory(tk.ID); h.Action != "replied" || h.Actor != "req@example.org (by mail)" || h.ActorID != w.req.UserID || h.Source != FromEmail {
			t.Errorf("reply by mail: %+v", h)
		}
		expect("requester's mail adds a note", reply(byMail, tk.ID, true, FromEmail), apperr.Forbidden)
		expect("requester's mail writes to another ticket", reply(byMail, otherTk.ID, false, FromEmail), apperr.NotFound)
		prio := TopPriority
		_, err = w.s.Update(ctx, byMail, tk.ID, Update{Priority: &prio, Source: FromEmail})
		expect("requester's mail changes the priority", err, apperr.Forbidden)
		_, err = w.s.Create(ctx, byMail, NewTicket{Subject: "s", Body: "b", RequesterID: w.other.UserID, Source: FromEmail})
		expect("requester's mail opens a ticket for someone else", err, apperr.Forbidden)

		// A participant only mail knows (another unit's admin, copied in):
		// replies and reopens by replying; no notes, no other ticket.
		participant := w.other.ByMail().TakingPart(tk.ID)
		w.setStatus(t, tk.ID, Solved)
		if err := d.Tx(ctx, func(q db.Querier) error {
			if err := w.s.UpdateTx(ctx, q, participant, tk.ID, Update{Status: ptr(Reopened), Source: FromEmail}); err != nil {
				return err
			}
			_, err := w.s.AddMessageTx(ctx, q, participant, tk.ID, NewMessage{Body: "still broken", Source: FromEmail})
			return err
		}); err != nil {
			t.Fatalf("participant reopens by replying: %v", err)
		}
		hs := w.history(t, tk.ID)
		if h := hs[len(hs)-2]; h.Field != "status" || h.New != "reopened" || h.Actor != "other@example.org (by mail)" || h.ActorID != w.other.UserID {
			t.Errorf("reopen by mail: %+v", h)
		}
		expect("participant adds a note", reply(participant, tk.ID, true, FromEmail), apperr.Forbidden)
		expect("participant solves", status(participant, tk.ID, Solved, FromEmail), apperr.Forbidden)
		expect("participant writes to the ticket of an unrelated unit", reply(participant, imported, false, FromEmail), apperr.NotFound)
		for _, h := range w.history(t, tk.ID) {
			if h.Actor == "admin@example.org" || h.Actor == "system" {
				t.Errorf("history names an administrator for a write by mail: %+v", h)
			}
		}

		// The timer closes solved tickets and gives up on those waiting for
		// a reply; nothing else.
		timer := auth.Timer()
		if err := status(timer, tk.ID, Closed, FromSystem); kindOf(err) != apperr.Forbidden {
			t.Errorf("timer closes a reopened ticket: %v", err)
		}
		w.setStatus(t, tk.ID, Solved)
		if err := status(timer, tk.ID, Closed, FromSystem); err != nil {
			t.Fatal(err)
		}
		if h := lastHistory(tk.ID); h.New != "closed" || h.Actor != "timer" || h.ActorID != 0 || h.Source != FromSystem {
			t.Errorf("timer history: %+v", h)
		}
		w.setStatus(t, otherTk.ID, WaitingForReply)
		if err := status(timer, otherTk.ID, Unsolved, FromSystem); err != nil {
			t.Fatal(err)
		}
		_, err = w.s.Update(ctx, timer, otherTk.ID, Update{Priority: &prio, Source: FromSystem})
		expect("timer changes the priority", err, apperr.Forbidden)
		expect("timer replies", reply(timer, otherTk.ID, false, FromSystem), apperr.Forbidden)

		// The system reader reads every ticket and writes nothing.
		system := auth.System("mail gateway")
		if _, err := w.s.Get(ctx, system, imported); err != nil {
			t.Errorf("system reads: %v", err)
		}
		expect("system replies", reply(system, imported, false, FromSystem), apperr.Forbidden)
		expect("system changes status", status(system, imported, Solved, FromSystem), apperr.Forbidden)
		expect("system adds a watcher", w.s.AddWatcher(ctx, system, imported, "x@example.org", FromSystem), apperr.Forbidden)
		_, err = w.s.Relate(ctx, system, imported, otherTk.ID, "duplicate_of", FromSystem)
		expect("system relates", err, apperr.Forbidden)

		// A peer writes messages and status of the tickets linked to it.
		peer := auth.Peer("rt.example", imported)
		if err := reply(peer, imported, true, FromPeer); err != nil {
			t.Errorf("peer notes: %v", err)
		}
		if err := status(peer, imported, Solved, FromPeer); err != nil {
			t.Errorf("peer solves: %v", err)
		}
		if h := lastHistory(imported); h.New != "solved" || h.Actor != "peer rt.example" || h.Source != FromPeer {
			t.Errorf("peer history: %+v", h)
		}
		_, err = w.s.Update(ctx, peer, imported, Update{UnitID: &w.elsewhere.ID, Source: FromPeer})
		expect("peer moves the ticket", err, apperr.Forbidden)
		expect("peer writes to an unlinked ticket", reply(peer, otherTk.ID, false, FromPeer), apperr.NotFound)

		// A follow-up opened by mail is related to the ticket it follows by
		// its requester, by mail only.
		followUp := w.create(t, w.req, NewTicket{UnitID: w.ops.ID})
		if _, err := w.s.Relate(ctx, byMail, followUp.ID, tk.ID, "follow_up_of", FromEmail); err != nil {
			t.Errorf("follow-up by mail: %v", err)
		}
		_, err = w.s.Relate(ctx, byMail, followUp.ID, tk.ID, "duplicate_of", FromEmail)
		expect("requester's mail marks a duplicate", err, apperr.Forbidden)
		_, err = w.s.Relate(ctx, w.req, followUp.ID, tk.ID, "duplicate_of", FromWeb)
		expect("requester relates", err, apperr.Forbidden)

		// Lists show each actor what Get shows it.
		for who, c := range map[string]struct {
			p    *auth.Principal
			want []int64
		}{
			"peer":             {peer, []int64{imported}},
			"mail participant": {participant, []int64{otherTk.ID, tk.ID}},
			"importer":         {importer, nil},
			"timer":            {timer, []int64{imported, tk.ID, otherTk.ID, followUp.ID}},
		} {
			ts, err := w.s.List(ctx, c.p, Filter{})
			if err != nil {
				t.Fatalf("%s lists: %v", who, err)
			}
			var got []int64
			for _, x := range ts {
				got = append(got, x.ID)
			}
			slices.Sort(got)
			slices.Sort(c.want)
			if !slices.Equal(got, c.want) {
				t.Errorf("%s lists %v, want %v", who, got, c.want)
			}
		}
	})
}
