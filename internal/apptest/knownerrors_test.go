package apptest

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/client"
)

type knownErrorJSON struct {
	ID         int64    `json:"id"`
	Title      string   `json:"title"`
	Workaround string   `json:"workaround"`
	Status     string   `json:"status"`
	Services   []string `json:"services"`
	Tickets    []int64  `json:"tickets"`
}

// TestKnownErrors: CRUD with filters, bad input refused with nothing
// written, and linking a ticket answers its requester with the workaround.
func TestKnownErrors(t *testing.T) {
	Engines(t, func(t *testing.T, e Engine) {
		ctx := context.Background()
		in := Start(t, e)
		in.NewUnit(t, "net", false)
		in.NewUnit(t, "web", false)
		in.NewService(t, "storage", "net")
		in.NewService(t, "portal", "web")
		staff, sc := in.NewUser(t, "sam@example.org", "user")
		in.AddMember(t, "net", staff.ID, "member")
		_, rc := in.NewUser(t, "rita@example.org", "user")
		tk, err := rc.CreateTicket(ctx, client.NewTicket{Subject: "upload fails", Body: "403 on PUT", Service: "storage"})
		if err != nil {
			t.Fatal(err)
		}

		for _, b := range []struct {
			name, body string
			who        *client.Client
			want       int
		}{
			{"no workaround", `{"title":"t","symptom":"s","services":["storage"]}`, sc, 400},
			{"html", `{"title":"t","symptom":"<b>s</b>","workaround":"w","services":["storage"]}`, sc, 400},
			{"unknown service", `{"title":"t","symptom":"s","workaround":"w","services":["nope"]}`, sc, 400},
			{"no services", `{"title":"t","symptom":"s","workaround":"w","services":[]}`, sc, 400},
			{"bad status", `{"title":"t","symptom":"s","workaround":"w","services":["storage"],"status":"gone"}`, sc, 400},
			{"another unit", `{"title":"t","symptom":"s","workaround":"w","services":["portal"]}`, sc, 403},
			{"a requester", `{"title":"t","symptom":"s","workaround":"w","services":["storage"]}`, rc, 403},
		} {
			if err := b.who.Do(ctx, "POST", "/api/v1/known-errors", json.RawMessage(b.body), nil); statusOf(err) != b.want {
				t.Errorf("%s: %v, want %d", b.name, err, b.want)
			}
		}
		var list struct{ Items []knownErrorJSON }
		if err := rc.Do(ctx, "GET", "/api/v1/known-errors", nil, &list); err != nil || len(list.Items) != 0 {
			t.Fatalf("refused known errors were written: %+v %v", list, err)
		}

		var ke knownErrorJSON
		err = sc.Do(ctx, "POST", "/api/v1/known-errors", map[string]any{"title": "Uploads over 2 GB fail", "symptom": "403 on PUT of large files",
			"workaround": "Split the file with `split -b 1G`.", "services": []string{"storage"}}, &ke)
		if err != nil || ke.ID == 0 || ke.Status != "open" || !slices.Equal(ke.Services, []string{"storage"}) {
			t.Fatalf("create: %+v %v", ke, err)
		}
		path := "/api/v1/known-errors/" + strconv.FormatInt(ke.ID, 10)
		if err := sc.Do(ctx, "PATCH", path, map[string]any{"status": "workaround"}, &ke); err != nil || ke.Status != "workaround" {
			t.Fatalf("patch: %+v %v", ke, err)
		}
		if err := rc.Do(ctx, "PATCH", path, map[string]any{"status": "retired"}, nil); statusOf(err) != 403 {
			t.Errorf("a requester patches: %v", err)
		}
		for q, want := range map[string]int{"?service=storage": 1, "?service=portal": 0, "?q=large+PUT": 1, "?q=nothing": 0, "?status=workaround": 1, "?status=open": 0} {
			if err := rc.Do(ctx, "GET", "/api/v1/known-errors"+q, nil, &list); err != nil || len(list.Items) != want {
				t.Errorf("GET %s: %d items, want %d (%v)", q, len(list.Items), want, err)
			}
		}
		if r := in.Do(t, "GET", "/api/v1/known-errors?status=gone", in.AdminToken, "", nil); r.Status != 400 {
			t.Errorf("bad status filter: %d", r.Status)
		}

		if err := rc.Do(ctx, "POST", path+"/tickets", map[string]int64{"ticket_id": tk.ID}, nil); statusOf(err) != 403 {
			t.Errorf("a requester links: %v", err)
		}
		if err := sc.Do(ctx, "POST", path+"/tickets", map[string]int64{"ticket_id": tk.ID}, &ke); err != nil || !slices.Equal(ke.Tickets, []int64{tk.ID}) {
			t.Fatalf("link: %+v %v", ke, err)
		}
		if err := sc.Do(ctx, "POST", path+"/tickets", map[string]int64{"ticket_id": tk.ID}, nil); statusOf(err) != 409 {
			t.Errorf("link twice: %v", err)
		}
		msgs, err := rc.Messages(ctx, tk.ID)
		if err != nil || !slices.ContainsFunc(msgs, func(m client.Message) bool { return strings.Contains(m.Body, "split -b 1G") }) {
			t.Errorf("the requester was not answered with the workaround: %+v %v", msgs, err)
		}
	})
}
