// Package testenv tells tests where to find the outside services that
// scripts/test (or `eval "$(scripts/services)"`) starts on loopback:
// PostgreSQL, Postfix, Dovecot IMAP, Chromium, Redmine 5 and podman.
//
// Each service is named by a HELPMESH_TEST_* environment variable. When a
// variable is missing the test is skipped with a message naming scripts/test,
// except when CI=true, where a missing service fails the test instead: CI
// must never pass by skipping.
//
// Services are shared by every test binary that `go test ./...` runs in
// parallel, so tests must not assume they are alone: use a fresh database
// from PostgresDSN, put a unique token (in the Subject or Message-ID) in
// every mail and look for that token rather than for "the first message" of
// a mailbox, and let InboundAddr serialise the use of the inbound SMTP port.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables set by scripts/test and scripts/services.
const (
	// EnvPostgresDSN is a superuser DSN of the test PostgreSQL cluster,
	// postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable.
	EnvPostgresDSN = "HELPMESH_TEST_POSTGRES_DSN"
	// EnvMTA is the SMTP address of the test Postfix, 127.0.0.1:25. It
	// relays mail for RelayDomain to InboundAddr and delivers mail for
	// LocalDomain to the IMAP users' mailboxes. No TLS, no auth.
	EnvMTA = "HELPMESH_TEST_MTA"
	// EnvRelayDomain is the mail domain Postfix relays to helpmesh's inbound
	// listener, helpmesh.test.
	EnvRelayDomain = "HELPMESH_TEST_RELAY_DOMAIN"
	// EnvInboundAddr is where helpmesh's inbound SMTP listener must listen
	// for Postfix to reach it, 127.0.0.1:2526.
	EnvInboundAddr = "HELPMESH_TEST_INBOUND_ADDR"
	// EnvIMAP is the address of the test Dovecot, 127.0.0.1:143 (plaintext
	// LOGIN allowed).
	EnvIMAP = "HELPMESH_TEST_IMAP"
	// EnvIMAPUsers lists the IMAP accounts, user:password,user:password.
	EnvIMAPUsers = "HELPMESH_TEST_IMAP_USERS"
	// EnvLocalDomain is the domain whose mail Postfix delivers to the IMAP
	// users, localhost: mail to hmtest@localhost is in hmtest's INBOX.
	EnvLocalDomain = "HELPMESH_TEST_LOCAL_DOMAIN"
	// EnvChromium is the path of the Chromium binary, /usr/bin/chromium.
	EnvChromium = "HELPMESH_TEST_CHROMIUM"
	// EnvPodman is the path of the podman binary, /usr/bin/podman, with
	// the runc runtime installed, for the container image test.
	EnvPodman = "HELPMESH_TEST_PODMAN"
	// EnvStatuspageClient is a directory whose node_modules holds the npm
	// Statuspage client statuspage.io, read by node, for the status page's
	// compatibility test.
	EnvStatuspageClient = "HELPMESH_TEST_STATUSPAGE_CLIENT"
	// EnvArtifacts optionally overrides the directory for screenshots, logs
	// and other files a test wants to keep (default <repo>/test-artifacts).
	EnvArtifacts = "HELPMESH_TEST_ARTIFACTS"
	// EnvCI makes missing services fatal when true.
	EnvCI = "CI"
)

// InCI reports whether CI is set to a true value (true, 1, TRUE, ...).
func InCI() bool { return missingIsFatal(os.Getenv(EnvCI)) }

// missingIsFatal decides, from the value of $CI, whether a missing service
// fails the test (true) or skips it (false).
func missingIsFatal(ci string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(ci))
	return err == nil && b
}

// Unavailable stops the test because a service it needs is not available:
// t.Skip normally, t.Fatal when CI=true.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	msg := "testenv: " + reason + "; start the test services with scripts/test " +
		"(or eval \"$(scripts/services)\" before go test)"
	if InCI() {
		t.Fatal(msg + " [CI=true: a missing service is an error, not a skip]")
	}
	t.Skip(msg)
}

// Required returns the value of the environment variable name, or stops the
// test (skip, or fail when CI=true) when it is unset or empty.
func Required(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		Unavailable(t, name+" is not set")
	}
	return v
}

// MTA returns the host:port of the test MTA (Postfix), which accepts mail
// from loopback without TLS or authentication.
func MTA(t testing.TB) string {
	t.Helper()
	return Required(t, EnvMTA)
}

// RelayDomain returns the mail domain that the MTA relays to InboundAddr.
func RelayDomain(t testing.TB) string {
	t.Helper()
	return Required(t, EnvRelayDomain)
}

// InboundAddr returns the host:port where helpmesh's inbound SMTP listener
// must listen for the MTA to relay RelayDomain mail to it.
//
// Only one listener can have that address, and go test runs the packages'
// test binaries in parallel, so InboundAddr also takes a machine-wide lock
// (a flock on a file in os.TempDir) that it keeps until the test and its
// subtests end: tests of different packages that call InboundAddr take
// turns. Inside one test binary the lock is shared, so nested calls never
// deadlock, but tests of one package that use the address must not run in
// parallel with each other.
//
// Mail that the MTA could not relay while nothing listened (it retries every
// few seconds) may be delivered to a later test's listener: match mail by a
// token of your own and ignore the rest.
func InboundAddr(t testing.TB) string {
	t.Helper()
	addr := Required(t, EnvInboundAddr)
	lockInbound(t, addr)
	return addr
}

// LocalDomain returns the mail domain that the MTA delivers to the IMAP
// users' mailboxes (user@LocalDomain lands in user's INBOX).
func LocalDomain(t testing.TB) string {
	t.Helper()
	return Required(t, EnvLocalDomain)
}

// IMAP returns the address of the test IMAP server and its accounts, user
// name to password.
func IMAP(t testing.TB) (addr string, users map[string]string) {
	t.Helper()
	addr = Required(t, EnvIMAP)
	users, err := parseUsers(Required(t, EnvIMAPUsers))
	if err != nil {
		t.Fatalf("testenv: %s: %v", EnvIMAPUsers, err)
	}
	return addr, users
}

// parseUsers parses "user:password,user:password". A password may contain
// ':' but not ','.
func parseUsers(s string) (map[string]string, error) {
	users := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		user, pass, ok := strings.Cut(pair, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%q is not user:password", pair)
		}
		users[user] = pass
	}
	if len(users) == 0 {
		return nil, errors.New("no users")
	}
	return users, nil
}

// Chromium returns the path of the Chromium binary for browser tests.
func Chromium(t testing.TB) string {
	t.Helper()
	return executable(t, EnvChromium)
}

// Podman returns the path of the podman binary for the container image
// test (cmd/helpmesh TestContainerImage).
func Podman(t testing.TB) string {
	t.Helper()
	return executable(t, EnvPodman)
}

// StatuspageClient returns the node binary and the node_modules directory
// that holds the npm Statuspage client (statuspage.io), for the status
// page's compatibility test (apptest TestStatuspageClient).
func StatuspageClient(t testing.TB) (node, modules string) {
	t.Helper()
	dir := Required(t, EnvStatuspageClient)
	modules = filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "statuspage.io", "package.json")); err != nil {
		Unavailable(t, fmt.Sprintf("%s=%s: no statuspage.io in its node_modules: %v", EnvStatuspageClient, dir, err))
	}
	node, err := exec.LookPath("node")
	if err != nil {
		Unavailable(t, "node is not on PATH: "+err.Error())
	}
	return node, modules
}

// executable returns the path that the environment variable env names, or
// stops the test when it is unset or not an executable file.
func executable(t testing.TB, env string) string {
	t.Helper()
	p := Required(t, env)
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		Unavailable(t, fmt.Sprintf("%s=%s: %v", env, p, err))
	case fi.IsDir() || fi.Mode().Perm()&0o111 == 0:
		Unavailable(t, fmt.Sprintf("%s=%s is not an executable file", env, p))
	}
	return p
}

// ArtifactsDir returns the directory where tests keep screenshots, logs and
// other files for people to look at after the run: $HELPMESH_TEST_ARTIFACTS,
// or test-artifacts/ at the repository root. It creates the directory. Tests
// should write below a name of their own (for example t.Name()).
func ArtifactsDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(EnvArtifacts)
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		dir = filepath.Join(root, "test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return dir
}

// repoRoot finds the directory with go.mod, from the working directory up
// (go test runs a test in its package's directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod in %s or any parent directory", dir)
		}
		d = parent
	}
}

// PostgresDSN creates a new, empty database for this test in the test
// PostgreSQL cluster, drops it (WITH (FORCE)) when the test ends, and returns
// a DSN for it (superuser postgres, no password, sslmode=disable). It uses
// the psql client, so it needs no Go driver.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := Required(t, EnvPostgresDSN)
	if _, err := exec.LookPath("psql"); err != nil {
		Unavailable(t, "psql (the PostgreSQL client) is not installed")
	}
	name := dbName(t.Name())
	dsn, err := withDatabase(base, name)
	if err != nil {
		t.Fatalf("testenv: %s: %v", EnvPostgresDSN, err)
	}
	if err := psql(base, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		t.Fatalf("testenv: creating test database: %v", err)
	}
	t.Cleanup(func() {
		if err := psql(base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: dropping test database: %v", err)
		}
	})
	return dsn
}

// dbName returns hm_<test name, sanitised and shortened>_<random>, a valid
// unquoted PostgreSQL identifier of at most 63 bytes.
func dbName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 30 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else if s := b.String(); s != "" && !strings.HasSuffix(s, "_") {
			b.WriteByte('_')
		}
	}
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd) // never fails (crypto/rand panics rather)
	if s := strings.Trim(b.String(), "_"); s != "" {
		return "hm_" + s + "_" + hex.EncodeToString(rnd)
	}
	return "hm_" + hex.EncodeToString(rnd)
}

// withDatabase returns dsn (a postgres:// URL) with its database replaced.
func withDatabase(dsn, db string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", err
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("%q is not a postgres:// URL", dsn)
	}
	u.Path = "/" + db
	u.RawPath = ""
	return u.String(), nil
}

func psql(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "psql", "-X", "-q", "--no-password",
		"-v", "ON_ERROR_STOP=1", "--dbname="+dsn, "-c", sql)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("psql -c %q: %v: %s", sql, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// inbound is this process's share of the machine-wide lock on the inbound
// SMTP address: the first holder takes the file lock, the last releases it.
var inbound struct {
	mu   sync.Mutex
	refs int
	f    *os.File
}

func inboundLockPath(addr string) string {
	name := strings.NewReplacer(":", "_", "/", "_", "[", "", "]", "").Replace(addr)
	return filepath.Join(os.TempDir(), "helpmesh-test-inbound-"+name+".lock")
}

func lockInbound(t testing.TB, addr string) {
	t.Helper()
	inbound.mu.Lock()
	defer inbound.mu.Unlock()
	if inbound.refs == 0 {
		path := inboundLockPath(addr)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			t.Fatalf("testenv: inbound address lock: %v", err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			t.Logf("testenv: waiting for %s: another test process is using %s", path, addr)
			if err := flockWait(f); err != nil {
				f.Close()
				t.Fatalf("testenv: inbound address lock %s: %v", path, err)
			}
		}
		inbound.f = f
	}
	inbound.refs++
	t.Cleanup(func() {
		inbound.mu.Lock()
		defer inbound.mu.Unlock()
		inbound.refs--
		if inbound.refs == 0 {
			inbound.f.Close() // releases the flock
			inbound.f = nil
		}
	})
}

// flockWait blocks until it holds an exclusive flock on f. (flock makes this
// package Unix-only, like the test services.)
func flockWait(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}
