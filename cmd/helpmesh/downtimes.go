package main

import (
	"context"
	"fmt"
	"os"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/change"
)

const downtimesUsage = "helpmesh import-downtimes [flags] FILE.xml"

// importDowntimes reads a GOCDB downtime document (get_downtime output)
// from a file and imports its downtimes as changes, all or none, as the
// importer: a downtime already imported (by GOCDB ID) is updated.
func importDowntimes(ctx context.Context, e env, args []string) error {
	cfg, rest, err := load(e, "import-downtimes", args, nil)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("%w: give one GOCDB downtime XML file", errUsage)
	}
	f, err := os.Open(rest[0])
	if err != nil {
		return err
	}
	defer f.Close()
	dts, err := change.ParseGOCDB(f)
	if err != nil {
		return fmt.Errorf("%s: %w", rest[0], err)
	}
	a, err := openApp(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	got, err := a.Changes.ImportGOCDB(ctx, auth.Importer("gocdb file "+rest[0]), dts)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, g := range got {
		counts[g.Action]++
		fmt.Fprintf(e.stdout, "downtime %s: change %d %s\n", g.GOCDBID, g.ID, g.Action)
	}
	fmt.Fprintf(e.stdout, "import-downtimes: %d created, %d updated, %d unchanged\n", counts["created"], counts["updated"], counts["unchanged"])
	return nil
}
