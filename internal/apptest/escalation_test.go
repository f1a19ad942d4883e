package apptest_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
)

// TestUserEscalation: POST /api/v1/tickets/{id}/escalate raises the
// level one by one; level 1 tells the unit, 2 the ticket handler team
// too, 3 the administrators too (the outbox shows it); a fourth is 409,
// a bad reason 400, a watcher 403, a stranger 404, a verified ticket 409.
func TestUserEscalation(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		ctx := context.Background()
		in.NewUnit(t, "triage", true)
		in.NewUnit(t, "storage", false)
		in.NewService(t, "object-store", "storage")
		samU, sam := in.NewUser(t, "sam@uni.example", "user")
		in.AddMember(t, "storage", samU.ID, "member")
		halU, _ := in.NewUser(t, "hal@uni.example", "user")
		in.AddMember(t, "triage", halU.ID, "member")
		in.NewUser(t, "root@uni.example", "admin")
		_, ann := in.NewUser(t, "ann@uni.example", "user")
		_, wat := in.NewUser(t, "wat@uni.example", "user")
		_, eve := in.NewUser(t, "eve@uni.example", "user")
		tk, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "Quota", Body: "x", Service: "object-store"})
		if err != nil {
			t.Fatal(err)
		}
		if tk.EscalationLevel != 0 {
			t.Fatalf("a new ticket has escalation level %d", tk.EscalationLevel)
		}
		if err := ann.AddWatcher(ctx, tk.ID, "wat@uni.example"); err != nil {
			t.Fatal(err)
		}
		if _, err := sam.Note(ctx, tk.ID, "SECRET-NOTE"); err != nil {
			t.Fatal(err)
		}

		// Who may not, and bad reasons.
		if _, err := wat.Escalate(ctx, tk.ID, "me too"); client.StatusOf(err) != 403 {
			t.Errorf("a watcher escalates: %v, want 403", err)
		}
		if _, err := eve.Escalate(ctx, tk.ID, "hello"); client.StatusOf(err) != 404 {
			t.Errorf("a stranger escalates: %v, want 404", err)
		}
		for _, bad := range []string{"", "   ", "bell\x07", strings.Repeat("x", 2001)} {
			if _, err := ann.Escalate(ctx, tk.ID, bad); client.StatusOf(err) != 400 {
				t.Errorf("reason %.20q: %v, want 400", bad, err)
			}
		}
		r := in.Do(t, "POST", "/api/v1/tickets/"+strconv.FormatInt(tk.ID, 10)+"/escalate", in.AdminToken, "application/json", strings.NewReader(`{"reason": 5}`))
		if r.Status != 400 {
			t.Errorf("a reason that is no string: %d, want 400", r.Status)
		}

		// Three levels, each telling more.
		seen := int64(0)
		toldOf := func() []string {
			t.Helper()
			var to []string
			for _, m := range mailsOfKind(t, in, "escalated_by_user", &seen) {
				to = append(to, m.To)
				raw, err := in.App.Mail.OutboxRaw(ctx, m.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(raw), "Nobody answers") || strings.Contains(string(raw), "SECRET-NOTE") {
					t.Errorf("escalation mail to %s:\n%s", m.To, raw)
				}
			}
			slices.Sort(to)
			return to
		}
		toldOf()
		want := [][]string{
			{"sam@uni.example"},
			{"hal@uni.example", "sam@uni.example"},
			{"admin@localhost", "hal@uni.example", "root@uni.example", "sam@uni.example"},
		}
		for level := 1; level <= 3; level++ {
			got, err := ann.Escalate(ctx, tk.ID, "Nobody answers\nsince a week")
			if err != nil {
				t.Fatalf("escalation %d: %v", level, err)
			}
			if got.EscalationLevel != level {
				t.Errorf("escalation %d: level %d", level, got.EscalationLevel)
			}
			told := toldOf()
			if !slices.Equal(told, want[level-1]) {
				t.Errorf("level %d told %q, want %q", level, told, want[level-1])
			}
		}
		if _, err := ann.Escalate(ctx, tk.ID, "again"); client.StatusOf(err) != 409 {
			t.Errorf("a fourth escalation: %v, want 409", err)
		}
		if tk, err := wat.Ticket(ctx, tk.ID); err != nil || tk.EscalationLevel != 3 {
			t.Errorf("the watcher reads level %v: %v", tk, err)
		}
		hs, err := ann.History(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		var did []string
		for _, h := range hs {
			if h.Action == "escalated" {
				did = append(did, h.New+":"+h.Old)
			}
		}
		if got := strings.Join(did, " | "); got != "1:unit | 2:unit, ticket handler team | 3:unit, ticket handler team, administrators" {
			t.Errorf("history: %q", got)
		}

		// Staff escalate too; a verified ticket cannot be.
		tk2, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "Disk", Body: "y", Service: "object-store"})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := sam.Escalate(ctx, tk2.ID, "the vendor is slow"); err != nil || got.EscalationLevel != 1 {
			t.Errorf("staff escalates: %v %v", got, err)
		}
		if _, err := sam.UpdateTicket(ctx, tk2.ID, client.TicketUpdate{Status: new("solved")}); err != nil {
			t.Fatal(err)
		}
		if _, err := ann.UpdateTicket(ctx, tk2.ID, client.TicketUpdate{Status: new("verified")}); err != nil {
			t.Fatal(err)
		}
		if _, err := ann.Escalate(ctx, tk2.ID, "still broken"); client.StatusOf(err) != 409 {
			t.Errorf("escalating a verified ticket: %v, want 409", err)
		}
	})
}

// TestTeamEscalation: a member of the requester's team escalates a team
// ticket of that team; a user ticket of a teammate they do not see (404).
func TestTeamEscalation(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		ctx := context.Background()
		in.NewUnit(t, "storage", false)
		in.NewService(t, "object-store", "storage")
		member := func(email string) *client.Client {
			u, err := in.Admin.CreateUser(ctx, client.NewUser{Email: email, Name: email, Role: "user", Team: "atlas"})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := in.Admin.CreateToken(ctx, u.ID, client.NewToken{Name: "apptest"})
			if err != nil {
				t.Fatal(err)
			}
			return in.Client(tok.Token)
		}
		ann, tim := member("ann@atlas.example"), member("tim@atlas.example")
		teamTk, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "Our jobs fail", Body: "x", Service: "object-store", Kind: "team"})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := tim.Escalate(ctx, teamTk.ID, "the whole team waits"); err != nil || got.EscalationLevel != 1 {
			t.Errorf("a teammate escalates a team ticket: %v %v", got, err)
		}
		userTk, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "My job fails", Body: "y", Service: "object-store"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tim.Escalate(ctx, userTk.ID, "hers is mine"); client.StatusOf(err) != 404 {
			t.Errorf("a teammate escalates a user ticket: %v, want 404", err)
		}
	})
}
