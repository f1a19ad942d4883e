package testenv

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// fakeTB records Skip and Fatal instead of acting on the real test. Like the
// real ones, they end the calling goroutine. Everything else goes to the
// embedded real *testing.T.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skip(args ...any) { f.stop(&f.skipped, fmt.Sprint(args...)) }
func (f *fakeTB) Skipf(format string, args ...any) {
	f.stop(&f.skipped, fmt.Sprintf(format, args...))
}
func (f *fakeTB) SkipNow()          { f.stop(&f.skipped, "") }
func (f *fakeTB) Fatal(args ...any) { f.stop(&f.failed, fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.stop(&f.failed, fmt.Sprintf(format, args...))
}
func (f *fakeTB) FailNow() { f.stop(&f.failed, "") }

func (f *fakeTB) stop(flag *bool, msg string) {
	*flag = true
	f.msg = msg
	runtime.Goexit()
}

// runFake runs fn with a fakeTB in its own goroutine (Skip and Fatal end it)
// and returns what happened.
func runFake(t *testing.T, fn func(tb testing.TB)) *fakeTB {
	t.Helper()
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestMissingIsFatal(t *testing.T) {
	for ci, want := range map[string]bool{
		"":      false,
		"false": false,
		"0":     false,
		"no":    false,
		"true":  true,
		"TRUE":  true,
		"1":     true,
		" true": true,
	} {
		if got := missingIsFatal(ci); got != want {
			t.Errorf("missingIsFatal(%q) = %v, want %v", ci, got, want)
		}
	}
}

const testVar = "HELPMESH_TEST_TESTENV_DUMMY"

func TestRequiredPresent(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv(EnvCI, ci)
		t.Setenv(testVar, "value")
		var got string
		f := runFake(t, func(tb testing.TB) { got = Required(tb, testVar) })
		if f.skipped || f.failed || got != "value" {
			t.Errorf("CI=%q: Required = %q, skipped=%v failed=%v; want value and neither", ci, got, f.skipped, f.failed)
		}
	}
}

func TestRequiredMissingSkipsOutsideCI(t *testing.T) {
	for _, ci := range []string{"", "false", "0"} {
		t.Setenv(EnvCI, ci)
		t.Setenv(testVar, "")
		returned := false
		f := runFake(t, func(tb testing.TB) {
			Required(tb, testVar)
			returned = true
		})
		if !f.skipped || f.failed || returned {
			t.Errorf("CI=%q: skipped=%v failed=%v returned=%v; want a skip", ci, f.skipped, f.failed, returned)
		}
		for _, want := range []string{testVar, "scripts/test"} {
			if !strings.Contains(f.msg, want) {
				t.Errorf("CI=%q: skip message %q does not mention %s", ci, f.msg, want)
			}
		}
	}
}

func TestRequiredMissingFailsInCI(t *testing.T) {
	for _, ci := range []string{"true", "1"} {
		t.Setenv(EnvCI, ci)
		t.Setenv(testVar, "")
		f := runFake(t, func(tb testing.TB) { Required(tb, testVar) })
		if !f.failed || f.skipped {
			t.Errorf("CI=%q: skipped=%v failed=%v; want a failure", ci, f.skipped, f.failed)
		}
		if !strings.Contains(f.msg, testVar) || !strings.Contains(f.msg, "scripts/test") {
			t.Errorf("CI=%q: message %q should name %s and scripts/test", ci, f.msg, testVar)
		}
	}
}

// TestExecutables checks Chromium and Podman: a file that is not
// executable skips, a missing one fails with CI=true, an executable one is
// returned.
func TestExecutables(t *testing.T) {
	for env, get := range map[string]func(testing.TB) string{EnvChromium: Chromium, EnvPodman: Podman} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(EnvCI, "")
			p := filepath.Join(t.TempDir(), "tool")
			if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv(env, p)
			if f := runFake(t, func(tb testing.TB) { get(tb) }); !f.skipped {
				t.Errorf("non-executable %s: skipped=%v failed=%v; want a skip", p, f.skipped, f.failed)
			}
			t.Setenv(env, p+".missing")
			t.Setenv(EnvCI, "true")
			if f := runFake(t, func(tb testing.TB) { get(tb) }); !f.failed {
				t.Errorf("missing %s with CI=true: failed=%v; want a failure", p, f.failed)
			}
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv(env, p)
			var got string
			if f := runFake(t, func(tb testing.TB) { got = get(tb) }); f.failed || f.skipped || got != p {
				t.Errorf("executable %s: got %q, skipped=%v failed=%v", p, got, f.skipped, f.failed)
			}
		})
	}
}

func TestParseUsers(t *testing.T) {
	got, err := parseUsers("hmtest:hmtest-pass, hmstaff:hmstaff-pass,odd:pa:ss")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"hmtest": "hmtest-pass", "hmstaff": "hmstaff-pass", "odd": "pa:ss"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parseUsers = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "nopassword", ":pass", ","} {
		if _, err := parseUsers(bad); err == nil {
			t.Errorf("parseUsers(%q): no error", bad)
		}
	}
}

func TestDBName(t *testing.T) {
	valid := regexp.MustCompile(`^hm_[a-z0-9_]+$`)
	seen := map[string]bool{}
	for _, name := range []string{"TestX", "TestStore/Postgres/Ticket-Create#01", strings.Repeat("Ü", 80), "", "__"} {
		n := dbName(name)
		if !valid.MatchString(n) || len(n) > 63 || strings.Contains(n, "__") {
			t.Errorf("dbName(%q) = %q: not a valid, short identifier", name, n)
		}
		if seen[n] {
			t.Errorf("dbName(%q) = %q twice", name, n)
		}
		seen[n] = true
	}
	if n := dbName("TestStore/Postgres"); !strings.HasPrefix(n, "hm_teststore_postgres_") {
		t.Errorf("dbName keeps no trace of the test name: %q", n)
	}
}

func TestWithDatabase(t *testing.T) {
	got, err := withDatabase("postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable", "hm_x_1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgres://postgres@127.0.0.1:55432/hm_x_1?sslmode=disable"; got != want {
		t.Errorf("withDatabase = %q, want %q", got, want)
	}
	if got, _ := withDatabase("postgresql://u:p@h", "d"); got != "postgresql://u:p@h/d" {
		t.Errorf("withDatabase without a path = %q", got)
	}
	if _, err := withDatabase("host=h dbname=x", "d"); err == nil {
		t.Error("withDatabase accepted a key=value DSN")
	}
}

func TestArtifactsDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	t.Setenv(EnvArtifacts, dir)
	if got := ArtifactsDir(t); got != dir {
		t.Errorf("ArtifactsDir = %q, want %q", got, dir)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("ArtifactsDir did not create %s: %v", dir, err)
	}

	t.Setenv(EnvArtifacts, "")
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "testenv", "testenv.go")); err != nil {
		t.Fatalf("repoRoot = %s, which is not the repository root: %v", root, err)
	}
	if want := filepath.Join(root, "test-artifacts"); ArtifactsDir(t) != want {
		t.Errorf("ArtifactsDir = %q, want %q", ArtifactsDir(t), want)
	}
}

func TestInboundAddrLock(t *testing.T) {
	addr := "127.0.0.1:65001" // a lock of its own, not the real inbound address's
	t.Setenv(EnvInboundAddr, addr)
	path := inboundLockPath(addr)
	// lockedByOther reports whether another open file (as another process
	// would have) cannot take the lock.
	lockedByOther := func() bool {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil
	}

	t.Run("held", func(t *testing.T) {
		if got := InboundAddr(t); got != addr {
			t.Errorf("InboundAddr = %q, want %q", got, addr)
		}
		if !lockedByOther() {
			t.Error("the lock is not held during the test")
		}
		t.Run("nested", func(t *testing.T) {
			InboundAddr(t) // must not deadlock
			if !lockedByOther() {
				t.Error("the lock is not held in a subtest")
			}
		})
		if !lockedByOther() {
			t.Error("the lock was released when the subtest ended, while the parent still uses it")
		}
	})
	if lockedByOther() {
		t.Error("the lock is still held after the tests that took it ended")
	}
}

// TestPostgresDSN needs the test cluster: it is skipped without
// HELPMESH_TEST_POSTGRES_DSN (and fails in CI).
func TestPostgresDSN(t *testing.T) {
	base := Required(t, EnvPostgresDSN)
	query := func(dsn, sql string) string {
		t.Helper()
		out, err := exec.Command("psql", "-X", "-q", "-tA", "--no-password", "--dbname="+dsn, "-c", sql).CombinedOutput()
		if err != nil {
			t.Fatalf("psql %q: %v: %s", sql, err, out)
		}
		return strings.TrimSpace(string(out))
	}

	var name string
	t.Run("create", func(t *testing.T) {
		dsn := PostgresDSN(t)
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		name = strings.TrimPrefix(u.Path, "/")
		if got := query(dsn, "SELECT current_database()"); got != name {
			t.Errorf("connected to %q, want %q", got, name)
		}
		if got := query(dsn, "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"); got != "0" {
			t.Errorf("new database has %s tables, want 0", got)
		}
		if other := PostgresDSN(t); other == dsn {
			t.Errorf("two calls returned the same database %s", dsn)
		}
		// The cleanup drops databases that are no longer empty, too.
		query(dsn, "CREATE TABLE t (id int)")
	})
	if name == "" {
		t.Fatal("no database was created")
	}
	if got := query(base, "SELECT count(*) FROM pg_database WHERE datname = '"+name+"'"); got != "0" {
		t.Errorf("database %s still exists after its test ended", name)
	}
}
