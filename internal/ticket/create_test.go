package ticket

import (
	"context"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

// TestStoreCreateWrites checks everything a creation writes, on both
// engines (PostgreSQL writes the ticket, its history and its first message
// in one statement): the message with its attachments, the history row,
// the watchers, the search index, the Emit hook's write in the same
// transaction with the new ids; a second mail with the same Message-ID and
// an unknown requester write nothing; CreateMany and CreateTx write the
// same.
func TestStoreCreateWrites(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var events []Event
		w := newWorld(t, d, Options{Emit: func(ctx context.Context, q db.Querier, ev Event) error {
			if _, err := q.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)`, "ev"+strconv.FormatInt(ev.TicketID, 10), ev.Kind); err != nil {
				return err
			}
			events = append(events, ev)
			return nil
		}})
		sum := "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
		tk, err := w.s.Create(ctx, w.adm, NewTicket{Subject: "Printer on fire", Body: "smoke everywhere", BodyHTML: "<p>smoke everywhere</p>",
			ServiceID: w.svc.ID, UnitID: w.svc.UnitID, RequesterID: w.req.UserID, MailID: "<m1@example.org>", Source: FromEmail,
			Watchers: []string{"b@example.org", "a@example.org"}, Priority: Urgent,
			Attachments: []NewAttachment{{Filename: "log.txt", ContentType: "text/plain", Size: 3, SHA256: sum}}})
		if err != nil {
			t.Fatal(err)
		}
		w.sameAsRead(t, tk)
		if tk.Requester.Email != "req@example.org" || tk.Service != "svc" || tk.Unit != "ops" || tk.Status != Assigned ||
			!slices.Equal(tk.WatcherList, []string{"a@example.org", "b@example.org"}) {
			t.Errorf("created %+v", tk)
		}
		ms, err := w.s.Messages(ctx, w.adm, tk.ID)
		if err != nil || len(ms) != 1 {
			t.Fatalf("messages %v %v", ms, err)
		}
		m := ms[0]
		if m.Body != "smoke everywhere" || m.BodyHTML != "<p>smoke everywhere</p>" || m.MailID != "<m1@example.org>" || m.Source != FromEmail ||
			m.Author.ID != w.req.UserID || m.Author.Email != "req@example.org" || m.Internal || !m.CreatedAt.Equal(tk.CreatedAt) ||
			len(m.Attachments) != 1 || m.Attachments[0].Filename != "log.txt" || m.Attachments[0].SHA256 != sum || m.Attachments[0].TicketID != tk.ID {
			t.Errorf("message %+v", m)
		}
		hs := w.history(t, tk.ID)
		if len(hs) != 1 || hs[0].Action != "created" || hs[0].New != "assigned" || hs[0].ActorID != w.adm.UserID ||
			hs[0].Actor != "admin@example.org" || hs[0].Source != FromEmail || !hs[0].At.Equal(tk.CreatedAt) {
			t.Errorf("history %+v", hs)
		}
		if ev := (Event{Kind: "created", TicketID: tk.ID, MessageID: m.ID, ActorID: w.adm.UserID, Source: FromEmail}); len(events) != 1 || !reflect.DeepEqual(events[0], ev) {
			t.Errorf("events %+v", events)
		}
		var kind string
		if err := d.R.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, "ev"+strconv.FormatInt(tk.ID, 10)).Scan(&kind); err != nil || kind != "created" {
			t.Errorf("the Emit hook's write: %q %v", kind, err)
		}
		for _, q := range []string{"printer", "smoke"} {
			if ts, err := w.s.List(ctx, w.adm, Filter{Query: q}); err != nil || len(ts) != 1 || ts[0].ID != tk.ID {
				t.Errorf("search %q: %v %v", q, ts, err)
			}
		}

		count := func() (n int) {
			t.Helper()
			if err := d.R.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM tickets) + (SELECT COUNT(*) FROM messages) + (SELECT COUNT(*) FROM history)`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		n := count()
		// (The same mail again is the mail gateway's to tell: by its
		// Message-ID, sender and unit, in inbound_mail.)
		// An unknown requester: Invalid, nothing written.
		if _, err := w.s.Create(ctx, w.adm, NewTicket{Subject: "nobody", Body: "b", RequesterID: 999999}); kindOf(err) != apperr.Invalid {
			t.Errorf("unknown requester: %v", err)
		}
		// An unknown service: Invalid.
		if _, err := w.s.Create(ctx, w.req, NewTicket{Subject: "s", Body: "b", ServiceID: 999999, UnitID: w.ops.ID}); kindOf(err) != apperr.Invalid {
			t.Errorf("unknown service: %v", err)
		}
		if got := count(); got != n || len(events) != 1 {
			t.Errorf("failed creations wrote %d rows, %d events", got-n, len(events)-1)
		}

		// CreateMany and CreateTx (in the caller's transaction).
		ids, err := w.s.CreateMany(ctx, w.req, []NewTicket{{Subject: "one", Body: "b1"}, {Subject: "two", Body: "b2", UnitID: w.ops.ID}})
		if err != nil || len(ids) != 2 || ids[0] >= ids[1] {
			t.Fatalf("create many: %v %v", ids, err)
		}
		var txID int64
		if err := d.Tx(ctx, func(q db.Querier) error {
			txID, err = w.s.CreateTx(ctx, q, w.req, NewTicket{Subject: "three", Body: "b3", HandlerID: w.triage.ID})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for i, id := range append(ids, txID) {
			got, err := w.s.Get(ctx, w.req, id)
			if err != nil {
				t.Fatal(err)
			}
			ms, _ := w.s.Messages(ctx, w.req, id)
			hs := w.history(t, id)
			if got.Subject != []string{"one", "two", "three"}[i] || len(ms) != 1 || ms[0].Body != []string{"b1", "b2", "b3"}[i] || len(hs) != 1 {
				t.Errorf("ticket %d: %+v, %d messages, %d history rows", id, got, len(ms), len(hs))
			}
		}
		if got, _ := w.s.Get(ctx, w.req, txID); got.Unit != "triage" || got.Status != New {
			t.Errorf("CreateTx routing: %+v", got)
		}
		if len(events) != 4 {
			t.Errorf("%d events", len(events))
		}
	})
}
