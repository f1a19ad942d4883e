package apptest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/mail"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// TestQoSWarningAndViolationMailed: a unit with custom QoS durations of a
// few seconds is warned at 75 % of a ticket's response time and told, with
// the ticket handler team, of the violation at 100 %; the mails arrive in
// the real mailboxes (Postfix, Dovecot), once each. A ticket the unit
// answered in time is met and tells nobody.
func TestQoSWarningAndViolationMailed(t *testing.T) {
	mta, local := testenv.MTA(t), testenv.LocalDomain(t)
	imapAddr, users := testenv.IMAP(t)
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e, withEnv(t, map[string]string{"HELPMESH_TIMER_INTERVAL": "100ms", "HELPMESH_QOS_WARNING": "50%"}),
			func(cfg *config.Config) { cfg.SMTPRelay = "smtp://" + mta })
		ctx := context.Background()
		if _, err := in.Admin.CreateUnit(ctx, client.Unit{Slug: "fast", Name: "Fast unit", QoSLevel: "custom",
			QoS: map[string]string{"less_urgent": "6s", "urgent": "6s", "very_urgent": "6s", "top_priority": "6s"}}); err != nil {
			t.Fatal(err)
		}
		in.NewUnit(t, "triage", true)
		in.NewService(t, "compute", "fast")
		staffU, staff := in.NewUser(t, "hmstaff@"+local, "user")
		in.AddMember(t, "fast", staffU.ID, "member")
		handlerU, _ := in.NewUser(t, "hmtest@"+local, "user")
		in.AddMember(t, "triage", handlerU.ID, "member")
		_, ann := in.NewUser(t, "ann@uni.example", "user")

		late, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "Jobs stuck", Body: "help", Service: "compute", Priority: "urgent"})
		if err != nil {
			t.Fatal(err)
		}
		answered, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "Quota", Body: "help", Service: "compute"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := staff.Note(ctx, answered.ID, "on it"); err != nil {
			t.Fatal(err)
		}
		if q := late.QoS; q == nil || q.State != "running" || q.DueAt.Sub(late.CreatedAt) != 6*time.Second || q.WarnAt.Sub(late.CreatedAt) != 3*time.Second ||
			late.OriginalPriority != "urgent" {
			t.Fatalf("a new ticket's clock: %+v, original priority %q", q, late.OriginalPriority)
		}

		// The mails of the late ticket, sent through the relay.
		sent := func(kind string) []mail.OutboxEntry {
			entries, err := in.App.Mail.Outbox(ctx, "", 0, 500)
			if err != nil {
				t.Fatal(err)
			}
			var out []mail.OutboxEntry
			for _, m := range entries {
				if m.Kind == kind {
					if m.TicketID != late.ID {
						t.Errorf("%s mail about ticket %d, which its unit answered", kind, m.TicketID)
					}
					out = append(out, m)
				}
			}
			return out
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(sent(mail.KindQoSViolated)) < 2 || len(sent(mail.KindQoSWarning)) < 1 {
			if time.Now().After(deadline) {
				t.Fatalf("no QoS mails within 30s: warnings %+v, violations %+v", sent(mail.KindQoSWarning), sent(mail.KindQoSViolated))
			}
			time.Sleep(200 * time.Millisecond)
		}
		time.Sleep(time.Second) // ten more scans: nothing more is told
		warnings, violations := sent(mail.KindQoSWarning), sent(mail.KindQoSViolated)
		if len(warnings) != 1 || warnings[0].To != "hmstaff@"+local {
			t.Errorf("warnings: %+v", warnings)
		}
		to := map[string]string{}
		for _, m := range violations {
			to[m.To] = m.MessageID
		}
		if len(violations) != 2 || to["hmstaff@"+local] == "" || to["hmtest@"+local] == "" {
			t.Errorf("violations: %+v", violations)
		}

		// In the mailboxes.
		subject := fmt.Sprintf("QoS [helpmesh #%d] Jobs stuck", late.ID)
		for _, m := range []struct{ account, mid, text string }{
			{"hmstaff", warnings[0].MessageID, "its response time runs out at"},
			{"hmstaff", to["hmstaff@"+local], "ran out at"},
			{"hmtest", to["hmtest@"+local], "The unit and the ticket handler team are told"},
		} {
			if m.mid == "" {
				continue
			}
			raw := string(testenv.FetchDelivered(t, imapAddr, m.account, users[m.account], m.mid))
			if !strings.Contains(raw, subject) || !strings.Contains(strings.ReplaceAll(raw, "=\r\n", ""), m.text) ||
				!strings.Contains(raw, "Auto-Submitted: auto-generated") {
				t.Errorf("mail in %s's mailbox:\n%s", m.account, raw)
			}
		}

		// The clocks as the API shows them; the timer in the history.
		for id, want := range map[int64]string{late.ID: "violated", answered.ID: "met"} {
			tk, err := in.Admin.Ticket(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if tk.QoS == nil || tk.QoS.State != want {
				t.Errorf("ticket %d: clock %+v, want %s", id, tk.QoS, want)
			}
		}
		// The requester's feed has no QoS events; the unit's staff see them.
		count := func(c *client.Client) map[string]int {
			t.Helper()
			page, err := c.Events(ctx, "", 500)
			if err != nil {
				t.Fatal(err)
			}
			n := map[string]int{}
			for _, ev := range page.Items {
				n[ev.Type]++
			}
			return n
		}
		if n := count(ann); n["ticket.qos_warning"] != 0 || n["ticket.qos_violated"] != 0 || n["ticket.created"] != 2 {
			t.Errorf("the requester's feed: %v", n)
		}
		if n := count(staff); n["ticket.qos_warning"] != 1 || n["ticket.qos_violated"] != 1 {
			t.Errorf("the staff's feed: %v", n)
		}
		// /metrics: the QoS events and the backlogs.
		metrics := string(in.Do(t, "GET", "/metrics", "", "", nil).Body)
		for _, want := range []string{`helpmesh_events_total{type="ticket.qos_warning"} 1`, `helpmesh_events_total{type="ticket.qos_violated"} 1`,
			`helpmesh_outbox_backlog{state="pending"}`, `helpmesh_outbox_backlog{state="failed"}`, "helpmesh_jobs_pending "} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		hs, err := in.Admin.History(ctx, late.ID)
		if err != nil {
			t.Fatal(err)
		}
		var did []string
		for _, h := range hs {
			if h.Actor == "timer" {
				did = append(did, h.Action)
			}
		}
		if got := strings.Join(did, " "); got != "qos_warning qos_violated" {
			t.Errorf("the timer did %q", got)
		}
		if hs, err := ann.History(ctx, late.ID); err != nil || len(hs) == 0 {
			t.Errorf("the requester's history: %v %v", hs, err)
		} else {
			for _, h := range hs {
				if strings.HasPrefix(h.Action, "qos_") {
					t.Errorf("the requester sees %s in the history", h.Action)
				}
			}
		}
	})
}

// TestUnitCalendarAndQoSInput: a unit's calendar and QoS are set and read
// through the API; bad time zones, days, hours, holidays and durations
// are a 400 naming what is wrong.
func TestUnitCalendarAndQoSInput(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		ctx := context.Background()
		u, err := in.Admin.CreateUnit(ctx, client.Unit{Slug: "berlin", Name: "Berlin", QoSLevel: "advanced",
			Calendar: &client.Calendar{Timezone: "Europe/Berlin", Days: "Mon-Fri", Hours: "08:00-16:00", Holidays: []string{"2026-12-24"}}})
		if err != nil {
			t.Fatal(err)
		}
		if u.Calendar == nil || u.Calendar.Timezone != "Europe/Berlin" || u.QoS["top_priority"] != "4wh" || u.QoS["urgent"] != "1wd" {
			t.Errorf("created: %+v", u)
		}
		post := func(body string) apptest.Response {
			return in.Do(t, "POST", "/api/v1/units", in.AdminToken, "application/json", strings.NewReader(body))
		}
		for _, c := range []struct{ body, want string }{
			{`{"slug":"a","name":"A","calendar":{"timezone":"Mars/Olympus","days":"Mon-Fri","hours":"09:00-17:00"}}`, "Mars/Olympus"},
			{`{"slug":"a","name":"A","calendar":{"timezone":"UTC","days":"Mon-Funday","hours":"09:00-17:00"}}`, "Funday"},
			{`{"slug":"a","name":"A","calendar":{"timezone":"UTC","days":"Mon-Fri","hours":"17:00-09:00"}}`, "ends before it starts"},
			{`{"slug":"a","name":"A","calendar":{"timezone":"UTC","days":"Mon-Fri","hours":"9-5"}}`, "HH:MM-HH:MM"},
			{`{"slug":"a","name":"A","calendar":{"timezone":"UTC","days":"Mon-Fri","hours":"09:00-17:00","holidays":["25.12.2026"]}}`, "25.12.2026"},
			{`{"slug":"a","name":"A","calendar":{"timezone":"UTC","days":"Mon-Fri","hours":"09:00-17:00","weekend":"Sat"}}`, "weekend"},
			{`{"slug":"a","name":"A","calendar":"Mon-Fri"}`, "calendar"},
			{`{"slug":"a","name":"A","qos_level":"gold"}`, "gold"},
			{`{"slug":"a","name":"A","qos_level":"custom"}`, "qos"},
			{`{"slug":"a","name":"A","qos_level":"custom","qos":{"less_urgent":"5wd","urgent":"soon","very_urgent":"1wd","top_priority":"4wh"}}`, "soon"},
			{`{"slug":"a","name":"A","qos_level":"custom","qos":{"less_urgent":"5wd","urgent":"-3s","very_urgent":"1wd","top_priority":"4wh"}}`, "-3s"},
			{`{"slug":"a","name":"A","qos_level":"custom","qos":{"less_urgent":"5wd","urgent":"1wd","very_urgent":"1wd"}}`, "top_priority"},
			{`{"slug":"a","name":"A","qos_level":"base","qos":{"less_urgent":"1s","urgent":"1s","very_urgent":"1s","top_priority":"1s"}}`, "custom"},
		} {
			r := post(c.body)
			var body struct {
				Error struct{ Message string } `json:"error"`
			}
			_ = json.Unmarshal(r.Body, &body)
			if r.Status != 400 || !strings.Contains(body.Error.Message, c.want) {
				t.Errorf("%s: %d %s, want 400 naming %q", c.body, r.Status, r.Body, c.want)
			}
		}
		// A custom unit; then back to a level of the table, which drops
		// its durations; a calendar of null is the default again.
		r := post(`{"slug":"fast","name":"Fast","qos_level":"custom","qos":{"less_urgent":"5wd","urgent":"2h","very_urgent":"90s","top_priority":"4wh"}}`)
		if r.Status != 201 || !strings.Contains(string(r.Body), `"very_urgent":"1m30s"`) || !strings.Contains(string(r.Body), `"qos_level":"custom"`) {
			t.Errorf("custom unit: %d %s", r.Status, r.Body)
		}
		r = in.Do(t, "PATCH", "/api/v1/units/fast", in.AdminToken, "application/json", strings.NewReader(`{"qos_level":"medium"}`))
		if r.Status != 200 || !strings.Contains(string(r.Body), `"qos":{"less_urgent":"5wd","urgent":"5wd","very_urgent":"1wd","top_priority":"1wd"}`) {
			t.Errorf("back to medium: %d %s", r.Status, r.Body)
		}
		r = in.Do(t, "PATCH", "/api/v1/units/berlin", in.AdminToken, "application/json", strings.NewReader(`{"calendar":null}`))
		if r.Status != 200 || !strings.Contains(string(r.Body), `"calendar":null`) {
			t.Errorf("calendar to the default: %d %s", r.Status, r.Body)
		}
	})
}
