package apptest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
)

// TestEventFeed: GET /api/v1/events shows each caller the changes it may
// see (a requester never an internal note, nobody another unit's
// tickets), pages with next_cursor, refuses bad parameters, and /metrics
// shows the followers' lag.
func TestEventFeed(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		ctx := context.Background()
		in.NewUnit(t, "storage", false)
		in.NewService(t, "object-store", "storage")
		in.NewUnit(t, "compute", false)
		in.NewService(t, "vm", "compute")
		staffU, staff := in.NewUser(t, "sam@uni.example", "user")
		in.AddMember(t, "storage", staffU.ID, "member")
		_, ann := in.NewUser(t, "ann@uni.example", "user")
		_, bob := in.NewUser(t, "bob@uni.example", "user")

		tk, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "Bucket gone", Body: "since noon", Service: "object-store"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := staff.Note(ctx, tk.ID, "internal: a disk died"); err != nil {
			t.Fatal(err)
		}
		if _, err := staff.Reply(ctx, tk.ID, "We are on it"); err != nil {
			t.Fatal(err)
		}
		if _, err := staff.UpdateTicket(ctx, tk.ID, client.TicketUpdate{Status: new("solved")}); err != nil {
			t.Fatal(err)
		}
		other, err := bob.CreateTicket(ctx, client.NewTicket{Subject: "VM slow", Body: "x", Service: "vm"})
		if err != nil {
			t.Fatal(err)
		}

		types := func(c *client.Client, cursor string, limit int) ([]string, string) {
			t.Helper()
			page, err := c.Events(ctx, cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			var ts []string
			for _, ev := range page.Items {
				ts = append(ts, ev.Type)
				if strings.Contains(string(ev.Data), "snap") || strings.Contains(string(ev.Data), "disk died") {
					t.Errorf("event data shows internals: %s", ev.Data)
				}
			}
			return ts, page.NextCursor
		}
		got, _ := types(ann, "", 0)
		if want := "ticket.created ticket.message ticket.solved"; strings.Join(got, " ") != want {
			t.Errorf("the requester sees %v, want %s", got, want)
		}
		got, _ = types(staff, "", 0)
		if want := "ticket.created ticket.note ticket.message ticket.solved"; strings.Join(got, " ") != want {
			t.Errorf("the unit's member sees %v, want %s", got, want)
		}
		got, _ = types(bob, "", 0)
		if want := "ticket.created"; strings.Join(got, " ") != want {
			t.Errorf("bob sees %v, want only his own ticket's creation", got)
		}
		all, _ := types(in.Admin, "", 0)
		if len(all) != 5 {
			t.Errorf("the administrator sees %v, want 5 events", all)
		}
		// Paging: one at a time gives the same, then an empty page whose
		// cursor is past what the caller may not see.
		var paged []string
		cursor := ""
		for range 10 {
			ts, next := types(staff, cursor, 1)
			if len(ts) == 0 {
				cursor = next
				break
			}
			paged = append(paged, ts...)
			cursor = next
		}
		if strings.Join(paged, " ") != "ticket.created ticket.note ticket.message ticket.solved" {
			t.Errorf("paged: %v", paged)
		}
		// After the last cursor, a new change shows.
		if _, err := bob.Reply(ctx, other.ID, "still slow"); err != nil {
			t.Fatal(err)
		}
		if ts, _ := types(bob, cursor, 0); strings.Join(ts, " ") != "ticket.message" {
			t.Errorf("after the cursor bob sees %v", ts)
		}

		for _, q := range []string{"after=abc", "after=-1", "limit=0", "limit=501", "since=1"} {
			r := in.Do(t, "GET", "/api/v1/events?"+q, in.AdminToken, "", nil)
			wantStatus(t, "GET /api/v1/events?"+q, r.Status, 400)
		}
		if r := in.Do(t, "GET", "/api/v1/events", "", "", nil); r.Status != 401 {
			t.Errorf("signed out: %d", r.Status)
		}
		// The followers tell events soon after they are written, not at once.
		var m apptest.Response
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			m = in.Do(t, "GET", "/metrics", "", "", nil)
			if strings.Contains(string(m.Body), `helpmesh_events_total{type="ticket.message"} 2`) || time.Now().After(deadline) {
				break
			}
		}
		for _, f := range []string{"mail", "live", "metrics"} {
			if !strings.Contains(string(m.Body), `helpmesh_event_follower_lag{follower="`+f+`"}`) {
				t.Errorf("/metrics has no lag of the %s follower", f)
			}
		}
		for _, line := range []string{`helpmesh_events_total{type="ticket.created"} 2`, `helpmesh_events_total{type="ticket.note"} 1`, `helpmesh_events_total{type="ticket.message"} 2`} {
			if !strings.Contains(string(m.Body), line) {
				t.Errorf("/metrics does not count events by type: no %s", line)
			}
		}
	})
}
