package apptest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/mail"
)

// TestMailPreferences (issue 16.6): a requester who turned replies off by
// PATCH /api/v1/me/notifications gets status mails but no reply mails;
// bad input is a 400, on both engines.
func TestMailPreferences(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		ctx := context.Background()
		in.NewUnit(t, "desk", false)
		staffUser, staff := in.NewUser(t, "sam@example.org", "user")
		in.AddMember(t, "desk", staffUser.ID, "member")
		roseUser, _ := in.NewUser(t, "rose@example.org", "user")
		tok, err := in.Admin.CreateToken(ctx, roseUser.ID, client.NewToken{Name: "prefs"})
		if err != nil {
			t.Fatal(err)
		}
		roseToken := tok.Token
		rose := in.Client(roseToken)

		r := in.Do(t, "GET", "/api/v1/me/notifications", roseToken, "", nil)
		if r.Status != 200 || !strings.Contains(string(r.Body), `"muted":[]`) || !strings.Contains(string(r.Body), `"reply"`) {
			t.Fatalf("GET notifications: %d %s", r.Status, r.Body)
		}
		for _, bad := range []string{`{"muted":["alarm"]}`, `{"muted":["nonsense"]}`, `{"muted":"reply"}`, `{}`, `{"muted":[],"x":1}`, `not json`} {
			if r := in.Do(t, "PATCH", "/api/v1/me/notifications", roseToken, "application/json", strings.NewReader(bad)); r.Status != 400 {
				t.Errorf("PATCH %s: %d %s, want 400", bad, r.Status, r.Body)
			}
		}
		r = in.Do(t, "PATCH", "/api/v1/me/notifications", roseToken, "application/json", strings.NewReader(`{"muted":["reply","reply","auto_reply"]}`))
		if r.Status != 200 || !strings.Contains(string(r.Body), `"muted":["auto_reply","reply"]`) {
			t.Fatalf("PATCH notifications: %d %s", r.Status, r.Body)
		}

		tk, err := rose.CreateTicket(ctx, client.NewTicket{Subject: "Printer", Body: "It jams.", Unit: "desk"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := staff.Reply(ctx, tk.ID, "Have you tried turning it off and on?"); err != nil {
			t.Fatal(err)
		}
		status := "waiting_for_reply"
		if _, err := staff.UpdateTicket(ctx, tk.ID, client.TicketUpdate{Status: &status}); err != nil {
			t.Fatal(err)
		}
		if _, err := in.App.Mail.DispatchDue(ctx); err != nil {
			t.Fatal(err)
		}
		all, err := in.App.Mail.Outbox(ctx, "", 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, m := range all {
			if m.To == "rose@example.org" {
				kinds[m.Kind]++
			}
		}
		if kinds[mail.KindReply] != 0 || kinds[mail.KindAutoReply] != 0 || kinds[mail.KindStatus] != 1 {
			t.Errorf("mails to the requester by kind: %v, want only one status mail", kinds)
		}
	})
}
