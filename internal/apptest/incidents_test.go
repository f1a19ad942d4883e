package apptest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/client"
)

type incidentJSON struct {
	ID         int64  `json:"id"`
	Title      string `json:"title"`
	Status     string `json:"status"`
	Components []struct {
		Service     string  `json:"service"`
		Status      string  `json:"status"`
		RecoveredAt *string `json:"recovered_at"`
	} `json:"components"`
	Updates []struct {
		Status string `json:"status"`
	} `json:"updates"`
	Tickets []int64 `json:"tickets"`
}

func statusOf(err error) int {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// componentStatus reads /api/v2/components.json.
func componentStatus(t *testing.T, in *Instance) map[string]string {
	t.Helper()
	r := in.Do(t, "GET", "/api/v2/components.json", "", "", nil)
	if r.Status != 200 {
		t.Fatalf("components.json: %d %s", r.Status, r.Body)
	}
	var doc struct {
		Components []struct{ ID, Status string } `json:"components"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, c := range doc.Components {
		m[c.ID] = c.Status
	}
	return m
}

// TestIncidentsAcrossServices: one incident over two services, each
// recovering on its own, shown on the status page and its JSON; bad input
// is a 4xx that writes nothing; linked tickets are answered together when
// staff resolve it.
func TestIncidentsAcrossServices(t *testing.T) {
	Engines(t, func(t *testing.T, e Engine) {
		ctx := context.Background()
		in := Start(t, e)
		in.NewUnit(t, "net", false)
		in.NewUnit(t, "web", false)
		in.NewService(t, "storage", "net")
		in.NewService(t, "compute", "net")
		in.NewService(t, "portal", "web")
		staff, sc := in.NewUser(t, "sam@example.org", "user")
		in.AddMember(t, "net", staff.ID, "member")
		_, rc := in.NewUser(t, "rita@example.org", "user")
		tk, err := rc.CreateTicket(ctx, client.NewTicket{Subject: "cannot write", Body: "storage fails", Service: "storage"})
		if err != nil {
			t.Fatal(err)
		}
		other, err := rc.CreateTicket(ctx, client.NewTicket{Subject: "portal", Body: "slow", Service: "portal"})
		if err != nil {
			t.Fatal(err)
		}

		bad := []struct {
			name string
			who  *client.Client
			body string
			want int
		}{
			{"unknown service", sc, `{"title":"t","impact":"major","body":"b","components":[{"service":"nope","status":"major_outage"}]}`, 400},
			{"html title", sc, `{"title":"<script>alert(1)</script>","impact":"major","body":"b","components":[{"service":"storage","status":"major_outage"}]}`, 400},
			{"html body", sc, `{"title":"t","impact":"major","body":"<img src=x onerror=alert(1)>","components":[{"service":"storage","status":"major_outage"}]}`, 400},
			{"bad impact", sc, `{"title":"t","impact":"huge","body":"b","components":[{"service":"storage","status":"major_outage"}]}`, 400},
			{"bad component status", sc, `{"title":"t","impact":"major","body":"b","components":[{"service":"storage","status":"down"}]}`, 400},
			{"no components", sc, `{"title":"t","impact":"major","body":"b","components":[]}`, 400},
			{"service twice", sc, `{"title":"t","impact":"major","body":"b","components":[{"service":"storage","status":"major_outage"},{"service":"storage","status":"partial_outage"}]}`, 400},
			{"unknown field", sc, `{"title":"t","impact":"major","body":"b","components":[{"service":"storage","status":"major_outage"}],"x":1}`, 400},
			{"another unit's service", sc, `{"title":"t","impact":"major","body":"b","components":[{"service":"storage","status":"major_outage"},{"service":"portal","status":"major_outage"}]}`, 403},
			{"a requester", rc, `{"title":"t","impact":"major","body":"b","components":[{"service":"storage","status":"major_outage"}]}`, 403},
		}
		for _, b := range bad {
			err := b.who.Do(ctx, "POST", "/api/v1/incidents", json.RawMessage(b.body), nil)
			if statusOf(err) != b.want {
				t.Errorf("%s: got %v, want %d", b.name, err, b.want)
			}
		}
		var list struct{ Items []incidentJSON }
		if err := sc.Do(ctx, "GET", "/api/v1/incidents", nil, &list); err != nil || len(list.Items) != 0 {
			t.Fatalf("refused incidents were written: %+v %v", list, err)
		}

		var inc incidentJSON
		err = sc.Do(ctx, "POST", "/api/v1/incidents", map[string]any{"title": "Storage & compute down", "impact": "major", "body": "Disks are failing.",
			"components": []map[string]string{{"service": "storage", "status": "major_outage"}, {"service": "compute", "status": "degraded_performance"}}}, &inc)
		if err != nil || inc.ID == 0 || inc.Status != "investigating" || len(inc.Components) != 2 {
			t.Fatalf("create: %+v %v", inc, err)
		}
		if got := componentStatus(t, in); got["storage"] != "major_outage" || got["compute"] != "degraded_performance" || got["portal"] != "operational" {
			t.Errorf("components after create: %v", got)
		}

		// Tickets of an affected service link; others do not.
		path := "/api/v1/incidents/" + strconv.FormatInt(inc.ID, 10)
		if err := sc.Do(ctx, "POST", path+"/tickets", map[string]int64{"ticket_id": tk.ID}, nil); err != nil {
			t.Fatalf("link: %v", err)
		}
		if err := sc.Do(ctx, "POST", path+"/tickets", map[string]int64{"ticket_id": tk.ID}, nil); statusOf(err) != 409 {
			t.Errorf("link twice: %v", err)
		}
		if err := in.Admin.Do(ctx, "POST", path+"/tickets", map[string]int64{"ticket_id": other.ID}, nil); statusOf(err) != 400 {
			t.Errorf("link a ticket of an unaffected service: %v", err)
		}
		if err := rc.Do(ctx, "POST", path+"/updates", map[string]any{"status": "identified", "body": "x"}, nil); statusOf(err) != 403 {
			t.Errorf("a requester updates: %v", err)
		}
		if err := sc.Do(ctx, "POST", path+"/updates", map[string]any{"status": "monitoring", "body": "x", "answer_tickets": true}, nil); statusOf(err) != 400 {
			t.Errorf("answer_tickets before resolving: %v", err)
		}
		if err := sc.Do(ctx, "POST", path+"/updates", map[string]any{"status": "identified", "body": "x", "components": []map[string]string{{"service": "portal", "status": "operational"}}}, nil); statusOf(err) != 403 {
			t.Errorf("recover another unit's service: %v", err)
		}

		// Compute recovers on its own.
		err = sc.Do(ctx, "POST", path+"/updates", map[string]any{"status": "identified", "body": "A controller failed; compute is back.",
			"components": []map[string]string{{"service": "compute", "status": "operational"}}}, &inc)
		if err != nil || inc.Status != "identified" {
			t.Fatalf("update: %+v %v", inc, err)
		}
		for _, c := range inc.Components {
			if (c.Service == "compute") != (c.RecoveredAt != nil) {
				t.Errorf("only compute should have recovered: %+v", inc.Components)
			}
		}
		if got := componentStatus(t, in); got["storage"] != "major_outage" || got["compute"] != "operational" {
			t.Errorf("components after compute recovered: %v", got)
		}
		page := in.Do(t, "GET", "/status", "", "", nil)
		if page.Status != 200 || !strings.Contains(string(page.Body), "Storage &amp; compute down") || !strings.Contains(string(page.Body), "Partial System Outage") {
			t.Errorf("/status: %d\n%s", page.Status, page.Body)
		}

		// Resolved, linked tickets answered together.
		err = sc.Do(ctx, "POST", path+"/updates", map[string]any{"status": "resolved", "body": "Disks replaced.", "answer_tickets": true}, &inc)
		if err != nil || inc.Status != "resolved" {
			t.Fatalf("resolve: %+v %v", inc, err)
		}
		msgs, err := rc.Messages(ctx, tk.ID)
		if err != nil || !slices.ContainsFunc(msgs, func(m client.Message) bool { return strings.Contains(m.Body, "Disks replaced.") }) {
			t.Errorf("the linked ticket was not answered: %+v %v", msgs, err)
		}
		if err := sc.Do(ctx, "POST", path+"/updates", map[string]any{"status": "identified", "body": "again"}, nil); statusOf(err) != 409 {
			t.Errorf("update a resolved incident: %v", err)
		}
		if got := componentStatus(t, in); got["storage"] != "operational" {
			t.Errorf("components after resolve: %v", got)
		}
		if r := in.Do(t, "GET", "/api/v2/incidents/unresolved.json", "", "", nil); !strings.Contains(string(r.Body), `"incidents":[]`) {
			t.Errorf("unresolved after resolve: %s", r.Body)
		}
		feed, err := in.Admin.Events(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, ev := range feed.Items {
			types = append(types, ev.Type)
		}
		if !slices.Contains(types, "incident.created") || !slices.Contains(types, "incident.updated") {
			t.Errorf("events: %v", types)
		}
		if r := in.Do(t, "GET", "/status/history.atom", "", "", nil); r.Status != 200 || !strings.Contains(string(r.Body), "Storage &amp; compute down") {
			t.Errorf("atom: %d %s", r.Status, r.Body)
		}
		if r := in.Do(t, "GET", "/status/maintenance.ics", "", "", nil); r.Status != 200 || !strings.HasPrefix(string(r.Body), "BEGIN:VCALENDAR\r\n") {
			t.Errorf("ics: %d %s", r.Status, r.Body)
		}
		if r := in.Do(t, "GET", "/api/v2/nope.json", "", "", nil); r.Status != 404 {
			t.Errorf("unknown document: %d", r.Status)
		}
	})
}

// statuspageFields are the fields of Statuspage's public API
// (research/operations.md §B) that its clients read.
var statuspageFields = map[string][]string{
	"page":            {"id", "name", "url", "time_zone", "updated_at"},
	"status":          {"indicator", "description"},
	"component":       {"id", "name", "status", "description", "position", "group_id", "group", "only_show_if_degraded", "showcase", "start_date", "created_at", "updated_at", "page_id"},
	"incident":        {"id", "name", "status", "impact", "created_at", "updated_at", "started_at", "monitoring_at", "resolved_at", "shortlink", "page_id", "components", "incident_updates"},
	"incident_update": {"id", "status", "body", "display_at", "affected_components", "created_at"},
}

func requireFields(t *testing.T, what string, obj map[string]any) {
	t.Helper()
	for _, f := range statuspageFields[what] {
		if _, ok := obj[f]; !ok {
			t.Errorf("%s lacks Statuspage field %q: %v", what, f, obj)
		}
	}
}

// TestStatuspageFields fails on a missing or misspelt field of the
// Statuspage v2 documents.
func TestStatuspageFields(t *testing.T) {
	in := Start(t, SQLite)
	in.NewUnit(t, "net", false)
	in.NewService(t, "storage", "net")
	ctx := context.Background()
	if err := in.Admin.Do(ctx, "POST", "/api/v1/incidents", map[string]any{"title": "Slow", "impact": "minor", "body": "Looking.",
		"components": []map[string]string{{"service": "storage", "status": "partial_outage"}}}, nil); err != nil {
		t.Fatal(err)
	}
	get := func(path string) map[string]any {
		r := in.Do(t, "GET", "/api/v2/"+path, "", "", nil)
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		requireFields(t, "page", m["page"].(map[string]any))
		return m
	}
	st := get("status.json")
	requireFields(t, "status", st["status"].(map[string]any))
	if ind := st["status"].(map[string]any)["indicator"]; ind != "minor" {
		t.Errorf("indicator %v", ind)
	}
	sum := get("summary.json")
	requireFields(t, "status", sum["status"].(map[string]any))
	for _, key := range []string{"components", "incidents", "scheduled_maintenances"} {
		if _, ok := sum[key].([]any); !ok {
			t.Errorf("summary.json lacks the list %q", key)
		}
	}
	comps := sum["components"].([]any)
	if len(comps) != 1 {
		t.Fatalf("components: %v", comps)
	}
	requireFields(t, "component", comps[0].(map[string]any))
	incs := sum["incidents"].([]any)
	if len(incs) != 1 {
		t.Fatalf("incidents: %v", incs)
	}
	inc := incs[0].(map[string]any)
	requireFields(t, "incident", inc)
	ups := inc["incident_updates"].([]any)
	if len(ups) != 1 {
		t.Fatalf("incident_updates: %v", ups)
	}
	requireFields(t, "incident_update", ups[0].(map[string]any))
	requireFields(t, "component", inc["components"].([]any)[0].(map[string]any))
	for _, p := range []string{"components.json", "incidents.json", "incidents/unresolved.json", "scheduled-maintenances.json",
		"scheduled-maintenances/upcoming.json", "scheduled-maintenances/active.json"} {
		get(p)
	}
}
