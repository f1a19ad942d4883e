package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/credential"
	"github.com/helpmesh/helpmesh/internal/identity"
	"github.com/helpmesh/helpmesh/internal/mail"
)

// fakeGateway is the mail gateway and the identity audit log as the
// administrators' routes see them.
type fakeGateway struct{ before int64 }

func (f *fakeGateway) Outbox(_ context.Context, state string, before int64, limit int) ([]mail.OutboxEntry, error) {
	f.before = before
	if state == "sent" {
		return nil, nil
	}
	return []mail.OutboxEntry{{ID: 9, To: "a@example.org"}, {ID: 7, To: "b@example.org"}}, nil
}

func (f *fakeGateway) Quarantine(context.Context, int64, int) ([]mail.Quarantined, error) {
	return nil, nil
}

func (f *fakeGateway) AuditLog(_ context.Context, userID int64, limit int) ([]identity.AuditEntry, error) {
	return []identity.AuditEntry{{ID: 1, At: time.Unix(0, 0), UserID: userID, Source: "oidc:egi", Action: "signin"}}, nil
}

// The outbox and audit routes live in the API and reach mail and identity
// through small interfaces; only administrators see them.
func TestAdminRoutesThroughInterfaces(t *testing.T) {
	who := &auth.Principal{UserID: 1, Role: auth.RoleUser}
	g := &fakeGateway{}
	a := New(Deps{MaxBody: 1 << 20, Outbox: g, Relay: true, Audit: g,
		Authenticators: []credential.Authenticator{func(*http.Request) (*auth.Principal, error) { return who, nil }}})
	get := func(path string) (int, map[string]any) {
		w := httptest.NewRecorder()
		a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		var body map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		return w.Code, body
	}
	for _, path := range []string{"/api/v1/outbox", "/api/v1/outbox/quarantine", "/api/v1/audit"} {
		if code, _ := get(path); code != http.StatusForbidden {
			t.Errorf("%s for a user: %d, want 403", path, code)
		}
	}
	who.Role = auth.RoleAdmin
	code, body := get("/api/v1/outbox?cursor=12&limit=2")
	if code != http.StatusOK || body["next_cursor"] != "7" || body["relay"] != true || len(body["items"].([]any)) != 2 || g.before != 12 {
		t.Fatalf("outbox: %d %v (before %d)", code, body, g.before)
	}
	if code, body := get("/api/v1/outbox?state=sent"); code != http.StatusOK || body["next_cursor"] != "" || len(body["items"].([]any)) != 0 {
		t.Fatalf("empty outbox: %d %v", code, body)
	}
	if code, body := get("/api/v1/outbox/quarantine"); code != http.StatusOK || len(body["items"].([]any)) != 0 {
		t.Fatalf("quarantine: %d %v", code, body)
	}
	if code, body := get("/api/v1/audit?user=5"); code != http.StatusOK || len(body["items"].([]any)) != 1 {
		t.Fatalf("audit: %d %v", code, body)
	}
	if code, _ := get("/api/v1/audit?limit=0"); code != http.StatusUnprocessableEntity && code != http.StatusBadRequest {
		t.Fatalf("audit with limit 0: %d", code)
	}
	for _, path := range []string{"/api/v1/outbox?cursor=abc", "/api/v1/outbox?cursor=-1", "/api/v1/outbox?limit=9999", "/api/v1/outbox/quarantine?limit=x"} {
		if code, _ := get(path); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", path, code)
		}
	}
	// Without the interfaces, the routes are not served.
	if routes := New(Deps{MaxBody: 1 << 20}).Routes(); len(routes) != len(a.Routes())-3 {
		t.Fatalf("routes without outbox and audit: %d, with: %d", len(routes), len(a.Routes()))
	}
}
