package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/importer"
)

const importUsage = "helpmesh import --from rt5|redmine5 --url URL --token T (--queue Q | --project P) --unit SLUG"

// importFlags are what `helpmesh import` reads from.
type importFlags struct {
	from, url, token, queue, project, unit string
}

// origin names what an import copies: the kind, the URL (without
// credentials, query or trailing slash) and the queue or project.
func (f importFlags) origin() string {
	u, _ := url.Parse(f.url)
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	part := f.queue
	if f.from == "redmine5" {
		part = f.project
	}
	return f.from + " " + strings.TrimRight(u.String(), "/") + " " + part
}

func (f importFlags) check() error {
	switch f.from {
	case "rt5":
		if f.queue == "" || f.project != "" {
			return fmt.Errorf("%w: --from rt5 takes --queue (and no --project)", errUsage)
		}
	case "redmine5":
		if f.project == "" || f.queue != "" {
			return fmt.Errorf("%w: --from redmine5 takes --project (and no --queue)", errUsage)
		}
	case "":
		return fmt.Errorf("%w: --from is required (rt5 or redmine5)", errUsage)
	default:
		return fmt.Errorf("%w: --from %q: the systems helpmesh imports from are rt5 and redmine5", errUsage, f.from)
	}
	u, err := url.Parse(f.url)
	switch {
	case f.url == "":
		return fmt.Errorf("%w: --url is required", errUsage)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("%w: --url %q is not an http or https URL", errUsage, f.url)
	case f.token == "":
		return fmt.Errorf("%w: --token is required (or HELPMESH_IMPORT_TOKEN)", errUsage)
	case f.unit == "":
		return fmt.Errorf("%w: --unit is required: the unit that gets the tickets", errUsage)
	}
	return nil
}

func importCmd(ctx context.Context, e env, args []string) error {
	var f importFlags
	cfg, rest, err := load(e, "import", args, func(fs *flag.FlagSet) {
		fs.StringVar(&f.from, "from", "", "the system to copy from: rt5 or redmine5")
		fs.StringVar(&f.url, "url", "", "its base URL (RT: without /REST/2.0)")
		fs.StringVar(&f.token, "token", "", "an auth token (RT) or API key (Redmine) that reads the queue or project; HELPMESH_IMPORT_TOKEN")
		fs.StringVar(&f.queue, "queue", "", "the RT queue to copy")
		fs.StringVar(&f.project, "project", "", "the Redmine project (identifier) to copy")
		fs.StringVar(&f.unit, "unit", "", "the slug of the unit that gets the tickets")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, rest)
	}
	if f.token == "" {
		f.token = e.getenv("HELPMESH_IMPORT_TOKEN")
	}
	if err := f.check(); err != nil {
		return err
	}
	a, err := openApp(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.Units.Unit(ctx, f.unit)
	if apperr.Is(err, apperr.NotFound) {
		return fmt.Errorf("no unit %q: create it first (admin pages or POST /api/v1/units)", f.unit)
	}
	if err != nil {
		return err
	}
	src, err := a.Source(connector.Config{Name: "import", Kind: f.from, URL: f.url, Token: f.token, Queue: f.queue, Project: f.project})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "import: copying %s into unit %s\n", f.origin(), u.Slug)
	sum, err := importer.Import(ctx, importer.Deps{DB: a.DB, Tickets: a.Tickets, Users: a.Users, Blobs: a.Blobs, MaxUpload: a.Config.MaxUploadBytes},
		src, importer.Run{Origin: f.origin(), Name: f.from + " " + hostOf(f.url), UnitID: u.ID, Progress: e.stderr, ProgressEvery: 2 * time.Second})
	for _, w := range sum.Warnings {
		fmt.Fprintf(e.stderr, "import: warning: %s\n", w)
	}
	fmt.Fprintf(e.stdout, "import: %s\n", sum)
	if err != nil {
		return fmt.Errorf("stopped after %d tickets (run it again to go on): %w", sum.Seen, err)
	}
	if sum.Failed > 0 {
		return errors.New("some tickets could not be copied (see the warnings)")
	}
	return nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Host
}
