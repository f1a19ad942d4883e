package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/testenv"
)

// TestStatuspageClient reads the status page with a real Statuspage
// client from the npm registry (statuspage.io, run by node): every
// document it asks for answers, and has every field that the client's own
// type declarations promise (testdata/statuspage_client.js checks them),
// with an incident, an upcoming and an active maintenance on the page.
func TestStatuspageClient(t *testing.T) {
	node, modules := testenv.StatuspageClient(t)
	in := Start(t, SQLite)
	in.NewUnit(t, "net", false)
	in.NewService(t, "storage", "net")
	in.NewService(t, "compute", "net")
	in.NewService(t, "portal", "net")
	ctx := context.Background()
	var inc struct {
		ID int64 `json:"id"`
	}
	if err := in.Admin.Do(ctx, "POST", "/api/v1/incidents", map[string]any{"title": "Slow storage", "impact": "major", "body": "Looking.",
		"components": []map[string]string{{"service": "storage", "status": "partial_outage"}}}, &inc); err != nil {
		t.Fatal(err)
	}
	if err := in.Admin.Do(ctx, "POST", fmt.Sprintf("/api/v1/incidents/%d/updates", inc.ID), map[string]any{"status": "identified", "body": "A full disk."}, nil); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	change := func(start, end time.Duration, svc string) {
		t.Helper()
		if err := in.Admin.Do(ctx, "POST", "/api/v1/changes", map[string]any{"title": "Upgrade " + svc, "description": "Rolling.",
			"services": []string{svc}, "severity": "outage", "start": now.Add(start).Format(time.RFC3339), "end": now.Add(end).Format(time.RFC3339)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	change(-time.Minute, 2*time.Hour, "compute") // in progress
	change(30*time.Hour, 33*time.Hour, "portal") // upcoming
	waitComponents(t, in, map[string]string{"storage": "partial_outage", "compute": "under_maintenance", "portal": "operational"})

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "statuspage_client.js"), in.URL)
	cmd.Env = append(cmd.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the Statuspage client: %v\n%s", err, out)
	}
	var got struct {
		SummaryIncidents    int      `json:"summary_incidents"`
		SummaryMaintenances int      `json:"summary_maintenances"`
		Components          int      `json:"components"`
		Statuses            []string `json:"statuses"`
		Incidents           int      `json:"incidents.json"`
		Unresolved          int      `json:"incidents/unresolved.json"`
		Maintenances        int      `json:"scheduled-maintenances.json"`
		Upcoming            int      `json:"scheduled-maintenances/upcoming.json"`
		Active              int      `json:"scheduled-maintenances/active.json"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(out))), &got); err != nil {
		t.Fatalf("the client printed %q: %v", out, err)
	}
	t.Logf("read by statuspage.io: %s", strings.TrimSpace(string(out)))
	want := []string{"Service compute=under_maintenance", "Service portal=operational", "Service storage=partial_outage"}
	if got.Components != 3 || strings.Join(got.Statuses, ",") != strings.Join(want, ",") {
		t.Errorf("components through the client: %d %v, want %v", got.Components, got.Statuses, want)
	}
	if got.SummaryIncidents != 1 || got.Incidents != 1 || got.Unresolved != 1 {
		t.Errorf("incidents through the client: %+v", got)
	}
	if got.SummaryMaintenances != 2 || got.Maintenances != 2 || got.Upcoming != 1 || got.Active != 1 {
		t.Errorf("maintenances through the client: %+v", got)
	}
}
