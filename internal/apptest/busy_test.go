package apptest_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apptest"
)

// TestBusyDatabase: while another process holds SQLite's write lock, an
// API write answers 503 with Retry-After (not 500), /healthz says writes
// are degraded, and both recover once the lock is released.
func TestBusyDatabase(t *testing.T) {
	in := apptest.Start(t, apptest.SQLite)
	ctx := context.Background()
	// Wait 200 ms for locks instead of 10 s (the writer has one connection).
	if _, err := in.App.DB.W.ExecContext(ctx, `PRAGMA busy_timeout = 200`); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+in.App.Config.SQLitePath())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	create := func() apptest.Response {
		return in.Do(t, "POST", "/api/v1/tickets", in.AdminToken, "application/json", strings.NewReader(`{"subject":"s","body":"b"}`))
	}
	r := create()
	if r.Status != 503 || r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), `"unavailable"`) {
		t.Errorf("write while locked: %d Retry-After %q %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if h := in.Do(t, "GET", "/healthz", "", "", nil); h.Status != 503 || !strings.Contains(string(h.Body), `"degraded"`) {
		t.Errorf("healthz while writes time out: %d %s", h.Status, h.Body)
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if r := create(); r.Status != 201 {
		t.Errorf("write after the lock is gone: %d %s", r.Status, r.Body)
	}
	if h := in.Do(t, "GET", "/healthz", "", "", nil); h.Status != 200 || !strings.Contains(string(h.Body), `"ok"`) {
		t.Errorf("healthz after: %d %s", h.Status, h.Body)
	}
}
