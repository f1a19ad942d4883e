package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

type changeJSON struct {
	ID             int64    `json:"id"`
	Title          string   `json:"title"`
	Services       []string `json:"services"`
	Start          string   `json:"start"`
	End            string   `json:"end"`
	TimeZone       string   `json:"time_zone"`
	Severity       string   `json:"severity"`
	Classification string   `json:"classification"`
	Status         string   `json:"status"`
	Approvals      []struct {
		Name string `json:"name"`
	} `json:"approvals"`
	ServiceEnds []struct {
		Service string `json:"service"`
		End     string `json:"end"`
	} `json:"service_ends"`
}

type importJSON struct {
	Created, Updated, Unchanged int
	Items                       []struct {
		GOCDBID string `json:"gocdb_id"`
		ID      int64
		Action  string
	}
}

// changeCatalogue makes units net (storage, compute) and web (portal).
func changeCatalogue(t *testing.T, in *Instance) {
	in.NewUnit(t, "net", false)
	in.NewUnit(t, "web", false)
	in.NewService(t, "storage", "net")
	in.NewService(t, "compute", "net")
	in.NewService(t, "portal", "web")
}

// waitComponents polls components.json until want holds (the status page
// of this node is dropped at once; this guards the follower's path too).
func waitComponents(t *testing.T, in *Instance, want map[string]string) {
	t.Helper()
	var got map[string]string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got = componentStatus(t, in)
		ok := true
		for k, v := range want {
			ok = ok && got[k] == v
		}
		if ok {
			return
		}
	}
	t.Errorf("components %v, want %v", got, want)
}

// TestChanges: declaration with the GOCDB rules through the API (bad
// input a 4xx that writes nothing), approvals, a change in progress on the
// status page, per-service early end, the GOCDB document served and
// imported by URL into a fresh instance (through the outbound policy).
func TestChanges(t *testing.T) {
	Engines(t, func(t *testing.T, e Engine) {
		ctx := context.Background()
		in := Start(t, e)
		changeCatalogue(t, in)
		staff, sc := in.NewUser(t, "sam@example.org", "user")
		in.AddMember(t, "net", staff.ID, "member")
		boss, bc := in.NewUser(t, "ada@example.org", "user")
		in.AddMember(t, "net", boss.ID, "admin")
		_, rc := in.NewUser(t, "rita@example.org", "user")

		now := time.Now().UTC().Truncate(time.Second)
		at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
		body := func(start, end string, services ...string) map[string]any {
			return map[string]any{"title": "Storage <b>firmware</b>", "description": "Rolling upgrade", "services": services,
				"start": start, "end": end, "severity": "outage", "time_zone": "Europe/Amsterdam", "risk": "low", "plan": "one node at a time", "rollback": "old image"}
		}
		for _, b := range []struct {
			name string
			body any
			who  *client.Client
			want int
		}{
			{"inverted", body(at(50*time.Hour), at(49*time.Hour), "storage"), sc, 422},
			{"retro 49 h", body(at(-49*time.Hour), at(time.Hour), "storage"), sc, 422},
			{"unknown service", body(at(50*time.Hour), at(51*time.Hour), "nope"), sc, 422},
			{"bad start", body("tomorrow", at(51*time.Hour), "storage"), sc, 400},
			{"bad zone", func() any {
				b := body(at(50*time.Hour), at(51*time.Hour), "storage")
				b["time_zone"] = "../../etc/passwd"
				return b
			}(), sc, 400},
			{"bad severity", func() any { b := body(at(50*time.Hour), at(51*time.Hour), "storage"); b["severity"] = "down"; return b }(), sc, 400},
			{"unknown field", func() any { b := body(at(50*time.Hour), at(51*time.Hour), "storage"); b["owner"] = 1; return b }(), sc, 400},
			{"another unit", body(at(50*time.Hour), at(51*time.Hour), "portal"), sc, 403},
			{"a requester", body(at(50*time.Hour), at(51*time.Hour), "storage"), rc, 403},
			{"not JSON", json.RawMessage(`[1]`), sc, 400},
		} {
			if err := b.who.Do(ctx, "POST", "/api/v1/changes", b.body, nil); statusOf(err) != b.want {
				t.Errorf("%s: %v, want %d", b.name, err, b.want)
			}
		}
		var list struct{ Items []changeJSON }
		if err := rc.Do(ctx, "GET", "/api/v1/changes", nil, &list); err != nil || len(list.Items) != 0 {
			t.Fatalf("refused changes were written: %+v %v", list, err)
		}

		var planned changeJSON
		if err := sc.Do(ctx, "POST", "/api/v1/changes", body(at(48*time.Hour), at(50*time.Hour), "storage"), &planned); err != nil ||
			planned.Classification != "scheduled" || planned.Status != "planned" || planned.Title != "Storage <b>firmware</b>" || planned.TimeZone != "Europe/Amsterdam" {
			t.Fatalf("declare: %+v %v", planned, err)
		}
		err := sc.Do(ctx, "POST", "/api/v1/changes", body(at(49*time.Hour), at(52*time.Hour), "storage", "compute"), nil)
		if statusOf(err) != 409 || !strings.Contains(err.Error(), "overlaps") {
			t.Errorf("overlap: %v", err)
		}
		path := fmt.Sprintf("/api/v1/changes/%d", planned.ID)
		if err := sc.Do(ctx, "POST", path+"/approvals", nil, nil); statusOf(err) != 403 {
			t.Errorf("a member approves: %v", err)
		}
		if err := bc.Do(ctx, "POST", path+"/approvals", nil, &planned); err != nil || planned.Status != "approved" || len(planned.Approvals) != 1 {
			t.Fatalf("approve: %+v %v", planned, err)
		}
		if err := sc.Do(ctx, "PATCH", path, map[string]string{"status": "completed"}, nil); statusOf(err) != 409 {
			t.Errorf("approved → completed: %v", err)
		}
		if err := sc.Do(ctx, "PATCH", path, map[string]string{"end": at(47 * time.Hour)}, nil); statusOf(err) != 422 {
			t.Errorf("patched to an inverted window: %v", err)
		}

		// A change declared a minute after its start is in progress: its
		// services are under maintenance on the status page.
		var live changeJSON
		if err := sc.Do(ctx, "POST", "/api/v1/changes", body(at(-time.Minute), at(2*time.Hour), "storage", "compute"), &live); err != nil || live.Classification != "unscheduled" {
			t.Fatalf("declare a running change: %+v %v", live, err)
		}
		waitComponents(t, in, map[string]string{"storage": "under_maintenance", "compute": "under_maintenance", "portal": "operational"})
		livePath := fmt.Sprintf("/api/v1/changes/%d", live.ID)
		if err := sc.Do(ctx, "PATCH", livePath, map[string]string{"end": at(3 * time.Hour)}, nil); statusOf(err) != 409 {
			t.Errorf("a started change extended: %v", err)
		}
		if err := sc.Do(ctx, "PATCH", livePath, map[string]string{"start": at(time.Minute)}, nil); statusOf(err) != 409 {
			t.Errorf("a started change's start moved: %v", err)
		}
		if err := sc.Do(ctx, "POST", livePath+"/services/compute/end", nil, &live); err != nil || live.Status != "planned" {
			t.Fatalf("end compute early: %+v %v", live, err)
		}
		if err := sc.Do(ctx, "POST", livePath+"/services/portal/end", nil, nil); statusOf(err) != 404 {
			t.Errorf("end a service the change is not on: %v", err)
		}
		waitComponents(t, in, map[string]string{"storage": "under_maintenance", "compute": "operational"})
		for doc, want := range map[string]string{"/api/v2/scheduled-maintenances/active.json": "Storage <b>firmware</b>", "/api/v2/scheduled-maintenances/upcoming.json": "Storage <b>firmware</b>",
			"/status/maintenance.ics": "SUMMARY:[OUTAGE] Storage <b>firmware</b>", "/status": "Storage &lt;b&gt;firmware&lt;/b&gt;"} {
			r := in.Do(t, "GET", doc, "", "", nil)
			if r.Status != 200 || !strings.Contains(strings.ReplaceAll(string(r.Body), `\u003c`, "<"), strings.ReplaceAll(want, `\u003e`, ">")) {
				if !strings.Contains(strings.ReplaceAll(strings.ReplaceAll(string(r.Body), `\u003c`, "<"), `\u003e`, ">"), want) {
					t.Errorf("%s: %d, lacks %q", doc, r.Status, want)
				}
			}
			if doc == "/status" && strings.Contains(string(r.Body), "<b>firmware</b>") {
				t.Errorf("/status shows the title's markup unescaped")
			}
		}
		for q, want := range map[string]int{"?service=compute": 1, "?service=portal": 0, "?status=approved": 1, "?from=" + at(40*time.Hour): 1, "?to=" + at(time.Hour): 1} {
			if err := rc.Do(ctx, "GET", "/api/v1/changes"+q, nil, &list); err != nil || len(list.Items) != want {
				t.Errorf("GET %s: %d items, want %d (%v)", q, len(list.Items), want, err)
			}
		}
		for _, q := range []string{"?status=gone", "?from=yesterday", "?service=NOPE"} {
			if r := in.Do(t, "GET", "/api/v1/changes"+q, in.AdminToken, "", nil); r.Status != 400 {
				t.Errorf("GET %s: %d", q, r.Status)
			}
		}

		// The GOCDB document, public, for existing consumers.
		r := in.Do(t, "GET", "/gocdbpi/public/?method=get_downtime&topentity=storage", "", "", nil)
		if r.Status != 200 || strings.Count(string(r.Body), "<DOWNTIME ") != 2 || !strings.Contains(string(r.Body), "<HOSTNAME>storage</HOSTNAME>") ||
			!strings.Contains(string(r.Body), `CLASSIFICATION="SCHEDULED"`) {
			t.Errorf("get_downtime: %d %s", r.Status, r.Body)
		}
		for _, q := range []string{"?method=get_site", "?method=get_downtime&ongoing_only=maybe", "?method=get_downtime&startdate=soon", "?method=get_downtime&ongoing_only=yes&startdate=2026-01-01"} {
			if r := in.Do(t, "GET", "/gocdbpi/public/"+q, "", "", nil); r.Status != 400 {
				t.Errorf("GOCDB PI %s: %d", q, r.Status)
			}
		}
		if r := in.Do(t, "GET", "/gocdbpi/public/?method=get_downtime&ongoing_only=yes", "", "", nil); strings.Count(string(r.Body), "<DOWNTIME ") != 1 {
			t.Errorf("ongoing only: %s", r.Body)
		}

		// A fresh instance imports it by URL (loopback allowed), then again
		// (unchanged), and refuses bad documents without writing.
		fresh := Start(t, e, func(cfg *config.Config) { cfg.OutboundAllow = []string{"127.0.0.0/8"} })
		changeCatalogue(t, fresh)
		url := in.URL + "/gocdbpi/public/?method=get_downtime"
		var imp importJSON
		if err := fresh.Admin.Do(ctx, "POST", "/api/v1/changes/import", map[string]string{"url": url}, &imp); err != nil || imp.Created != 2 {
			t.Fatalf("import by URL: %+v %v", imp, err)
		}
		var got struct{ Items []changeJSON }
		if err := fresh.Admin.Do(ctx, "GET", "/api/v1/changes", nil, &got); err != nil || len(got.Items) != 2 {
			t.Fatalf("imported: %+v %v", got, err)
		}
		if err := in.Admin.Do(ctx, "GET", "/api/v1/changes", nil, &list); err != nil {
			t.Fatal(err)
		}
		for i, w := range list.Items {
			g := got.Items[i]
			if g.Title != w.Title || g.Start != w.Start || g.End != w.End || g.Severity != w.Severity || g.Classification != w.Classification ||
				strings.Join(g.Services, ",") != strings.Join(w.Services, ",") {
				t.Errorf("round trip:\n got %+v\nwant %+v", g, w)
			}
		}
		doc := in.Do(t, "GET", "/gocdbpi/public/?method=get_downtime_nested_services", "", "", nil).Body
		if r := fresh.Do(t, "POST", "/api/v1/changes/import", fresh.AdminToken, "application/xml", strings.NewReader(string(doc))); r.Status != 201 || !strings.Contains(string(r.Body), `"unchanged":2`) {
			t.Errorf("import again: %d %s", r.Status, r.Body)
		}
		for name, b := range map[string]struct {
			ct, body string
			want     int
		}{
			"not XML":          {"application/xml", "hello", 400},
			"entity bomb":      {"application/xml", `<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><results><DOWNTIME ID="1"><DESCRIPTION>&b;</DESCRIPTION></DOWNTIME></results>`, 400},
			"unknown services": {"application/xml", strings.ReplaceAll(string(doc), "storage", "tape"), 422},
			"a YAML body":      {"application/yaml", "a: b", 415},
			"no URL":           {"application/json", `{}`, 400},
			"refused URL":      {"application/json", `{"url":"http://10.1.2.3/gocdbpi/public/?method=get_downtime"}`, 400},
			"file URL":         {"application/json", `{"url":"file:///etc/passwd"}`, 400},
		} {
			r := fresh.Do(t, "POST", "/api/v1/changes/import", fresh.AdminToken, b.ct, strings.NewReader(b.body))
			if r.Status != b.want {
				t.Errorf("import %s: %d %s, want %d", name, r.Status, r.Body, b.want)
			}
			if name == "unknown services" && !strings.Contains(string(r.Body), "downtime ") {
				t.Errorf("the refusal does not name the downtimes: %s", r.Body)
			}
		}
		if r := fresh.Do(t, "POST", "/api/v1/changes/import", "", "application/xml", strings.NewReader(string(doc))); r.Status != 401 {
			t.Errorf("import without a token: %d", r.Status)
		}
		if err := fresh.Admin.Do(ctx, "GET", "/api/v1/changes", nil, &got); err != nil || len(got.Items) != 2 {
			t.Errorf("refused imports wrote: %d %v", len(got.Items), err)
		}
	})
}

// TestChangesOnStaffTicketPage: the staff ticket page shows the open and
// recent changes of the ticket's service at phone width, in their own time
// zone, without spilling out of 390 px.
func TestChangesOnStaffTicketPage(t *testing.T) {
	open := testenv.Browser(t)
	ctx := context.Background()
	in := Start(t, SQLite)
	changeCatalogue(t, in)
	const pw = "correct horse battery staple"
	sam, err := in.Admin.CreateUser(ctx, client.NewUser{Email: "sam@example.org", Name: "Sam", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	in.AddMember(t, "net", sam.ID, "member")
	now := time.Now().UTC().Truncate(time.Hour)
	for _, c := range []map[string]any{
		{"title": "Storage firmware <upgrade> of every controller in both data centres", "description": "Rolling", "services": []string{"storage"},
			"start": now.Add(30 * time.Hour).Format(time.RFC3339), "end": now.Add(33 * time.Hour).Format(time.RFC3339), "severity": "outage", "time_zone": "Europe/Amsterdam"},
		{"title": "Compute reboot", "description": "Kernel", "services": []string{"compute"},
			"start": now.Add(30 * time.Hour).Format(time.RFC3339), "end": now.Add(31 * time.Hour).Format(time.RFC3339), "severity": "warning"},
	} {
		if err := in.Admin.Do(ctx, "POST", "/api/v1/changes", c, nil); err != nil {
			t.Fatal(err)
		}
	}
	tk, err := in.Admin.CreateTicket(ctx, client.NewTicket{Subject: "slow uploads", Body: "since this morning", Service: "storage"})
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := open()
	defer cancel()
	var notes string
	var scroll int64
	err = chromedp.Run(bctx,
		chromedp.EmulateViewport(390, 900),
		chromedp.Navigate(in.URL+"/login"),
		chromedp.WaitVisible(`#email`, chromedp.ByID),
		chromedp.SendKeys(`#email`, "sam@example.org", chromedp.ByID),
		chromedp.SendKeys(`#password`, pw, chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`.nav`, chromedp.ByQuery),
		chromedp.Navigate(fmt.Sprintf("%s/tickets/%d", in.URL, tk.ID)),
		chromedp.WaitVisible(`.svc-changes`, chromedp.ByQuery),
		chromedp.Text(`.service-notices`, &notes, chromedp.ByQuery),
		chromedp.ScrollIntoView(`.svc-changes`, chromedp.ByQuery),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &scroll),
		testenv.Screenshot(t, "changes", "staff-ticket-changes-390"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notes, "Storage firmware <upgrade>") || !strings.Contains(notes, "Europe/Amsterdam") || strings.Contains(notes, "Compute reboot") {
		t.Errorf("staff ticket page changes: %q", notes)
	}
	if scroll > 390 {
		t.Errorf("the staff ticket page is %d px wide at 390 px", scroll)
	}
}
