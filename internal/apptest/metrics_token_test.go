package apptest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
)

// TestMetricsToken (issue 16.16): with HELPMESH_METRICS_TOKEN set, /metrics
// answers 401 without the token or with a wrong one (an API token of an
// administrator included), and the metrics with it, the Go runtime's and
// the process's among them.
func TestMetricsToken(t *testing.T) {
	const token = "metrics-secret-0123456789"
	in := apptest.Start(t, apptest.SQLite, func(c *config.Config) { c.MetricsToken = token })
	for name, auth := range map[string]string{"no token": "", "wrong token": "metrics-secret-x", "an admin's API token": in.AdminToken} {
		if r := in.Do(t, "GET", "/metrics", auth, "", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, r.Status)
		}
	}
	r := in.Do(t, "GET", "/metrics", token, "", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), "go_goroutines") || !strings.Contains(string(r.Body), "process_resident_memory_bytes") || !strings.Contains(string(r.Body), "helpmesh_http_requests_total") {
		t.Errorf("with the token: %d %.300s", r.Status, r.Body)
	}
}
