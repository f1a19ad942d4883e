package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/app"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
)

// cli runs the command in-process with the environment env and stdin.
func cli(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestCLIUsage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		env       map[string]string
		args      []string
		code      int
		out, errs string // substrings of stdout and stderr
		notOut    string
	}{
		{"no arguments", nil, nil, 2, "Commands:", "", ""},
		{"--help", nil, []string{"--help"}, 0, "serve", "", ""},
		{"-h", nil, []string{"-h"}, 0, "migrate", "", ""},
		{"help", nil, []string{"help"}, 0, "token", "", ""},
		{"version", nil, []string{"version"}, 0, "helpmesh ", "", ""},
		{"unknown command", nil, []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`, ""},
		{"serve --help", nil, []string{"serve", "--help"}, 0, "", "-http", ""},
		{"migrate -h", nil, []string{"migrate", "-h"}, 0, "", "HELPMESH_DB", ""},
		{"serve bad flag", nil, []string{"serve", "--bogus"}, 2, "", "flag provided but not defined: -bogus", ""},
		{"serve extra argument", map[string]string{"HELPMESH_HTTP": "x"}, []string{"serve", "extra"}, 2, "", "HELPMESH_HTTP", ""},
		{"migrate bad flag value", nil, []string{"migrate", "--http", "nope"}, 2, "", `HELPMESH_HTTP (--http): "nope" is not host:port`, ""},
		{"user without subcommand", nil, []string{"user"}, 2, "", "the only subcommand is: user add", ""},
		{"user help", nil, []string{"user", "--help"}, 0, "user add --email", "", ""},
		{"user add without email", nil, []string{"user", "add", "--name", "x"}, 2, "", "--email and --name are required", ""},
		{"user add bad flag", nil, []string{"user", "add", "--mail", "x"}, 2, "", "flag provided but not defined: -mail", ""},
		{"token without subcommand", nil, []string{"token", "list"}, 2, "", "the only subcommand is: token create", ""},
		{"token help", nil, []string{"token", "-h"}, 0, "token create --email", "", ""},
		{"token create without email", nil, []string{"token", "create"}, 2, "", "--email is required", ""},
		{"invalid log level", map[string]string{"HELPMESH_LOG_LEVEL": "loud"}, []string{"migrate"}, 2, "", `HELPMESH_LOG_LEVEL: "loud" is not one of debug, info, warn, error`, ""},
		{"invalid db", map[string]string{"HELPMESH_DB": "mysql://x"}, []string{"migrate"}, 2, "", "HELPMESH_DB (--db)", ""},
		{"invalid max body", map[string]string{"HELPMESH_MAX_BODY": "lots"}, []string{"migrate"}, 2, "", `HELPMESH_MAX_BODY: "lots" is not a size`, ""},
		{"invalid grace", map[string]string{"HELPMESH_SHUTDOWN_GRACE": "soon"}, []string{"serve"}, 2, "", "HELPMESH_SHUTDOWN_GRACE", ""},
		{"short bootstrap token", map[string]string{"HELPMESH_BOOTSTRAP_TOKEN": "short"}, []string{"serve"}, 2, "", "HELPMESH_BOOTSTRAP_TOKEN: must be at least 16 characters", ""},
		{"several problems at once", map[string]string{"HELPMESH_LOG_FORMAT": "xml", "HELPMESH_BASE_URL": "ftp://x"}, []string{"serve"}, 2, "", "HELPMESH_BASE_URL", ""},
		// Every mistake in the configuration is exit code 2, like a usage error.
		{"negative grace", map[string]string{"HELPMESH_SHUTDOWN_GRACE": "-1s"}, []string{"serve"}, 2, "", `HELPMESH_SHUTDOWN_GRACE: "-1s" is negative`, ""},
		{"negative mail batch", map[string]string{"HELPMESH_MAIL_BATCH": "-2m"}, []string{"serve"}, 2, "", "HELPMESH_MAIL_BATCH", ""},
		{"serve -h lists the settings", nil, []string{"serve", "-h"}, 0, "", "HELPMESH_ALARM_REPAGE (default 30m)", ""},
		{"token create without a database", nil, []string{"token", "create", "--email", "a@example.org"}, 2, "", "there is no database at", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"HELPMESH_DATA": t.TempDir()}
			for k, v := range c.env {
				env[k] = v
			}
			code, out, errs := cli(t, env, "", c.args...)
			if code != c.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out, errs)
			}
			if !strings.Contains(out, c.out) {
				t.Errorf("stdout %q does not contain %q", out, c.out)
			}
			if !strings.Contains(errs, c.errs) {
				t.Errorf("stderr %q does not contain %q", errs, c.errs)
			}
			if strings.Contains(errs, "goroutine ") || strings.Contains(errs, "panic") {
				t.Errorf("stderr has a stack trace: %s", errs)
			}
		})
	}
	// Every command is named in the usage.
	_, out, _ := cli(t, nil, "", "--help")
	for name := range commands {
		if !strings.Contains(out, name) {
			t.Errorf("--help does not mention %q", name)
		}
	}
}

// TestServeHelpListsEverySetting: "serve -h" names every variable of the
// configuration, and the settings table names every variable the config
// package reads.
func TestServeHelpListsEverySetting(t *testing.T) {
	_, _, errs := cli(t, map[string]string{"HELPMESH_DATA": t.TempDir()}, "", "serve", "-h")
	for _, v := range config.Variables() {
		if !strings.Contains(errs, v.Name) {
			t.Errorf("serve -h does not list %s", v.Name)
		}
	}
	read := map[string]bool{}
	_, _ = config.Load(nil, nil, func(k string) string { read[k] = true; return "" })
	for k := range read {
		if !strings.Contains(errs, k) {
			t.Errorf("the configuration reads %s but serve -h does not list it", k)
		}
	}
}

// TestStartLogWarns: the start log has the version and the configuration,
// and warns of a misspelt HELPMESH_* variable and of a mail domain that is
// the machine's name.
func TestStartLogWarns(t *testing.T) {
	var buf bytes.Buffer
	cfg := config.Default()
	cfg.MailDomain = "vm"
	logStart(slog.New(slog.NewTextHandler(&buf, nil)), cfg, []string{"HELPMESH_SMTP_RELAI=smtp://x:25", "HELPMESH_DATA=x", "HELPMESH_TEST_IMAP=y", "PATH=/bin"})
	out := buf.String()
	for _, want := range []string{"helpmesh starting", "version=", "mail_domain=vm",
		"HELPMESH_SMTP_RELAI is not a helpmesh setting and is ignored; did you mean HELPMESH_SMTP_RELAY?",
		`HELPMESH_MAIL_DOMAIN \"vm\" has no dot`} {
		if !strings.Contains(out, want) {
			t.Errorf("start log lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"HELPMESH_DATA is not", "HELPMESH_TEST_IMAP is not"} {
		if strings.Contains(out, not) {
			t.Errorf("start log says %q", not)
		}
	}
}

// serveCLIData opens an app on the data directory and database of the
// CLI environment env and serves it until the test ends.
func serveCLIData(t *testing.T, env map[string]string) (*app.App, *httptest.Server) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir, cfg.DB = env["HELPMESH_DATA"], env["HELPMESH_DB"]
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	return a, srv
}

// TestCLIOperatorCommands: migrate, user add (with and without
// --password-stdin), token create, and the token works against a server on
// the same database, on both engines.
func TestCLIOperatorCommands(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		dataDir := t.TempDir()
		env := map[string]string{"HELPMESH_DATA": dataDir, "HELPMESH_DB": apptest.DSN(t, e)}
		code, out, errs := cli(t, env, "", "migrate")
		if code != 0 || !strings.Contains(out, "database is up to date ("+string(e)+")") {
			t.Fatalf("migrate: %d %q %q", code, out, errs)
		}
		if code, out, errs = cli(t, env, "", "migrate"); code != 0 {
			t.Fatalf("migrate again: %d %q %q", code, out, errs)
		}

		code, out, errs = cli(t, env, "", "user", "add", "--email", "Ops@Example.org", "--name", "Operator", "--role", "admin")
		if code != 0 || !strings.Contains(out, "<ops@example.org> (admin)") {
			t.Fatalf("user add: %d %q %q", code, out, errs)
		}
		code, out, errs = cli(t, env, "correct horse battery staple\n", "user", "add", "--email", "ann@example.org", "--name", "Ann", "--password-stdin")
		if code != 0 || !strings.Contains(out, "<ann@example.org> (user)") {
			t.Fatalf("user add --password-stdin: %d %q %q", code, out, errs)
		}
		for _, bad := range []struct {
			stdin string
			args  []string
			want  string
		}{
			{"", []string{"user", "add", "--email", "x@example.org", "--name", "X", "--password-stdin"}, "no password on standard input"},
			{"short\n", []string{"user", "add", "--email", "x@example.org", "--name", "X", "--password-stdin"}, "password"},
			{"", []string{"user", "add", "--email", "ann@example.org", "--name", "Ann"}, "exists already"},
			{"", []string{"user", "add", "--email", "not-an-address", "--name", "X"}, "is not an email address"},
			{"", []string{"user", "add", "--email", "x@example.org", "--name", "X", "--role", "root"}, "role"},
			{"", []string{"token", "create", "--email", "nobody@example.org"}, "nobody@example.org"},
			{"", []string{"token", "create", "--email", "ann@example.org", "--scope", "all"}, "scope"},
		} {
			code, out, errs := cli(t, env, bad.stdin, bad.args...)
			if code != 1 || !strings.Contains(errs, bad.want) {
				t.Errorf("%v: exit %d, stderr %q (want 1 and %q); stdout %q", bad.args, code, errs, bad.want, out)
			}
		}

		code, out, errs = cli(t, env, "", "token", "create", "--email", "ann@example.org", "--name", "ci")
		token := strings.TrimSpace(out)
		if code != 0 || !strings.HasPrefix(token, "hm_") || strings.Contains(token, "\n") {
			t.Fatalf("token create: %d %q %q", code, out, errs)
		}
		code, out, _ = cli(t, env, "", "token", "create", "--email", "ann@example.org", "--scope", "read")
		readToken := strings.TrimSpace(out)
		if code != 0 {
			t.Fatalf("token create --scope read: %d", code)
		}

		// The tokens work against a server on the same database.
		a, srv := serveCLIData(t, env)
		ctx := context.Background()
		me, err := client.New(srv.URL, token, nil).Me(ctx)
		if err != nil || me.Email != "ann@example.org" || me.Role != "user" {
			t.Errorf("me with the CLI token: %+v %v", me, err)
		}
		if _, err := client.New(srv.URL, readToken, nil).CreateTicket(ctx, client.NewTicket{Subject: "s", Body: "b"}); client.StatusOf(err) != 403 {
			t.Errorf("read-scoped CLI token writes: %v", err)
		}
		if _, err := a.Users.CheckPassword(ctx, "ann@example.org", "correct horse battery staple"); err != nil {
			t.Errorf("the password from --password-stdin does not check: %v", err)
		}
		if u, err := a.Users.GetByEmail(ctx, "ops@example.org"); err != nil || u.Role != "admin" || u.HasPassword {
			t.Errorf("operator: %+v %v", u, err)
		}
	})
}
