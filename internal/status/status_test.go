package status

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/incident"
	"github.com/helpmesh/helpmesh/internal/unit"
)

type fakeSource struct {
	down      bool
	services  []*unit.Service
	incidents []*incident.Incident
	outages   []incident.Outage
	ms        []Maintenance
}

var errDown = errors.New("database down")

func (f *fakeSource) Services(context.Context) ([]*unit.Service, error) {
	if f.down {
		return nil, errDown
	}
	return f.services, nil
}

func (f *fakeSource) List(_ context.Context, fl incident.Filter) ([]*incident.Incident, error) {
	var out []*incident.Incident
	for _, in := range f.incidents {
		if !fl.Unresolved || in.Status != incident.Resolved {
			out = append(out, in)
		}
	}
	return out, nil
}

func (f *fakeSource) Outages(context.Context, time.Time) ([]incident.Outage, error) {
	return f.outages, nil
}

func (f *fakeSource) Maintenances(context.Context, time.Time) ([]Maintenance, error) {
	return f.ms, nil
}

var now = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func TestBarsLeaveOutAnnouncedMaintenance(t *testing.T) {
	day0 := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	end := day0.Add(12 * time.Hour)
	outages := []incident.Outage{{ServiceID: 1, Worst: incident.MajorOutage, Start: day0, End: &end}}
	// Six of the twelve hours were announced maintenance.
	ms := []Maintenance{{ID: 1, Status: "completed", Outage: true, Services: []int64{1}, Start: day0, End: day0.Add(6 * time.Hour)}}
	b := bars(now, []int64{1, 2}, outages, ms)
	if len(b[1]) != Days || len(b[2]) != Days {
		t.Fatalf("days: %d %d", len(b[1]), len(b[2]))
	}
	yesterday := b[1][Days-2]
	if !yesterday.Date.Equal(day0) || math.Abs(yesterday.Availability-0.75) > 1e-9 || yesterday.Worst != incident.MajorOutage {
		t.Errorf("yesterday: %+v, want 75 %% (6 h of 24 down)", yesterday)
	}
	if b[1][Days-1].Availability != 1 || b[2][Days-2].Availability != 1 {
		t.Errorf("other days are not touched: %+v %+v", b[1][Days-1], b[2][Days-2])
	}
	// A partial outage counts at 30 %; degraded performance not at all.
	outages = []incident.Outage{{ServiceID: 1, Worst: incident.PartialOutage, Start: day0, End: &end}, {ServiceID: 2, Worst: incident.DegradedPerformance, Start: day0}}
	b = bars(now, []int64{1, 2}, outages, nil)
	if a := b[1][Days-2].Availability; math.Abs(a-0.85) > 1e-9 {
		t.Errorf("partial outage: %v, want 0.85", a)
	}
	if a := b[2][Days-1].Availability; a != 1 || b[2][Days-1].Worst != incident.DegradedPerformance {
		t.Errorf("degraded: %+v", b[2][Days-1])
	}
}

func testSource() *fakeSource {
	created := now.Add(-time.Hour)
	return &fakeSource{
		services: []*unit.Service{{ID: 1, Slug: "storage", Name: "Storage <S3>", CreatedAt: created, UpdatedAt: created}, {ID: 2, Slug: "compute", Name: "Compute", CreatedAt: created, UpdatedAt: created}},
		incidents: []*incident.Incident{{ID: 7, Title: `Disks "full" & slow`, Impact: "major", Status: incident.Identified, CreatedAt: created, UpdatedAt: created,
			Components: []incident.Component{{ServiceID: 1, Service: "storage", Name: "Storage <S3>", Status: incident.PartialOutage, Worst: incident.PartialOutage, StartedAt: created}},
			Updates:    []incident.Update{{ID: 9, Status: incident.Identified, Body: "Line one\n<script>x</script>", Components: []incident.ComponentChange{{Service: "storage", Status: incident.PartialOutage}}, CreatedAt: created}}}},
		ms: []Maintenance{{ID: 3, Title: "Kernel, upgrade; reboot", Description: "All nodes", Status: "in_progress", Outage: true, Services: []int64{2},
			Start: now.Add(-time.Minute), End: now.Add(time.Hour), CreatedAt: created, UpdatedAt: created}},
	}
}

func TestPageRendersEscapesAndCaches(t *testing.T) {
	src := testSource()
	clock := now
	p := New(Options{Services: src, Incidents: src, Maintenances: src, URL: "https://help.example.org/status", StaticDir: t.TempDir(),
		Now: func() time.Time { return clock }})
	ctx := context.Background()
	html, ok, err := p.Document(ctx, PageHTML)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	body := string(html.Body)
	for _, want := range []string{"Disks &#34;full&#34; &amp; slow", "Storage &lt;S3&gt;", "&lt;script&gt;x&lt;/script&gt;", "Partial System Outage", "Kernel, upgrade; reboot"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("page holds an unescaped script")
	}
	var comps struct{ Components []struct{ ID, Status string } }
	d, _, _ := p.Document(ctx, "components.json")
	if err := json.Unmarshal(d.Body, &comps); err != nil {
		t.Fatal(err)
	}
	if comps.Components[0].Status != "partial_outage" || comps.Components[1].Status != "under_maintenance" {
		t.Errorf("components: %+v", comps)
	}
	ics, _, _ := p.Document(ctx, MaintenanceICS)
	if !strings.Contains(string(ics.Body), `SUMMARY:[OUTAGE] Kernel\, upgrade\; reboot`) {
		t.Errorf("ics: %s", ics.Body)
	}

	// Cached until invalidated.
	src.incidents[0].Title = "Renamed"
	if d, _, _ := p.Document(ctx, PageHTML); strings.Contains(string(d.Body), "Renamed") {
		t.Error("rendered again without a change")
	}
	p.Invalidate()
	if d, _, _ := p.Document(ctx, PageHTML); !strings.Contains(string(d.Body), "Renamed") {
		t.Error("not rendered again after Invalidate")
	}

	// The database goes down: the last rendering is served, marked stale,
	// also by a new process that has only the static copy.
	src.down = true
	p.Invalidate()
	d, ok, err = p.Document(ctx, "summary.json")
	if err != nil || !ok || !d.Stale || !strings.Contains(string(d.Body), "Renamed") {
		t.Fatalf("database down: %v %v %+v", ok, err, d.Stale)
	}
	fresh := New(Options{Services: src, Incidents: src, StaticDir: p.opts.StaticDir, Now: func() time.Time { return clock }})
	d, ok, err = fresh.Document(ctx, PageHTML)
	if err != nil || !ok || !d.Stale || !strings.Contains(string(d.Body), "Renamed") || !strings.HasPrefix(d.ContentType, "text/html") {
		t.Fatalf("static copy after a restart: %v %v %v", ok, err, d.Stale)
	}
	src.down = false
	clock = clock.Add(time.Minute) // past the TTL
	if d, _, _ := p.Document(ctx, PageHTML); d.Stale {
		t.Error("still stale once the database answers")
	}
}
