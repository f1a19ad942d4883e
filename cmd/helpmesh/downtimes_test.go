package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// TestImportDowntimesCommand imports the GOCDB sample file twice (created,
// then unchanged) and refuses a file that is not a GOCDB document.
func TestImportDowntimesCommand(t *testing.T) {
	dataDir := t.TempDir()
	env := map[string]string{"HELPMESH_DATA": dataDir, "HELPMESH_DB": apptest.DSN(t, apptest.SQLite)}
	a, _ := serveCLIData(t, env)
	ctx := context.Background()
	u, err := a.Units.CreateUnit(ctx, unit.Unit{Slug: "net", Name: "Network"})
	if err != nil {
		t.Fatal(err)
	}
	for _, slug := range []string{"storage", "compute", "ce01-example-org"} {
		if _, err := a.Units.CreateService(ctx, unit.Service{Slug: slug, Name: slug, UnitID: u.ID, UnitSlug: "net"}); err != nil {
			t.Fatal(err)
		}
	}
	sample := filepath.Join("..", "..", "internal", "change", "testdata", "gocdb_downtime.xml")
	code, out, errs := cli(t, env, "", "import-downtimes", sample)
	if code != 0 || !strings.Contains(out, "2 created, 0 updated, 0 unchanged") {
		t.Fatalf("import-downtimes: %d %q %q", code, out, errs)
	}
	if code, out, errs = cli(t, env, "", "import-downtimes", sample); code != 0 || !strings.Contains(out, "0 created, 0 updated, 2 unchanged") {
		t.Errorf("again: %d %q %q", code, out, errs)
	}
	bad := filepath.Join(t.TempDir(), "bad.xml")
	if err := os.WriteFile(bad, []byte("<html/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs = cli(t, env, "", "import-downtimes", bad); code != 1 || !strings.Contains(errs, "not a GOCDB downtime document") {
		t.Errorf("not GOCDB: %d %q", code, errs)
	}
	if code, _, _ = cli(t, env, "", "import-downtimes"); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
}
