package ticket

import (
	"context"
	"slices"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

// The reads for event followers and the mail gateway: messages by id,
// a ticket's first message, watchers, tickets and messages by Message-ID,
// and who takes part in a ticket.
func TestStoreSystemReads(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d, Options{})
		tk := w.create(t, w.req, NewTicket{UnitID: w.ops.ID, Body: "first", MailID: "a1@client.example"})
		reply, err := w.s.AddMessage(ctx, w.staff, tk.ID, NewMessage{Body: "second", MailID: "a2@client.example"})
		if err != nil {
			t.Fatal(err)
		}

		first, err := w.s.FirstMessage(ctx, tk.ID)
		if err != nil || first.Body != "first" || first.MailID != "a1@client.example" || first.Author.ID != w.req.UserID {
			t.Errorf("FirstMessage = %+v, %v", first, err)
		}
		m, err := w.s.Message(ctx, reply.ID)
		if err != nil || m.Body != "second" || m.TicketID != tk.ID || m.Author.ID != w.staff.UserID {
			t.Errorf("Message = %+v, %v", m, err)
		}
		if _, err := w.s.Message(ctx, reply.ID+100); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("Message of no message: %v, want NotFound", err)
		}
		other := w.create(t, w.other, NewTicket{})
		if _, err := w.s.FirstMessage(ctx, other.ID+100); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("FirstMessage of no ticket: %v, want NotFound", err)
		}

		if ids, err := w.s.TicketsByMailID(ctx, "a2@client.example", 5); err != nil || !slices.Equal(ids, []int64{tk.ID}) {
			t.Errorf("TicketsByMailID = %v, %v", ids, err)
		}
		if ids, err := w.s.TicketsByMailID(ctx, "none@client.example", 5); err != nil || len(ids) != 0 {
			t.Errorf("TicketsByMailID of unknown mail = %v, %v", ids, err)
		}
		err = w.d.Tx(ctx, func(q db.Querier) error {
			mid, err := w.s.MessageByMailID(ctx, q, tk.ID, "a2@client.example")
			if err != nil || mid != reply.ID {
				t.Errorf("MessageByMailID = %d, %v; want %d", mid, err, reply.ID)
			}
			if _, err := w.s.MessageByMailID(ctx, q, other.ID, "a2@client.example"); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("MessageByMailID in another ticket: %v, want NotFound", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		if err := w.s.AddWatcher(ctx, w.req, tk.ID, "other@example.org", FromAPI); err != nil {
			t.Fatal(err)
		}
		if ok, err := w.s.Watches(ctx, tk.ID, w.other.UserID); err != nil || !ok {
			t.Errorf("Watches(other) = %v, %v", ok, err)
		}
		if ok, err := w.s.Watches(ctx, tk.ID, w.staff.UserID); err != nil || ok {
			t.Errorf("Watches(staff) = %v, %v", ok, err)
		}

		part := map[string]struct {
			email  string
			userID int64
			want   bool
		}{
			"requester":      {"req@example.org", w.req.UserID, true},
			"watcher":        {"other@example.org", w.other.UserID, true},
			"unit member":    {"staff@example.org", w.staff.UserID, true},
			"ticket handler": {"handler@example.org", w.handler.UserID, true},
			"administrator":  {"admin@example.org", w.adm.UserID, true},
			"stranger":       {"nobody@example.org", 0, false},
			"wrote to it":    {"req@example.org", 0, true},
		}
		for name, c := range part {
			if ok, err := w.s.Participant(ctx, tk.ID, c.email, c.userID); err != nil || ok != c.want {
				t.Errorf("Participant(%s) = %v, %v; want %v", name, ok, err, c.want)
			}
		}
	})
}
