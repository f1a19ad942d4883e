package apptest_test

import (
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

// TestBusyDatabase: while another process holds SQLite's write lock, an
// API write answers 503 with Retry-After (not 500), /healthz says writes
// are degraded, and both recover once the lock is released.
func TestBusyDatabase(t *testing.T) {
	in := apptest.Start(t, apptest.SQLite)
	unlock := dbtest.LockSQLite(t, in.App.DB, in.App.Config.SQLitePath())
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
	unlock()
	if r := create(); r.Status != 201 {
		t.Errorf("write after the lock is gone: %d %s", r.Status, r.Body)
	}
	if h := in.Do(t, "GET", "/healthz", "", "", nil); h.Status != 200 || !strings.Contains(string(h.Body), `"ok"`) {
		t.Errorf("healthz after: %d %s", h.Status, h.Body)
	}
}
