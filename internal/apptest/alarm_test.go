package apptest_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
)

// TestAlarmTickets: a service's alarm_email and alarm_teams are validated
// (400) and shown; a member of an alarm team raises an alarm, which is
// mailed at once to alarm_email (ALARM subject) and told to the unit and
// the ticket handler team; it is paged again while nobody of the unit
// responds, and no more after a staff reply; anyone else's alarm is 403.
func TestAlarmTickets(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e, withEnv(t, map[string]string{"HELPMESH_ALARM_REPAGE": "1s", "HELPMESH_TIMER_INTERVAL": "100ms"}),
			func(cfg *config.Config) { cfg.MailFrom = "helpdesk@helpmesh.test" })
		ctx := context.Background()
		in.NewUnit(t, "triage", true)
		in.NewUnit(t, "storage", false)
		samU, sam := in.NewUser(t, "sam@uni.example", "user")
		in.AddMember(t, "storage", samU.ID, "member")
		halU, _ := in.NewUser(t, "hal@uni.example", "user")
		in.AddMember(t, "triage", halU.ID, "member")
		opsU, err := in.Admin.CreateUser(ctx, client.NewUser{Email: "ops@uni.example", Name: "ops", Team: "atlas-ops"})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := in.Admin.CreateToken(ctx, opsU.ID, client.NewToken{Name: "t"})
		if err != nil {
			t.Fatal(err)
		}
		ops := in.Client(tok.Token)
		_, ann := in.NewUser(t, "ann@uni.example", "user")

		// Bad fields are 400, on create and on change.
		for _, body := range []string{
			`{"slug":"x1","name":"X","unit":"storage","alarm_email":"not an address"}`,
			`{"slug":"x2","name":"X","unit":"storage","alarm_email":"` + "Helpdesk@helpmesh.test" + `"}`,
			`{"slug":"x3","name":"X","unit":"storage","alarm_teams":["Bad Team"]}`,
			`{"slug":"x4","name":"X","unit":"storage","alarm_teams":[""]}`,
			`{"slug":"x5","name":"X","unit":"storage","alarm_teams":"atlas"}`,
			`{"slug":"x6","name":"X","unit":"storage","alarm_email":5}`,
		} {
			if r := in.Do(t, "POST", "/api/v1/services", in.AdminToken, "application/json", strings.NewReader(body)); r.Status != 400 {
				t.Errorf("%s: %d %s, want 400", body, r.Status, r.Body)
			}
		}
		sv, err := in.Admin.CreateService(ctx, client.Service{Slug: "grid", Name: "Grid", Unit: "storage",
			AlarmEmail: " Pager@Site.Example ", AlarmTeams: []string{"atlas-ops", "atlas-ops", "cms.ops"}})
		if err != nil {
			t.Fatal(err)
		}
		if sv.AlarmEmail != "pager@site.example" || !slices.Equal(sv.AlarmTeams, []string{"atlas-ops", "cms.ops"}) {
			t.Errorf("service: %+v", sv)
		}
		if r := in.Do(t, "PATCH", "/api/v1/services/grid", in.AdminToken, "application/json", strings.NewReader(`{"alarm_teams":["ok","NO"]}`)); r.Status != 400 {
			t.Errorf("PATCH bad alarm_teams: %d %s, want 400", r.Status, r.Body)
		}
		if r := in.Do(t, "GET", "/api/v1/services/grid", in.AdminToken, "", nil); !strings.Contains(string(r.Body), `"alarm_teams":["atlas-ops","cms.ops"]`) {
			t.Errorf("GET service: %s", r.Body)
		}

		// Only alarm team members raise alarms: not the unit's staff, not
		// a requester.
		for name, c := range map[string]*client.Client{"staff": sam, "requester": ann} {
			_, err := c.CreateTicket(ctx, client.NewTicket{Subject: "down", Body: "all", Service: "grid", Kind: "alarm"})
			if client.StatusOf(err) != 403 || !strings.Contains(err.Error(), "alarm_teams") {
				t.Errorf("%s raises an alarm: %v, want 403 naming the rule", name, err)
			}
		}

		seen := int64(0)
		alarms := func() []string {
			t.Helper()
			var to []string
			for _, m := range mailsOfKind(t, in, "alarm", &seen) {
				to = append(to, m.To)
				if !strings.HasPrefix(m.Subject, "ALARM ") {
					t.Errorf("alarm subject %q", m.Subject)
				}
			}
			slices.Sort(to)
			return to
		}
		tk, err := ops.CreateTicket(ctx, client.NewTicket{Subject: "SE down", Body: "all transfers fail", Service: "grid", Kind: "alarm"})
		if err != nil {
			t.Fatal(err)
		}
		// At once: the alarm contact, the unit, the ticket handler team.
		want := []string{"hal@uni.example", "pager@site.example", "sam@uni.example"}
		var got []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			got = alarms()
			if len(got) > 0 || time.Now().After(deadline) {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("alarm told %q, want %q", got, want)
		}
		entries, err := in.App.Mail.Outbox(ctx, "", 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range entries {
			if m.Kind == "alarm" && m.To == "pager@site.example" {
				raw, err := in.App.Mail.OutboxRaw(ctx, m.ID)
				if err != nil {
					t.Fatal(err)
				}
				if s := string(raw); !strings.Contains(s, "*** ALARM") || !strings.Contains(s, "all transfers fail") || !strings.Contains(s, "Importance: high") {
					t.Errorf("alarm mail:\n%s", s)
				}
				break
			}
		}

		// Paged again while nobody responds.
		pages := 0
		for deadline := time.Now().Add(15 * time.Second); pages < 2 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if got := alarms(); slices.Contains(got, "pager@site.example") {
				pages++
			}
		}
		if pages < 2 {
			t.Fatalf("re-paged %d times, want 2", pages)
		}
		hs, err := in.Admin.History(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		paged := 0
		for _, h := range hs {
			if h.Action == "paged" {
				paged++
				if h.Actor != "timer" || h.Source != "system" {
					t.Errorf("page by %q from %q", h.Actor, h.Source)
				}
			}
		}
		if paged < 2 {
			t.Errorf("history has %d pages", paged)
		}

		// A staff reply stops it.
		if _, err := sam.Reply(ctx, tk.ID, "looking at it"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // a scan that may have been under way
		alarms()
		time.Sleep(2500 * time.Millisecond)
		if got := alarms(); len(got) != 0 {
			t.Errorf("paged after a staff reply: %q", got)
		}
	})
}
