package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/mail"
)

// serviceMail is one mail of the outbox with its text and headers.
type serviceMail struct {
	mail.OutboxEntry
	Text   string // whitespace collapsed
	Raw    string
	Header netmail.Header
	HTML   string // the text/html alternative, decoded
}

// parseServiceMail reads the headers and the HTML part of raw.
func parseServiceMail(t *testing.T, m *serviceMail) {
	t.Helper()
	msg, err := netmail.ReadMessage(strings.NewReader(m.Raw))
	if err != nil {
		t.Fatalf("mail %d: %v", m.ID, err)
	}
	m.Header = msg.Header
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("mail %d is %s (%v), not multipart/alternative", m.ID, mt, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("mail %d: %v", m.ID, err)
		}
		b, err := io.ReadAll(p) // quoted-printable is decoded by the reader
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			m.HTML = string(b)
		}
	}
}

// outboxAfter returns the mails of kind in the outbox newer than seen,
// waiting up to ten seconds for at least want of them (the follower
// mail-services runs in the background).
func outboxAfter(t *testing.T, in *Instance, kind string, seen int64, want int) []serviceMail {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, err := in.App.Mail.Outbox(ctx, "", 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		var out []serviceMail
		for _, e := range entries {
			if e.ID > seen && e.Kind == kind {
				text, err := in.App.Mail.OutboxPreview(ctx, e.ID, 100000)
				if err != nil {
					t.Fatal(err)
				}
				raw, err := in.App.Mail.OutboxRaw(ctx, e.ID)
				if err != nil {
					t.Fatal(err)
				}
				m := serviceMail{OutboxEntry: e, Text: text, Raw: string(raw)}
				parseServiceMail(t, &m)
				out = append(out, m)
			}
		}
		if len(out) >= want || time.Now().After(deadline) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lastOutboxID is the newest outbox row's id.
func lastOutboxID(t *testing.T, in *Instance) int64 {
	t.Helper()
	entries, err := in.App.Mail.Outbox(context.Background(), "", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		return 0
	}
	return entries[0].ID
}

func recipients(ms []serviceMail) string {
	var to []string
	for _, m := range ms {
		to = append(to, m.To)
	}
	slices.Sort(to)
	return strings.Join(to, ",")
}

// form posts an HTML form to path.
func form(t *testing.T, in *Instance, path string, v url.Values) Response {
	t.Helper()
	return in.Do(t, "POST", path, "", "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
}

// subscribe asks for a subscription on /status/subscribe and confirms it
// through the link of the confirmation mail.
func subscribe(t *testing.T, in *Instance, email string, services ...string) {
	t.Helper()
	seen := lastOutboxID(t, in)
	v := url.Values{"email": {email}, "scope": {"all"}}
	if len(services) > 0 {
		v = url.Values{"email": {email}, "scope": {"some"}, "services": services}
	}
	if r := form(t, in, "/status/subscribe", v); r.Status != 200 || !strings.Contains(string(r.Body), "Check your mailbox") {
		t.Fatalf("subscribe %s: %d %s", email, r.Status, r.Body)
	}
	ms := outboxAfter(t, in, mail.KindSubscription, seen, 1)
	if len(ms) != 1 || ms[0].To != email {
		t.Fatalf("confirmation mails for %s: %+v", email, ms)
	}
	link := regexp.MustCompile(`https?://\S+?(/status/subscribe/confirm\?token=[A-Za-z0-9._%-]+)`).FindStringSubmatch(ms[0].Text)
	if link == nil {
		t.Fatalf("no confirmation link in %q", ms[0].Text)
	}
	// Opening the link changes nothing; its button does.
	if r := in.Do(t, "GET", link[1], "", "", nil); r.Status != 200 || !strings.Contains(string(r.Body), `id="confirm"`) {
		t.Fatalf("confirmation page: %d %s", r.Status, r.Body)
	}
	if r := form(t, in, link[1], url.Values{"confirm": {"1"}}); r.Status != 200 || !strings.Contains(string(r.Body), email) {
		t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}
	if r := form(t, in, link[1], url.Values{"confirm": {"1"}}); r.Status != 404 {
		t.Fatalf("the confirmation link worked twice: %d", r.Status)
	}
}

// TestSubscriptionsByMail: subscribing on /status mails a confirmation;
// only once confirmed is the subscriber told of incidents on its services,
// once per update, with an unsubscribe link (and List-Unsubscribe) that
// works in one click; a change and its reminder mail the subscribers of
// its services; bad input is a 4xx.
func TestSubscriptionsByMail(t *testing.T) {
	Engines(t, func(t *testing.T, e Engine) {
		ctx := context.Background()
		in := Start(t, e)
		in.NewUnit(t, "net", false)
		in.NewService(t, "storage", "net")
		in.NewService(t, "compute", "net")

		// Bad input: a clear 4xx, no mail.
		seen := lastOutboxID(t, in)
		for _, v := range []url.Values{
			{"email": {"not-an-address"}, "scope": {"all"}},
			{"email": {"<script>alert(1)</script>"}, "scope": {"all"}},
			{"email": {"ann@example.org"}, "scope": {"some"}, "services": {"nosuch"}},
			{"email": {"ann@example.org"}, "scope": {"some"}},
			{"email": {"ann@example.org"}, "scope": {"some"}, "services": {"../x"}},
		} {
			r := form(t, in, "/status/subscribe", v)
			if r.Status != 400 || strings.Contains(string(r.Body), "<script>alert") {
				t.Errorf("subscribe %v: %d %s", v, r.Status, r.Body)
			}
		}
		if r := in.Do(t, "POST", "/status/subscribe", "", "application/x-www-form-urlencoded", strings.NewReader(strings.Repeat("a=b&", 40000))); r.Status >= 500 {
			t.Errorf("huge form: %d", r.Status)
		}
		if ms := outboxAfter(t, in, mail.KindSubscription, seen, 0); len(ms) != 0 {
			t.Fatalf("bad requests mailed: %+v", ms)
		}

		subscribe(t, in, "sub@example.org", "storage")
		// Asked for but never confirmed: never told.
		if r := form(t, in, "/status/subscribe", url.Values{"email": {"lazy@example.org"}, "scope": {"all"}}); r.Status != 200 {
			t.Fatalf("lazy: %d", r.Status)
		}
		// Asking again at once sends no second confirmation.
		seen = lastOutboxID(t, in)
		if r := form(t, in, "/status/subscribe", url.Values{"email": {"lazy@example.org"}, "scope": {"all"}}); r.Status != 200 {
			t.Fatalf("lazy again: %d", r.Status)
		}

		// An incident on storage and compute: the subscriber is told once.
		var inc struct{ ID int64 }
		if err := in.Admin.Do(ctx, "POST", "/api/v1/incidents", map[string]any{"title": "Storage < 50% & down", "impact": "major", "body": "Disks failed & more",
			"components": []map[string]string{{"service": "storage", "status": "major_outage"}, {"service": "compute", "status": "degraded_performance"}}}, &inc); err != nil {
			t.Fatal(err)
		}
		ms := outboxAfter(t, in, mail.KindIncident, seen, 1)
		if recipients(ms) != "sub@example.org" {
			t.Fatalf("incident mails: %q", recipients(ms))
		}
		m := ms[0]
		for _, want := range []string{"Storage < 50% & down", "major outage", "/status#incident-", "Unsubscribe:"} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("incident mail text lacks %q: %s", want, m.Text)
			}
		}
		if h := m.Header; !strings.HasPrefix(h.Get("List-Unsubscribe"), "<http") || h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" ||
			h.Get("Auto-Submitted") != "auto-generated" {
			t.Errorf("incident mail headers: %v", h)
		}
		if !strings.Contains(m.HTML, "Storage &lt; 50% &amp; down") || strings.Contains(m.HTML, "Storage < 50%") || !strings.Contains(m.HTML, "Unsubscribe</a>") {
			t.Errorf("incident mail HTML: %s", m.HTML)
		}

		// An update: once more, and only that.
		seen = lastOutboxID(t, in)
		if err := in.Admin.Do(ctx, "POST", fmt.Sprintf("/api/v1/incidents/%d/updates", inc.ID), map[string]any{"status": "identified", "body": "Replacing disks."}, nil); err != nil {
			t.Fatal(err)
		}
		ms = outboxAfter(t, in, mail.KindIncident, seen, 1)
		if recipients(ms) != "sub@example.org" || !strings.Contains(ms[0].Text, "Replacing disks.") || !strings.Contains(ms[0].Subject, "identified") {
			t.Fatalf("update mails: %+v", ms)
		}
		time.Sleep(300 * time.Millisecond)
		if again := outboxAfter(t, in, mail.KindIncident, seen, 0); len(again) != 1 {
			t.Fatalf("the update was told %d times", len(again))
		}

		// A change and its reminder (the data package change appends).
		seen = lastOutboxID(t, in)
		start := time.Now().Add(25 * time.Hour).UTC().Truncate(time.Minute)
		change := map[string]any{"id": 7, "title": "Storage firmware", "services": []string{"storage"}, "start": start, "end": start.Add(2 * time.Hour),
			"time_zone": "Europe/Amsterdam", "severity": "outage", "classification": "scheduled", "status": "planned"}
		appendEvent(t, in, event.ChangeCreated, change)
		change["lead"] = "24h"
		appendEvent(t, in, event.ChangeReminder, change)
		ms = outboxAfter(t, in, mail.KindChange, seen, 2)
		if len(ms) != 2 || recipients(ms) != "sub@example.org,sub@example.org" {
			t.Fatalf("change mails: %+v", ms)
		}
		var reminder serviceMail
		for _, m := range ms {
			if strings.Contains(m.Subject, "in 24h") {
				reminder = m
			}
		}
		if !strings.Contains(reminder.Text, "starts in 24h") || !strings.Contains(reminder.Text, "Storage firmware") || !strings.Contains(reminder.Text, "CET") && !strings.Contains(reminder.Text, "CEST") {
			t.Errorf("reminder: %q %s", reminder.Subject, reminder.Text)
		}
		// Of compute only: not the storage subscriber.
		seen = lastOutboxID(t, in)
		change["services"], change["id"] = []string{"compute"}, 8
		appendEvent(t, in, event.ChangeCreated, change)
		time.Sleep(500 * time.Millisecond)
		if ms := outboxAfter(t, in, mail.KindChange, seen, 0); len(ms) != 0 {
			t.Errorf("a change of compute mailed %q", recipients(ms))
		}

		// The one-click unsubscribe of the List-Unsubscribe header.
		unsub := regexp.MustCompile(`^<https?://[^/>]+(/status/unsubscribe\?token=[^>]+)>$`).FindStringSubmatch(m.Header.Get("List-Unsubscribe"))
		if unsub == nil {
			t.Fatalf("no List-Unsubscribe URL in %s", m.Raw)
		}
		if r := in.Do(t, "GET", unsub[1], "", "", nil); r.Status != 200 || !strings.Contains(string(r.Body), `id="unsubscribe"`) {
			t.Fatalf("unsubscribe page: %d", r.Status)
		}
		r := in.Do(t, "POST", unsub[1], "", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if r.Status != 200 || !strings.Contains(string(r.Body), "sub@example.org") {
			t.Fatalf("one-click unsubscribe: %d %s", r.Status, r.Body)
		}
		if r := in.Do(t, "POST", unsub[1], "", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click")); r.Status != 404 {
			t.Errorf("unsubscribe twice: %d", r.Status)
		}
		if r := in.Do(t, "POST", "/status/unsubscribe?token=1.abc.forged", "", "", nil); r.Status != 404 {
			t.Errorf("forged unsubscribe: %d", r.Status)
		}
		seen = lastOutboxID(t, in)
		if err := in.Admin.Do(ctx, "POST", fmt.Sprintf("/api/v1/incidents/%d/updates", inc.ID), map[string]any{"status": "resolved", "body": "Fixed."}, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if ms := outboxAfter(t, in, mail.KindIncident, seen, 0); len(ms) != 0 {
			t.Errorf("mailed after unsubscribing: %q", recipients(ms))
		}
	})
}

// appendEvent appends an event of typ with data, as another package does
// in its transaction.
func appendEvent(t *testing.T, in *Instance, typ string, data any) {
	t.Helper()
	ctx := context.Background()
	if err := in.App.DB.Tx(ctx, func(q db.Querier) error { return in.App.Events.Append(ctx, q, typ, 0, data) }); err != nil {
		t.Fatal(err)
	}
}

// TestAnnouncements: a unit admin's announcement reaches the requesters
// (tickets on its services) and the subscribers of its services once
// each, shows its progress, and is archived on the status page; others
// may not announce, and bad input is a 4xx.
func TestAnnouncements(t *testing.T) {
	Engines(t, func(t *testing.T, e Engine) {
		ctx := context.Background()
		in := Start(t, e)
		in.NewUnit(t, "net", false)
		in.NewUnit(t, "web", false)
		in.NewService(t, "storage", "net")
		in.NewService(t, "compute", "net")
		in.NewService(t, "portal", "web")
		boss, bc := in.NewUser(t, "boss@example.org", "user")
		in.AddMember(t, "net", boss.ID, "admin")
		member, mc := in.NewUser(t, "member@example.org", "user")
		in.AddMember(t, "net", member.ID, "member")
		_, rita := in.NewUser(t, "rita@example.org", "user")
		_, paul := in.NewUser(t, "paul@example.org", "user")
		for _, tk := range []struct {
			c       *client.Client
			service string
		}{{rita, "storage"}, {rita, "compute"}, {paul, "portal"}} {
			if _, err := tk.c.CreateTicket(ctx, client.NewTicket{Subject: "help", Body: "please", Service: tk.service}); err != nil {
				t.Fatal(err)
			}
		}
		subscribe(t, in, "rita@example.org", "storage") // requester and subscriber: told once
		subscribe(t, in, "fan@example.org")             // every service
		subscribe(t, in, "web@example.org", "portal")   // another service: not told

		// Who may announce, and bad input.
		good := map[string]any{"title": "Storage moves", "body": "On 1 April <b>all</b> data moves.\nPlan ahead.", "services": []string{"storage", "compute"},
			"audience": []string{"requesters", "subscribers"}}
		for name, c := range map[string]struct {
			c    *client.Client
			body map[string]any
			want int
		}{
			"member":     {mc, good, 403},
			"other unit": {bc, map[string]any{"title": "t", "body": "b", "services": []string{"portal"}, "audience": []string{"subscribers"}}, 403},
			"html title": {bc, map[string]any{"title": "<script>x</script>", "body": "b", "services": []string{"storage"}, "audience": []string{"subscribers"}}, 400},
			"unknown":    {bc, map[string]any{"title": "t", "body": "b", "services": []string{"nosuch"}, "audience": []string{"subscribers"}}, 400},
			"audience":   {bc, map[string]any{"title": "t", "body": "b", "services": []string{"storage"}, "audience": []string{"all"}}, 400},
			"types":      {bc, map[string]any{"title": 5, "body": "b", "services": "storage", "audience": []string{"all"}}, 400},
		} {
			err := c.c.Do(ctx, "POST", "/api/v1/announcements", c.body, nil)
			if got := statusOf(err); got != c.want {
				t.Errorf("%s: %d (%v), want %d", name, got, err, c.want)
			}
		}
		// A body with HTML tags is refused too: bodies are plain text.
		if err := bc.Do(ctx, "POST", "/api/v1/announcements", good, nil); statusOf(err) != 400 {
			t.Errorf("HTML in the body: %v", err)
		}
		good["body"] = "On 1 April all data moves; 5 > 3 & so on.\nPlan ahead."

		seen := lastOutboxID(t, in)
		var an struct {
			ID         int64
			Recipients *int
			Sent       *int
		}
		if err := bc.Do(ctx, "POST", "/api/v1/announcements", good, &an); err != nil || an.ID == 0 {
			t.Fatalf("announce: %v", err)
		}
		ms := outboxAfter(t, in, mail.KindAnnouncement, seen, 2)
		if got := recipients(ms); got != "fan@example.org,rita@example.org" {
			t.Fatalf("announcement mailed to %q", got)
		}
		for _, m := range ms {
			if !strings.Contains(m.Text, "5 > 3 & so on.") || !strings.Contains(m.HTML, "5 &gt; 3 &amp; so on.") || m.Header.Get("Precedence") != "bulk" {
				t.Errorf("announcement to %s: %s", m.To, m.Text)
			}
			if m.To == "fan@example.org" && m.Header.Get("List-Unsubscribe") == "" {
				t.Errorf("the subscriber's mail has no List-Unsubscribe")
			}
		}
		var got struct {
			Recipients, Sent int
			Services         []string
		}
		if err := in.Admin.Do(ctx, "GET", fmt.Sprintf("/api/v1/announcements/%d", an.ID), nil, &got); err != nil || got.Recipients != 2 || got.Sent != 0 {
			t.Errorf("progress: %+v %v", got, err)
		}
		// Public: the list and the archive page, escaped.
		r := in.Do(t, "GET", "/api/v1/announcements", "", "", nil)
		var list struct {
			Items []struct {
				ID    int64  `json:"id"`
				Title string `json:"title"`
			} `json:"items"`
		}
		if r.Status != 200 || json.Unmarshal(r.Body, &list) != nil || len(list.Items) != 1 || list.Items[0].ID != an.ID {
			t.Errorf("public list: %d %s", r.Status, r.Body)
		}
		if r := in.Do(t, "GET", "/api/v1/announcements/abc", "", "", nil); r.Status != 400 {
			t.Errorf("bad id: %d", r.Status)
		}
		if r := in.Do(t, "GET", "/api/v1/announcements/999999", "", "", nil); r.Status != 404 {
			t.Errorf("missing: %d", r.Status)
		}
		page := in.Do(t, "GET", "/status/announcements", "", "", nil)
		if page.Status != 200 || !strings.Contains(string(page.Body), "5 &gt; 3 &amp; so on.") {
			t.Errorf("archive page: %d %s", page.Status, page.Body)
		}

		// Subscriptions for staff.
		var subs struct {
			Items []struct {
				Email     string
				Confirmed bool
			}
		}
		if err := bc.Do(ctx, "GET", "/api/v1/subscriptions?service=storage", nil, &subs); err != nil || len(subs.Items) != 2 {
			t.Errorf("unit admin's subscriptions of storage: %+v %v", subs, err)
		}
		for path, want := range map[string]int{"/api/v1/subscriptions": 403, "/api/v1/subscriptions?service=portal": 403, "/api/v1/subscriptions?service=Bad!": 400} {
			if err := bc.Do(ctx, "GET", path, nil, nil); statusOf(err) != want {
				t.Errorf("%s: %v, want %d", path, err, want)
			}
		}
		if err := mc.Do(ctx, "GET", "/api/v1/subscriptions?service=storage", nil, nil); statusOf(err) != 403 {
			t.Errorf("member: %v", err)
		}
		if err := in.Admin.Do(ctx, "GET", "/api/v1/subscriptions", nil, &subs); err != nil || len(subs.Items) != 3 {
			t.Errorf("admin: %+v %v", subs, err)
		}
	})
}
