package apptest_test

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/webhook/webhooktest"
)

// TestWebhooks: through the API, an administrator subscribes a local
// receiver (allowed by HELPMESH_OUTBOUND_ALLOW=127.0.0.0/8) to every
// event and a unit's admin to their unit's; the changes arrive signed, as
// the change feed shows them (never a note's body), the unit's webhook
// gets only its unit's tickets; the log shows each delivery. Bad input is
// a 4xx, another unit is 403, and without the allow-list the loopback
// receiver is refused.
func TestWebhooks(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		ctx := context.Background()
		recv := webhooktest.NewReceiver()
		defer recv.Close()

		closed := apptest.Start(t, e)
		_, err := closed.Admin.CreateWebhook(ctx, client.Webhook{URL: recv.URL + "/all", Events: []string{"*"}})
		wantStatus(t, "a loopback receiver without HELPMESH_OUTBOUND_ALLOW", client.StatusOf(err), http.StatusBadRequest)

		in := apptest.Start(t, e, func(cfg *config.Config) { cfg.OutboundAllow = []string{"127.0.0.0/8"} })
		in.NewUnit(t, "storage", false)
		in.NewService(t, "object-store", "storage")
		in.NewUnit(t, "compute", false)
		in.NewService(t, "vm", "compute")
		samU, sam := in.NewUser(t, "sam@uni.example", "user")
		in.AddMember(t, "storage", samU.ID, "admin")
		_, ann := in.NewUser(t, "ann@uni.example", "user")
		_, bob := in.NewUser(t, "bob@uni.example", "user")

		all, err := in.Admin.CreateWebhook(ctx, client.Webhook{URL: recv.URL + "/all", Events: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(all.Secret, "whsec_"))
		if !strings.HasPrefix(all.Secret, "whsec_") || err != nil || len(key) < 24 {
			t.Errorf("secret %q", all.Secret)
		}
		unitHook, err := sam.CreateWebhook(ctx, client.Webhook{URL: recv.URL + "/storage", Events: []string{"ticket.created", "ticket.note"}, Unit: "storage"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = sam.CreateWebhook(ctx, client.Webhook{URL: recv.URL + "/x", Events: []string{"*"}, Unit: "compute"})
		wantStatus(t, "a unit admin's webhook for another unit", client.StatusOf(err), http.StatusForbidden)
		_, err = sam.CreateWebhook(ctx, client.Webhook{URL: recv.URL + "/x", Events: []string{"*"}})
		wantStatus(t, "a unit admin's webhook for every event", client.StatusOf(err), http.StatusForbidden)

		for _, c := range []struct{ body, why string }{
			{`{"url": "not a url", "events": ["*"]}`, "not a URL"},
			{`{"url": "ftp://8.8.8.8/x", "events": ["*"]}`, "not http(s)"},
			{`{"url": "http://10.0.0.1/x", "events": ["*"]}`, "a private address"},
			{`{"url": "http://169.254.169.254/latest", "events": ["*"]}`, "a link-local address"},
			{`{"url": "http://[::1]:8080/x", "events": ["*"]}`, "IPv6 loopback (not in the allow-list)"},
			{`{"url": "` + recv.URL + `", "events": ["ticket.exploded"]}`, "an unknown event type"},
			{`{"url": "` + recv.URL + `", "events": []}`, "no event type"},
			{`{"url": "` + recv.URL + `"}`, "no events"},
			{`{"url": "` + recv.URL + `", "events": ["*"], "unit": "nope"}`, "an unknown unit"},
			{`{"url": "` + recv.URL + `", "events": ["*"], "unit": "Bad Slug"}`, "a malformed unit"},
			{`{"url": "` + recv.URL + `", "events": "*"}`, "events not a list"},
			{`{"url": "` + recv.URL + `", "events": ["*"], "secret": "mine"}`, "an unknown field"},
		} {
			r := in.Do(t, "POST", "/api/v1/webhooks", in.AdminToken, "application/json", strings.NewReader(c.body))
			checkError(t, r, http.StatusBadRequest)
			if t.Failed() {
				t.Fatalf("POST /api/v1/webhooks with %s (%s): %d %s", c.why, c.body, r.Status, r.Body)
			}
		}
		for _, c := range []struct {
			path string
			want int
		}{
			{"/api/v1/webhooks/abc", 400}, {"/api/v1/webhooks/0", 400}, {"/api/v1/webhooks/99999", 404},
			{"/api/v1/webhooks/99999/deliveries", 404}, {"/api/v1/webhooks/1/deliveries?limit=0", 400},
			{"/api/v1/webhooks/1/deliveries?cursor=zzz", 400},
		} {
			checkError(t, in.Do(t, "GET", c.path, in.AdminToken, "", nil), c.want)
		}

		tk, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "Bucket gone", Body: "since noon", Service: "object-store"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sam.Note(ctx, tk.ID, "internal: a disk died"); err != nil {
			t.Fatal(err)
		}
		if _, err := sam.Reply(ctx, tk.ID, "We are on it"); err != nil {
			t.Fatal(err)
		}
		other, err := bob.CreateTicket(ctx, client.NewTicket{Subject: "VM slow", Body: "x", Service: "vm"})
		if err != nil {
			t.Fatal(err)
		}

		reqs := recv.Wait(6, 30*time.Second)
		// Deliveries go out several at once: in order of the events' ids.
		slices.SortFunc(reqs, func(a, b webhooktest.Request) int { return cmp.Compare(eventID(t, a.Body), eventID(t, b.Body)) })
		got := map[string][]string{}
		for _, r := range reqs {
			secret := all.Secret
			if r.Path == "/storage" {
				secret = unitHook.Secret
			}
			if err := webhooktest.Verify(secret, r.Header, r.Body, time.Now()); err != nil {
				t.Errorf("%s: %v", r.Path, err)
			}
			if strings.Contains(string(r.Body), "disk died") || strings.Contains(string(r.Body), "snap") {
				t.Errorf("a delivery shows internals: %s", r.Body)
			}
			var b struct {
				Type      string       `json:"type"`
				Timestamp time.Time    `json:"timestamp"`
				Data      client.Event `json:"data"`
			}
			if err := json.Unmarshal(r.Body, &b); err != nil || b.Type != b.Data.Type || b.Timestamp.IsZero() {
				t.Errorf("body %s: %v", r.Body, err)
			}
			got[r.Path] = append(got[r.Path], b.Type+"#"+map[bool]string{true: "mine", false: "other"}[b.Data.TicketID == tk.ID])
		}
		if g, want := strings.Join(got["/all"], " "), "ticket.created#mine ticket.note#mine ticket.message#mine ticket.created#other"; g != want {
			t.Errorf("the administrator's webhook got %q, want %q", g, want)
		}
		if g, want := strings.Join(got["/storage"], " "), "ticket.created#mine ticket.note#mine"; g != want {
			t.Errorf("the unit's webhook got %q, want %q (not ticket %d of compute)", g, want, other.ID)
		}

		// The receiver answered; the log records it just after.
		var ds []client.Delivery
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if ds, err = in.Admin.WebhookDeliveries(ctx, all.ID); err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(ds, func(d client.Delivery) bool { return d.State == "pending" }) || time.Now().After(deadline) {
				break
			}
		}
		if len(ds) != 4 {
			t.Fatalf("the log holds %d deliveries, want 4: %+v", len(ds), ds)
		}
		for _, d := range ds {
			if d.State != "delivered" || d.Attempts != 1 || d.LastStatus != 204 || d.DeliveredAt == nil || d.NextTryAt != nil {
				t.Errorf("delivery %+v", d)
			}
		}
		// The unit's webhook may still be writing its log: wait for the
		// pending gauge to fall to zero before reading the rest.
		var metrics string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			metrics = string(in.Do(t, "GET", "/metrics", "", "", nil).Body)
			if strings.Contains(metrics, `helpmesh_webhook_deliveries{state="pending"} 0`) || time.Now().After(deadline) {
				break
			}
		}
		for _, want := range []string{`helpmesh_webhook_deliveries{state="pending"} 0`, `helpmesh_webhook_deliveries{state="dead"} 0`, `helpmesh_event_follower_lag{follower="webhooks"}`} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		// The unit's admin sees and deletes their own webhook only.
		ws, err := sam.Webhooks(ctx)
		if err != nil || len(ws) != 1 || ws[0].ID != unitHook.ID || ws[0].Unit != "storage" || ws[0].Secret != "" {
			t.Errorf("the unit admin's webhooks: %+v, %v", ws, err)
		}
		_, err = sam.WebhookDeliveries(ctx, all.ID)
		wantStatus(t, "the administrator's log to a unit admin", client.StatusOf(err), http.StatusNotFound)
		wantStatus(t, "deleting the administrator's webhook as a unit admin", client.StatusOf(sam.DeleteWebhook(ctx, all.ID)), http.StatusNotFound)
		if err := sam.DeleteWebhook(ctx, unitHook.ID); err != nil {
			t.Fatal(err)
		}
		if ws, err := in.Admin.Webhooks(ctx); err != nil || len(ws) != 1 || ws[0].ID != all.ID {
			t.Errorf("after the delete the administrator lists %+v, %v", ws, err)
		}
	})
}

// eventID is the id of the event a delivery's body carries.
func eventID(t *testing.T, body []byte) int64 {
	t.Helper()
	var b struct {
		Data client.Event `json:"data"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return b.Data.ID
}
