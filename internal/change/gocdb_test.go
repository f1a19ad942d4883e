package change

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

func readSample(t testing.TB) []byte {
	b, err := os.ReadFile("testdata/gocdb_downtime.xml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseGOCDB(t *testing.T) {
	dts, err := ParseGOCDB(bytes.NewReader(readSample(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(dts) != 2 {
		t.Fatalf("%d downtimes, want 2 (entries of one ID merged): %+v", len(dts), dts)
	}
	d := dts[0]
	if d.ID != "31337" || d.Classification != Scheduled || d.Severity != "outage" || d.Description != "Kernel upgrade & reboot <all nodes>" ||
		!d.Start.Equal(time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)) || len(d.Endpoints) != 2 || d.Endpoints[1] != (Endpoint{"se01.example.org", "storage"}) {
		t.Errorf("first: %+v", d)
	}
	if dts[1].Severity != "warning" || dts[1].Endpoints[0].Hostname != "compute" {
		t.Errorf("nested: %+v", dts[1])
	}
	for name, doc := range map[string]string{
		"not XML":     "hello, world",
		"JSON":        `{"results": []}`,
		"other root":  `<html><body/></html>`,
		"unclosed":    `<results><DOWNTIME ID="1">`,
		"bad date":    `<results><DOWNTIME ID="1"><SEVERITY>OUTAGE</SEVERITY><START_DATE>yesterday</START_DATE><END_DATE>1</END_DATE><HOSTNAME>a</HOSTNAME></DOWNTIME></results>`,
		"no service":  `<results><DOWNTIME ID="1"><SEVERITY>OUTAGE</SEVERITY><START_DATE>1</START_DATE><END_DATE>2</END_DATE></DOWNTIME></results>`,
		"no ID":       `<results><DOWNTIME><SEVERITY>OUTAGE</SEVERITY><START_DATE>1</START_DATE><END_DATE>2</END_DATE><HOSTNAME>a</HOSTNAME></DOWNTIME></results>`,
		"bad severe":  `<results><DOWNTIME ID="1"><SEVERITY>DOOM</SEVERITY><START_DATE>1</START_DATE><END_DATE>2</END_DATE><HOSTNAME>a</HOSTNAME></DOWNTIME></results>`,
		"entity bomb": `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><results><DOWNTIME ID="1"><DESCRIPTION>&lol2;</DESCRIPTION></DOWNTIME></results>`,
		"external":    `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><results><DOWNTIME ID="1"><DESCRIPTION>&x;</DESCRIPTION></DOWNTIME></results>`,
		"empty":       "",
	} {
		if _, err := ParseGOCDB(strings.NewReader(doc)); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	huge := "<results>" + strings.Repeat("<x>padding</x>", MaxGOCDBBytes/14+10) + "</results>"
	if _, err := ParseGOCDB(strings.NewReader(huge)); !apperr.Is(err, apperr.TooLarge) {
		t.Errorf("huge: %v, want too large", err)
	}
}

func TestImportGOCDB(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		dts, err := ParseGOCDB(bytes.NewReader(readSample(t)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.ImportGOCDB(ctx, f.outsider, dts); !apperr.Is(err, apperr.Forbidden) {
			t.Errorf("outsider: %v", err)
		}
		got, err := f.s.ImportGOCDB(ctx, auth.Importer("gocdb"), dts)
		if err != nil || len(got) != 2 || got[0].Action != "created" || got[1].Action != "created" {
			t.Fatalf("import: %+v %v", got, err)
		}
		c, err := f.s.Get(ctx, got[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.GOCDBID != "31337" || c.Title != "Kernel upgrade & reboot <all nodes>" || c.Classification != Scheduled || c.Status != Approved ||
			strings.Join(c.Slugs(), ",") != "ce01-example-org,storage" {
			t.Errorf("imported: %+v", c)
		}
		// Idempotent by GOCDB ID: again, nothing changes; a changed end updates.
		if got, err = f.s.ImportGOCDB(ctx, auth.Importer("gocdb"), dts); err != nil || got[0].Action != "unchanged" || got[1].Action != "unchanged" {
			t.Errorf("again: %+v %v", got, err)
		}
		dts[0].End = dts[0].End.Add(-time.Hour)
		if got, err = f.s.ImportGOCDB(ctx, auth.Importer("gocdb"), dts); err != nil || got[0].Action != "updated" || got[1].Action != "unchanged" {
			t.Errorf("changed: %+v %v", got, err)
		}
		// One bad entry refuses the whole document, naming each failure.
		bad := append([]Downtime{}, dts...)
		bad = append(bad, Downtime{ID: "9", Severity: "outage", Classification: Scheduled, Description: "x", Start: f.t0.Add(100 * time.Hour), End: f.t0.Add(101 * time.Hour),
			Inserted: f.t0, Endpoints: []Endpoint{{"unknown.example.org", "NOPE"}}},
			Downtime{ID: "10", Severity: "outage", Description: "y", Start: f.t0.Add(100 * time.Hour), End: f.t0.Add(99 * time.Hour), Inserted: f.t0, Endpoints: []Endpoint{{"compute", ""}}})
		bad[0].End = bad[0].End.Add(time.Hour)
		_, err = f.s.ImportGOCDB(ctx, auth.Importer("gocdb"), bad)
		if !apperr.Is(err, apperr.Unprocessable) || !strings.Contains(err.Error(), "downtime 9:") || !strings.Contains(err.Error(), "downtime 10:") || !strings.Contains(err.Error(), "unknown.example.org") {
			t.Errorf("bad entries: %v", err)
		}
		if c, _ := f.s.Get(ctx, got[0].ID); !c.End.Equal(dts[0].End) {
			t.Errorf("a refused import changed downtime 31337: %s", c.End)
		}
		// An overlap inside the document rolls the whole import back.
		clash := []Downtime{{ID: "11", Severity: "outage", Description: "a", Start: f.t0.Add(200 * time.Hour), End: f.t0.Add(202 * time.Hour), Inserted: f.t0, Endpoints: []Endpoint{{"compute", ""}}},
			{ID: "12", Severity: "outage", Description: "b", Start: f.t0.Add(201 * time.Hour), End: f.t0.Add(203 * time.Hour), Inserted: f.t0, Endpoints: []Endpoint{{"compute", ""}}}}
		if _, err := f.s.ImportGOCDB(ctx, auth.Importer("gocdb"), clash); !apperr.Is(err, apperr.Conflict) || !strings.Contains(err.Error(), "downtime 12") {
			t.Errorf("overlap in document: %v", err)
		}
		if all, _ := f.s.List(ctx, Filter{}); len(all) != 2 {
			t.Errorf("%d changes after refused imports, want 2", len(all))
		}
	})
}

// TestGOCDBRoundTrip exports the changes of one instance and imports them
// into a fresh one: the same changes come out.
func TestGOCDBRoundTrip(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		src := newFixture(t, d)
		h := time.Hour
		if _, err := src.declare(src.member, "Storage upgrade", src.t0.Add(48*h), src.t0.Add(50*h), "storage", "compute"); err != nil {
			t.Fatal(err)
		}
		if _, err := src.s.Create(ctx, src.member, Fields{Title: ptr("DNS <warning>"), Description: ptr("DNS <warning>"), Severity: ptr("warning"),
			Start: ptr(src.t0.Add(2 * h)), End: ptr(src.t0.Add(3 * h)), Services: ptr([]string{"ce01-example-org"})}); err != nil {
			t.Fatal(err)
		}
		want, err := src.s.List(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, nested := range []bool{false, true} {
			var buf bytes.Buffer
			if err := WriteGOCDB(&buf, want, nested, "https://helpdesk.example.org/changes"); err != nil {
				t.Fatal(err)
			}
			dts, err := ParseGOCDB(&buf)
			if err != nil {
				t.Fatalf("nested %v: %v\n%s", nested, err, buf.String())
			}
			dst := newFixture(t, dbtest.Open(t, t.TempDir()+"/fresh.db"))
			if _, err := dst.s.ImportGOCDB(ctx, auth.Importer("gocdb"), dts); err != nil {
				t.Fatal(err)
			}
			got, err := dst.s.List(ctx, Filter{})
			if err != nil || len(got) != len(want) {
				t.Fatalf("nested %v: %d changes, want %d (%v)", nested, len(got), len(want), err)
			}
			for i := range want {
				w, g := want[i], got[i]
				if g.Title != w.Title || g.Description != w.Description || g.Severity != w.Severity || g.Classification != w.Classification ||
					!g.Start.Equal(w.Start) || !g.End.Equal(w.End) || !g.DeclaredAt.Equal(w.DeclaredAt) || strings.Join(g.Slugs(), ",") != strings.Join(w.Slugs(), ",") ||
					g.GOCDBID != w.ExportID() {
					t.Errorf("nested %v: round trip\n got %+v\nwant %+v", nested, g, w)
				}
			}
		}
	})
}

func FuzzGOCDBParse(f *testing.F) {
	f.Add(readSample(f))
	f.Add([]byte(`<results><DOWNTIME ID="1" CLASSIFICATION="SCHEDULED"><SEVERITY>OUTAGE</SEVERITY><START_DATE>1</START_DATE><END_DATE>2</END_DATE><SERVICES><SERVICE><HOSTNAME>a</HOSTNAME></SERVICE></SERVICES></DOWNTIME></results>`))
	f.Add([]byte(`<results/>`))
	f.Add([]byte(`<!DOCTYPE r [<!ENTITY a "b">]><results>&a;</results>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dts, err := ParseGOCDB(bytes.NewReader(b))
		if err != nil {
			if k := apperr.KindOf(err); k != apperr.Invalid && k != apperr.TooLarge {
				t.Fatalf("error of kind %s: %v", k, err)
			}
			return
		}
		for _, d := range dts {
			if d.ID == "" || len(d.Endpoints) == 0 {
				t.Fatalf("accepted a downtime without ID or services: %+v", d)
			}
			if d.Severity != "outage" && d.Severity != "warning" {
				t.Fatalf("severity %q", d.Severity)
			}
		}
		// What was parsed writes and parses back to the same downtimes.
		var cs []*Change
		for i, d := range dts {
			c := &Change{ID: int64(i + 1), GOCDBID: d.ID, Severity: d.Severity, Classification: d.Classification, Start: d.Start, End: d.End, DeclaredAt: d.Inserted}
			c.Title, c.Description = SplitGOCDBDescription(d.Description)
			cs = append(cs, c)
		}
		var buf bytes.Buffer
		if err := WriteGOCDB(&buf, cs, true, ""); err != nil {
			t.Fatal(err)
		}
	})
}
