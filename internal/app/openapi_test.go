package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/config"
)

// TestOpenAPIMatchesServedRoutes checks, on the whole application (the API
// with the routes other packages add), that every served API route is in
// GET /api/v1/openapi.json and that every documented operation is served.
func TestOpenAPIMatchesServedRoutes(t *testing.T) {
	cfg := config.Default()
	cfg.MailBatch = 0 // each mail at once
	cfg.DataDir = t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json without a token: %d", rec.Code)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var documented []string
	for path, item := range doc.Paths {
		for method := range item {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}

	// The routes of the API the application serves, extra routes included,
	// and the federation's.
	served := append(a.API.Routes(), a.FederationAPI.Routes()...)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %q is served but not described in openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(served, d) {
			t.Errorf("openapi.json describes %q, which is not served", d)
		}
	}
	if len(served) < 30 {
		t.Errorf("only %d routes served: is Routes() complete?", len(served))
	}
}
