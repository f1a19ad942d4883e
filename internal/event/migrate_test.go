package event

import (
	"context"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

// TestMigrateTicketEvents checks migration 0200 on a database whose mail
// gateway had ticket events still to tell in ticket_events: they move to
// the stream in order, typed, and the follower "mail" starts before them.
func TestMigrateTicketEvents(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		undo := []string{`DROP TABLE events`, `DROP TABLE event_followers`, `DELETE FROM schema_migrations WHERE version = 200`,
			`CREATE TABLE ticket_events (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, created_at TIMESTAMP NOT NULL)`}
		if d.Engine == db.Postgres {
			undo = append([]string{`DROP TABLE event_seq`}, undo...)
		}
		for _, q := range undo {
			if _, err := d.W.ExecContext(ctx, q); err != nil {
				t.Fatal(q, err)
			}
		}
		now := time.Now().UTC()
		for i, p := range []string{
			`{"Kind":"created","TicketID":7,"MessageID":70,"snap":12}`,
			`{"Kind":"message","TicketID":7,"MessageID":71,"Internal":true}`,
			`{"Kind":"message","TicketID":7,"MessageID":72,"Internal":false}`,
			`{"Kind":"changed","TicketID":8,"Changes":[{"field":"status","old":"new","new":"solved"}]}`,
		} {
			if _, err := d.W.ExecContext(ctx, `INSERT INTO ticket_events (id, payload, created_at) VALUES ($1, $2, $3)`, i+1, p, now); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		l := New(d, Options{})
		var got []Event
		l.Follow("mail", func(ctx context.Context, evs []Event) (Commit, error) {
			got = append(got, evs...)
			return nil, nil
		}, FollowOptions{})
		if n, err := l.Step(ctx, "mail"); err != nil || n != 4 {
			t.Fatalf("Step = %d, %v; want the 4 waiting events", n, err)
		}
		want := []struct {
			typ    string
			ticket int64
		}{{TicketCreated, 7}, {TicketNote, 7}, {TicketMessage, 7}, {TicketUpdated, 8}}
		for i, w := range want {
			if got[i].Type != w.typ || got[i].TicketID != w.ticket {
				t.Errorf("event %d: %s on ticket %d, want %s on %d", i, got[i].Type, got[i].TicketID, w.typ, w.ticket)
			}
		}
		var n int
		if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = 200`).Scan(&n); err != nil || n != 1 {
			t.Errorf("migration 0200 recorded %d times (%v)", n, err)
		}
	})
}
