package apptest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
)

// withEnv loads the lifecycle's variables from env as `helpmesh serve`
// would.
func withEnv(t *testing.T, env map[string]string) func(cfg *config.Config) {
	loaded, err := config.Load(nil, nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return func(cfg *config.Config) { cfg.Lifecycle = loaded.Lifecycle }
}

// TestLifecycleTimers: with plain durations, a solved ticket closes by
// itself once, with the timer in its history; a ticket waiting for its
// requester gets its reminders (mailed to the requester), then becomes
// unsolved, then closes; staff cannot close a ticket by hand.
func TestLifecycleTimers(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e, withEnv(t, map[string]string{"HELPMESH_CLOSE_AFTER": "2s",
			"HELPMESH_WAITING_REMINDERS": "1s,3s", "HELPMESH_WAITING_UNSOLVED": "5s", "HELPMESH_TIMER_INTERVAL": "100ms"}))
		ctx := context.Background()
		in.NewUnit(t, "storage", false)
		in.NewService(t, "object-store", "storage")
		staffU, staff := in.NewUser(t, "sam@uni.example", "user")
		in.AddMember(t, "storage", staffU.ID, "member")
		_, ann := in.NewUser(t, "ann@uni.example", "user")

		open := func(subject string) *client.Ticket {
			t.Helper()
			tk, err := ann.CreateTicket(ctx, client.NewTicket{Subject: subject, Body: "help", Service: "object-store"})
			if err != nil {
				t.Fatal(err)
			}
			return tk
		}
		set := func(id int64, status string) {
			t.Helper()
			if _, err := staff.UpdateTicket(ctx, id, client.TicketUpdate{Status: &status}); err != nil {
				t.Fatalf("%d to %s: %v", id, status, err)
			}
		}
		solved, waiting, answered := open("Bucket gone"), open("Quota"), open("Slow")
		set(solved.ID, "solved")
		set(waiting.ID, "waiting_for_reply")
		set(answered.ID, "waiting_for_reply")
		if _, err := ann.Reply(ctx, answered.ID, "here is the log"); err != nil { // back to in_progress: no timer
			t.Fatal(err)
		}

		// Nobody closes by hand: staff, the administrator, the requester.
		closed := "closed"
		for name, c := range map[string]*client.Client{"staff": staff, "admin": in.Admin, "requester": ann} {
			_, err := c.UpdateTicket(ctx, solved.ID, client.TicketUpdate{Status: &closed})
			if s := client.StatusOf(err); s < 400 || s >= 500 {
				t.Errorf("%s closes by hand: %v", name, err)
			}
			if name == "staff" && (err == nil || !strings.Contains(err.Error(), "only the lifecycle timer closes")) {
				t.Errorf("staff closes by hand: %v, want a clear message", err)
			}
		}

		waitFor := func(id int64, status string, within time.Duration) {
			t.Helper()
			deadline := time.Now().Add(within)
			for {
				tk, err := in.Admin.Ticket(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if tk.Status == status {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("ticket %d is %s after %s, want %s", id, tk.Status, within, status)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		waitFor(solved.ID, "closed", 20*time.Second)
		waitFor(waiting.ID, "unsolved", 20*time.Second)
		waitFor(waiting.ID, "closed", 20*time.Second)
		time.Sleep(500 * time.Millisecond) // a few more scans: nothing more happens

		// The history: the timer did each thing once.
		timerDid := func(id int64) []string {
			t.Helper()
			hs, err := in.Admin.History(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var did []string
			for _, h := range hs {
				if h.Actor == "timer" {
					if h.Source != "system" {
						t.Errorf("ticket %d: the timer's entry has source %q", id, h.Source)
					}
					did = append(did, h.Action+":"+h.Field+":"+h.New)
				}
			}
			return did
		}
		if got, want := strings.Join(timerDid(solved.ID), " "), "changed:status:closed"; got != want {
			t.Errorf("solved ticket: the timer did %q, want %q", got, want)
		}
		if got, want := strings.Join(timerDid(waiting.ID), " "), "reminded::1 reminded::2 changed:status:unsolved changed:status:closed"; got != want {
			t.Errorf("waiting ticket: the timer did %q, want %q", got, want)
		}
		if got := timerDid(answered.ID); len(got) != 0 {
			t.Errorf("answered ticket: the timer did %q", got)
		}
		if tk, err := in.Admin.Ticket(ctx, answered.ID); err != nil || tk.Status != "in_progress" {
			t.Errorf("answered ticket: %v %v", tk, err)
		}

		// The reminders reached the requester by mail (the outbox: no relay).
		if _, err := in.App.Mail.DispatchDue(ctx); err != nil {
			t.Fatal(err)
		}
		entries, err := in.App.Mail.Outbox(ctx, "", 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		reminders := 0
		for _, m := range entries {
			if m.Kind != "reminder" {
				continue
			}
			reminders++
			if m.TicketID != waiting.ID || m.To != "ann@uni.example" {
				t.Errorf("a reminder to %s about %d", m.To, m.TicketID)
			}
			raw, err := in.App.Mail.OutboxRaw(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(raw), "still waiting for your reply") || !strings.Contains(string(raw), "Auto-Submitted: auto-generated") {
				t.Errorf("reminder mail:\n%s", raw)
			}
		}
		if reminders != 2 {
			t.Errorf("%d reminders in the outbox, want 2", reminders)
		}

		// The feed: one ticket.closed per ticket, the reminders as
		// ticket.reminder, which the requester sees too.
		page, err := ann.Events(ctx, "", 500)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, ev := range page.Items {
			count[ev.Type]++
		}
		if count["ticket.closed"] != 2 || count["ticket.reminder"] != 2 {
			t.Errorf("the requester's feed: %v", count)
		}

		// Closed is frozen: the requester cannot reopen it.
		reopened := "reopened"
		if _, err := ann.UpdateTicket(ctx, solved.ID, client.TicketUpdate{Status: &reopened}); client.StatusOf(err) != 409 {
			t.Errorf("reopen a closed ticket: %v", err)
		}
	})
}

// TestLifecycleBadConfig: a bad calendar or duration stops the start with
// a message naming the variable.
func TestLifecycleBadConfig(t *testing.T) {
	for env, val := range map[string]string{
		"HELPMESH_CALENDAR":          "Mon-Fri 09:00-17:00 Atlantis/Capital",
		"HELPMESH_CLOSE_AFTER":       "ten days",
		"HELPMESH_WAITING_REMINDERS": "5wd,often",
		"HELPMESH_WAITING_UNSOLVED":  "0s",
	} {
		_, err := config.Load(nil, nil, func(k string) string {
			if k == env {
				return val
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), env+":") {
			t.Errorf("%s=%q: %v, want an error naming it", env, val, err)
		}
	}
	// Values that parse but do not fit together are refused by Validate,
	// which every start runs.
	cfg := config.Default()
	cfg.MailBatch = 0 // each mail at once
	cfg.Lifecycle.WaitingReminders = cfg.Lifecycle.WaitingReminders[:0]
	cfg.Lifecycle.WaitingUnsolved = cfg.Lifecycle.CloseAfter
	cfg.Lifecycle.TimerInterval = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "HELPMESH_TIMER_INTERVAL") {
		t.Errorf("validate: %v", err)
	}
}
