package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/mail"
	"github.com/helpmesh/helpmesh/internal/user"
)

// TestOutboxEndpoints: GET /api/v1/outbox and /api/v1/outbox/quarantine list
// the gateway's mail for administrators only.
func TestOutboxEndpoints(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		ctx := context.Background()
		helpdesk := "helpdesk@" + in.App.Config.Domain()
		raw := []byte("From: Olga <olga@ext.example>\r\nTo: " + helpdesk + "\r\nSubject: Printer\r\nMessage-ID: <outbox-1." + string(e) +
			"@ext.example>\r\nContent-Type: text/plain\r\n\r\nIt jams.\r\n")
		if out, err := in.App.Mail.Deliver(ctx, mail.Envelope{Source: "test", Rcpts: []string{helpdesk}}, raw); err != nil || out.Action != "created" {
			t.Fatalf("deliver: %+v %v", out, err)
		}
		if out, err := in.App.Mail.Deliver(ctx, mail.Envelope{Source: "test", Rcpts: []string{helpdesk}}, []byte("\x00garbage\r\n\r\n")); err != nil || out.Action != "quarantined" {
			t.Fatalf("deliver garbage: %+v %v", out, err)
		}

		u, err := in.App.Users.Create(ctx, user.NewUser{Email: "plain@ext.example", Name: "Plain User"})
		if err != nil {
			t.Fatal(err)
		}
		_, userToken, err := in.App.Users.CreateToken(ctx, u.ID, "test", "write", nil)
		if err != nil {
			t.Fatal(err)
		}

		// The auto-reply is composed by a notify job of the running workers.
		var outbox struct {
			Items []mail.OutboxEntry `json:"items"`
			Relay bool               `json:"relay"`
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			r := in.Do(t, "GET", "/api/v1/outbox", in.AdminToken, "", nil)
			if r.Status != 200 {
				t.Fatalf("outbox as admin: %d %s", r.Status, r.Body)
			}
			if err := json.Unmarshal(r.Body, &outbox); err != nil {
				t.Fatal(err)
			}
			if len(outbox.Items) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		found := false
		for _, it := range outbox.Items {
			found = found || (it.Kind == mail.KindAutoReply && it.To == "olga@ext.example" && it.State == "held")
		}
		if !found || outbox.Relay {
			t.Errorf("outbox = %+v (relay %v), want a held auto-reply to olga", outbox.Items, outbox.Relay)
		}

		r := in.Do(t, "GET", "/api/v1/outbox/quarantine", in.AdminToken, "", nil)
		var quarantine struct {
			Items []mail.Quarantined `json:"items"`
		}
		if err := json.Unmarshal(r.Body, &quarantine); r.Status != 200 || err != nil || len(quarantine.Items) != 1 || quarantine.Items[0].Reason == "" {
			t.Errorf("quarantine as admin: %d %s", r.Status, r.Body)
		}

		for _, path := range []string{"/api/v1/outbox", "/api/v1/outbox/quarantine"} {
			if r := in.Do(t, "GET", path, userToken, "", nil); r.Status != 403 {
				t.Errorf("%s as a user: %d %s, want 403", path, r.Status, r.Body)
			}
			if r := in.Do(t, "GET", path, "", "", nil); r.Status != 401 {
				t.Errorf("%s without a token: %d %s, want 401", path, r.Status, r.Body)
			}
		}
	})
}

// TestMailHistoryNamesSender: GET /api/v1/tickets/{id}/history names a
// ticket opened by mail after its sender, by mail, not after an
// administrator or the gateway.
func TestMailHistoryNamesSender(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		helpdesk := "helpdesk@" + in.App.Config.Domain()
		raw := []byte("From: Ann <ann@uni.example>\r\nTo: " + helpdesk + "\r\nSubject: Quota\r\nMessage-ID: <history-1." + string(e) +
			"@uni.example>\r\nContent-Type: text/plain\r\n\r\nMy quota is full.\r\n")
		out, err := in.App.Mail.Deliver(context.Background(), mail.Envelope{Source: "test", Rcpts: []string{helpdesk}}, raw)
		if err != nil || out.Action != "created" {
			t.Fatalf("deliver: %+v %v", out, err)
		}
		r := in.Do(t, "GET", fmt.Sprintf("/api/v1/tickets/%d/history", out.TicketID), in.AdminToken, "", nil)
		var history struct {
			Items []struct{ Actor, Action, Source string } `json:"items"`
		}
		if err := json.Unmarshal(r.Body, &history); r.Status != 200 || err != nil || len(history.Items) != 1 {
			t.Fatalf("history: %d %s", r.Status, r.Body)
		}
		if h := history.Items[0]; h.Actor != "ann@uni.example (by mail)" || h.Action != "created" || h.Source != "email" {
			t.Errorf("history entry %+v, want created by ann@uni.example (by mail) from email", h)
		}
	})
}
