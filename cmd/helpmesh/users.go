package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/helpmesh/helpmesh/internal/app"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/user"
)

// openApp opens the database of cfg for an operator command, quietly.
func openApp(ctx context.Context, e env, cfg config.Config) (*app.App, error) {
	cfg.LogLevel = "warn"
	return app.New(ctx, cfg, logger(cfg, e.stderr))
}

// databaseExists refuses, for a command that needs existing data, a SQLite
// database that is not there (run from another directory, say) rather than
// creating an empty one.
func databaseExists(cfg config.Config) error {
	if cfg.IsPostgres() {
		return nil
	}
	p := cfg.SQLitePath()
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		abs, _ := filepath.Abs(p)
		return fmt.Errorf("%w: there is no database at %s: run this where helpmesh serve runs, or name its data directory with --data or HELPMESH_DATA", errConfig, abs)
	}
	return nil
}

func userCmd(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(e.stdout, "usage: helpmesh user add --email ADDR --name NAME [--role user|admin] [--password-stdin]")
			return nil
		}
		return fmt.Errorf("%w: the only subcommand is: user add", errUsage)
	}
	var email, name, role, team string
	var pwStdin bool
	cfg, rest, err := load(e, "user add", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "email address (required)")
		fs.StringVar(&name, "name", "", "display name (required)")
		fs.StringVar(&role, "role", "user", "global role: user or admin")
		fs.StringVar(&team, "team", "", "team (virtual organisation) the user belongs to")
		fs.BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of standard input")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, rest)
	}
	if email == "" || name == "" {
		return fmt.Errorf("%w: --email and --name are required", errUsage)
	}
	var password string
	if pwStdin {
		line, err := bufio.NewReader(io.LimitReader(e.stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
		if password == "" {
			return errors.New("no password on standard input")
		}
	}
	a, err := openApp(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.Users.Create(ctx, user.NewUser{Email: email, Name: name, Role: auth.Role(role), Team: team, Password: password})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created user %d <%s> (%s)\n", u.ID, u.Email, u.Role)
	return nil
}

func tokenCmd(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(e.stdout, "usage: helpmesh token create --email ADDR [--name NAME] [--scope read|write]")
			return nil
		}
		return fmt.Errorf("%w: the only subcommand is: token create", errUsage)
	}
	var email, name, scope string
	cfg, rest, err := load(e, "token create", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "email address of the user (required)")
		fs.StringVar(&name, "name", "cli", "a name to recognise the token by")
		fs.StringVar(&scope, "scope", "write", "read or write")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, rest)
	}
	if email == "" {
		return fmt.Errorf("%w: --email is required", errUsage)
	}
	if err := databaseExists(cfg); err != nil {
		return err
	}
	a, err := openApp(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.Users.GetByEmail(ctx, email)
	if err != nil {
		return fmt.Errorf("user %s: %w", email, err)
	}
	_, secret, err := a.Users.CreateToken(ctx, u.ID, name, scope, nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, secret)
	return nil
}
