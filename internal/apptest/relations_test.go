package apptest

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
)

// TestRelationsPropagate: through the API, a master solved solves its
// slave, whose requester is told by mail (the outbox: no relay) through
// the event stream; a parent is on hold until its last child is solved;
// the refusals are clear 4xx; unlinking works from either side.
func TestRelationsPropagate(t *testing.T) {
	Engines(t, func(t *testing.T, e Engine) {
		ctx := context.Background()
		in := Start(t, e)
		in.NewUnit(t, "net", false)
		in.NewUnit(t, "web", false)
		in.NewService(t, "storage", "net")
		in.NewService(t, "portal", "web")
		staff, sc := in.NewUser(t, "sam@example.org", "user")
		in.AddMember(t, "net", staff.ID, "member")
		_, ac := in.NewUser(t, "ann@example.org", "user")
		_, bc := in.NewUser(t, "bob@example.org", "user")
		open := func(c *client.Client, subject, service string) int64 {
			tk, err := c.CreateTicket(ctx, client.NewTicket{Subject: subject, Body: "it fails", Service: service})
			if err != nil {
				t.Fatal(err)
			}
			return tk.ID
		}
		master := open(ac, "storage is down", "storage")
		slave := open(bc, "cannot upload", "storage")
		portal := open(bc, "portal slow", "portal")
		solved := "solved"
		path := func(id int64) string { return "/api/v1/tickets/" + strconv.FormatInt(id, 10) + "/relations" }

		for _, c := range []struct {
			name, body string
			want       int
		}{
			{"not JSON", `{"kind":`, 400},
			{"unknown kind", `{"kind":"sibling","other":1}`, 400},
			{"no other", `{"kind":"related"}`, 400},
			{"itself", `{"kind":"related","other":` + strconv.FormatInt(slave, 10) + `}`, 400},
			{"no such ticket", `{"kind":"related","other":999999}`, 400},
		} {
			r := in.Do(t, "POST", path(slave), in.AdminToken, "application/json", strings.NewReader(c.body))
			if r.Status != c.want || !strings.Contains(string(r.Body), `"error"`) {
				t.Errorf("%s: %d %s, want %d", c.name, r.Status, r.Body, c.want)
			}
		}
		if _, err := sc.Relate(ctx, slave, portal, "related"); statusOf(err) != 400 {
			t.Errorf("relate to a ticket staff cannot see: %v", err)
		}
		if _, err := bc.Relate(ctx, slave, master, "slave_of"); statusOf(err) != 403 {
			t.Errorf("a requester relates to a ticket they cannot see: %v", err)
		}
		if _, err := bc.Relate(ctx, slave, portal, "related"); statusOf(err) != 403 {
			t.Errorf("a requester relates their own tickets: %v", err)
		}

		rel, err := sc.Relate(ctx, slave, master, "slave_of")
		if err != nil || rel.Kind != "slave_of" || rel.Other != master || rel.OtherSubject != "storage is down" {
			t.Fatalf("relate: %+v %v", rel, err)
		}
		if _, err := sc.Relate(ctx, master, slave, "master_of"); statusOf(err) != 409 {
			t.Errorf("the inverse again: %v", err)
		}
		rs, err := sc.Relations(ctx, master)
		if err != nil || len(rs) != 1 || rs[0].ID != rel.ID || rs[0].Kind != "master_of" || rs[0].OtherStatus != "on_hold" {
			t.Errorf("from the master: %+v %v", rs, err)
		}
		// The slave's requester sees the relation only to what they see.
		if rs, err := bc.Relations(ctx, slave); err != nil || len(rs) != 0 {
			t.Errorf("bob sees a relation to ann's ticket: %+v %v", rs, err)
		}

		if _, err := sc.AddMessage(ctx, master, "The storage servers are being replaced.", false, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.UpdateTicket(ctx, master, client.TicketUpdate{Status: &solved}); err != nil {
			t.Fatal(err)
		}
		tk, err := bc.Ticket(ctx, slave)
		if err != nil || tk.Status != "solved" {
			t.Fatalf("slave after its master was solved: %+v %v", tk, err)
		}
		hist, err := bc.History(ctx, slave)
		if err != nil || !slices.ContainsFunc(hist, func(h client.HistoryEntry) bool {
			return h.Actor == "relation" && h.Field == "status" && h.New == "solved" && h.Reason == "solved with its master #"+strconv.FormatInt(master, 10)
		}) {
			t.Errorf("slave's history: %+v %v", hist, err)
		}
		// Bob is told by mail: the master's update and the solution.
		deadline := time.Now().Add(15 * time.Second)
		var kinds []string
		for time.Now().Before(deadline) {
			if _, err := in.App.Mail.DispatchDue(ctx); err != nil {
				t.Fatal(err)
			}
			entries, err := in.App.Mail.Outbox(ctx, "", 0, 500)
			if err != nil {
				t.Fatal(err)
			}
			kinds = kinds[:0]
			for _, m := range entries {
				if m.TicketID == slave && m.To == "bob@example.org" {
					kinds = append(kinds, m.Kind)
				}
			}
			if slices.Contains(kinds, "reply") && slices.Contains(kinds, "status") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !slices.Contains(kinds, "reply") || !slices.Contains(kinds, "status") {
			t.Errorf("mail to the slave's requester: %v, want a reply and a status notice", kinds)
		}

		// Parent and children.
		parent := open(ac, "all sites", "storage")
		c1, c2 := open(ac, "site one", "storage"), open(bc, "site two", "storage")
		for _, c := range []int64{c1, c2} {
			if _, err := sc.Relate(ctx, parent, c, "parent_of"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := sc.Relate(ctx, c1, parent, "parent_of"); statusOf(err) != 409 {
			t.Errorf("a child as its parent's parent: %v", err)
		}
		for i, c := range []int64{c1, c2} {
			if _, err := sc.UpdateTicket(ctx, c, client.TicketUpdate{Status: &solved}); err != nil {
				t.Fatal(err)
			}
			want := []string{"on_hold", "in_progress"}[i]
			if tk, err := sc.Ticket(ctx, parent); err != nil || tk.Status != want {
				t.Errorf("parent after %d children solved: %+v %v, want %s", i+1, tk, err, want)
			}
		}

		// Unlinking: from either side, by staff of both; the rid must be
		// one of the ticket's relations.
		rs, _ = sc.Relations(ctx, c2)
		if err := sc.Unrelate(ctx, slave, rs[0].ID); statusOf(err) != 404 {
			t.Errorf("unlink another ticket's relation: %v", err)
		}
		if err := bc.Unrelate(ctx, c2, rs[0].ID); statusOf(err) != 403 {
			t.Errorf("a requester unlinks: %v", err)
		}
		if r := in.Do(t, "DELETE", path(c2)+"/x", in.AdminToken, "", nil); r.Status != 400 {
			t.Errorf("bad rid: %d", r.Status)
		}
		if err := sc.Unrelate(ctx, c2, rs[0].ID); err != nil {
			t.Fatal(err)
		}
		if rs, _ := sc.Relations(ctx, parent); len(rs) != 1 {
			t.Errorf("parent's relations after unlinking: %+v", rs)
		}
	})
}
