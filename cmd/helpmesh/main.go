// Command helpmesh is a federated helpdesk in one binary: web portal, REST
// API and email gateway on SQLite (no configuration) or PostgreSQL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/helpmesh/helpmesh/internal/app"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/observe"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, environ: os.Environ()}, os.Args[1:])
	stop()
	os.Exit(code)
}

// env is what every command gets.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// environ is the whole environment ("NAME=value"), read for misspelt
	// HELPMESH_* names.
	environ []string
}

type command struct {
	summary string
	usage   string
	run     func(ctx context.Context, e env, args []string) error
}

// commands lists the subcommands; "user" and "token" have their own.
var commands = map[string]command{
	"serve":            {"start the web portal, REST API and mail gateway", "helpmesh serve [flags]", serve},
	"migrate":          {"apply database migrations and exit", "helpmesh migrate [flags]", migrate},
	"user":             {"manage users: user add", "helpmesh user add --email ADDR --name NAME [--role user|admin] [--password-stdin]", userCmd},
	"token":            {"manage API tokens: token create", "helpmesh token create --email ADDR [--name NAME] [--scope read|write]", tokenCmd},
	"version":          {"print the version", "helpmesh version", version},
	"bench":            {"load a running server and print ops/s and latencies; seed tickets", benchUsage, bench},
	"import":           {"copy the tickets of a Request Tracker 5 queue or a Redmine 5 project", importUsage, importCmd},
	"import-downtimes": {"import a GOCDB downtime XML document (get_downtime) as changes", downtimesUsage, importDowntimes},
	"backup":           {"write the database (a SQLite copy or pg_dump) and the attachments into a tar", "helpmesh backup [flags] FILE.tar", backupCmd},
	"restore":          {"restore a backup into a data directory without a database, or an empty PostgreSQL database", "helpmesh restore [flags] [--force] FILE.tar", restoreCmd},
	"mailgate":         {"deliver one mail read on stdin (an MTA pipe alias)", "helpmesh mailgate [--sender ADDR] [RECIPIENT...] < message", mailgate},
}

// errUsage marks an error in the command line: exit code 2.
var errUsage = errors.New("usage")

// errConfig marks a mistake in the configuration (a setting, the data
// directory): exit code 2 like a usage error, without the usage line.
var errConfig = errors.New("configuration")

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return dispatch(ctx, env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}, args)
}

// dispatch runs the command named by args[0] and returns the exit code: 0
// done, 1 a failure at run time, 2 a mistake in the command line or the
// configuration.
func dispatch(ctx context.Context, e env, args []string) int {
	stdout, stderr := e.stdout, e.stderr
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "helpmesh: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := c.run(ctx, e, args[1:])
	var code exitCode
	switch {
	case errors.As(err, &code):
		return int(code)
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "helpmesh %s: %v\nusage: %s\n", args[0], err, c.usage)
		return 2
	case errors.Is(err, errConfig), errors.Is(err, db.ErrNewerSchema):
		fmt.Fprintf(stderr, "helpmesh %s: %v\n", args[0], err)
		return 2
	}
	fmt.Fprintf(stderr, "helpmesh %s: %v\n", args[0], err)
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `helpmesh: a federated helpdesk for research infrastructures.

Usage: helpmesh <command> [flags]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s %s\n", width, n, commands[n].summary)
	}
	fmt.Fprintf(w, `
With no configuration, "helpmesh serve" keeps its data in ./helpmesh-data
(SQLite) and serves http://127.0.0.1:8080. Every flag has a HELPMESH_*
environment variable; run "helpmesh <command> -h" for its flags.
`)
}

// load parses the common flags (--data, --db, --http, --smtp, --base-url)
// and the environment into a validated configuration.
func load(e env, name string, args []string, extra func(fs *flag.FlagSet)) (config.Config, []string, error) {
	fs := flag.NewFlagSet("helpmesh "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage of helpmesh %s:\n", name)
		fs.PrintDefaults()
		config.PrintVariables(fs.Output())
	}
	if extra != nil {
		extra(fs)
	}
	cfg, err := config.Load(fs, args, e.getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, nil, err
		}
		return cfg, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, fmt.Errorf("%w: invalid:\n  %s", errConfig, strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return cfg, fs.Args(), nil
}

// logger writes text or JSON (HELPMESH_LOG_FORMAT) at HELPMESH_LOG_LEVEL,
// durations in human units in both.
func logger(cfg config.Config, w io.Writer) *slog.Logger {
	return observe.NewLogger(w, cfg.LogFormat, cfg.LogLevel)
}

func serve(ctx context.Context, e env, args []string) error {
	cfg, rest, err := load(e, "serve", args, nil)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, rest)
	}
	log := logger(cfg, e.stderr)
	logStart(log, cfg, e.environ)
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(ctx)
}

// logStart logs the version, a summary of the configuration and what
// about it the operator should hear.
func logStart(log *slog.Logger, cfg config.Config, environ []string) {
	engine, relay := "sqlite", "none (mail stays in the outbox)"
	if cfg.IsPostgres() {
		engine = "postgres"
	}
	if cfg.SMTPRelay != "" {
		relay = "set"
	}
	log.Info("helpmesh starting", "version", buildVersion(), "db", engine, "data", cfg.DataDir, "attachments", cfg.AttachmentsDir(), "http", cfg.HTTPAddr,
		"base_url", cfg.PublicURL(), "smtp", cfg.SMTPAddr, "relay", relay, "mail_domain", cfg.Domain(),
		"mail_batch", cfg.MailBatch.String(), "log_level", cfg.LogLevel, "trusted_proxies", len(cfg.TrustedProxies),
		"oidc_providers", len(cfg.OIDC))
	for _, w := range cfg.Warnings(environ) {
		log.Warn(w)
	}
}

func migrate(ctx context.Context, e env, args []string) error {
	cfg, _, err := load(e, "migrate", args, nil)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, logger(cfg, e.stderr))
	if err != nil {
		return err
	}
	defer a.Close()
	fmt.Fprintf(e.stdout, "database is up to date (%s)\n", a.DB.Engine)
	return nil
}

func version(ctx context.Context, e env, args []string) error {
	fmt.Fprintln(e.stdout, "helpmesh", buildVersion())
	return nil
}

// linkedVersion and linkedCommit are set when building a release:
//
//	go build -ldflags "-X main.linkedVersion=v1.2.0 -X main.linkedCommit=$(git rev-parse HEAD)"
//
// Without them the module version and the VCS revision Go records are used.
var linkedVersion, linkedCommit string

// buildVersion is "VERSION COMMIT GOVERSION" of this binary.
func buildVersion() string {
	v, commit, goVersion := linkedVersion, linkedCommit, "go?"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && commit == "" {
				commit = s.Value
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if commit == "" {
		commit = "(unknown commit)"
	}
	return v + " " + commit + " " + goVersion
}
