package app_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/user"
)

// TestAuditEndpoint: GET /api/v1/audit shows the identity audit log to
// administrators only, newest first, optionally for one user.
func TestAuditEndpoint(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		ctx := context.Background()
		u, err := in.App.Users.Create(ctx, user.NewUser{Email: "audited@ext.example", Name: "Audited"})
		if err != nil {
			t.Fatal(err)
		}
		_, userToken, err := in.App.Users.CreateToken(ctx, u.ID, "test", "write", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, action := range []string{"first", "second"} {
			if err := in.App.Identity.Audit(ctx, u.ID, 0, "test", action, "unit:x", "detail"); err != nil {
				t.Fatal(err)
			}
		}
		if err := in.App.Identity.Audit(ctx, 0, 0, "test", "other", "", ""); err != nil {
			t.Fatal(err)
		}

		var got struct {
			Items []struct {
				UserID int64  `json:"user_id"`
				Action string `json:"action"`
				Target string `json:"target"`
			} `json:"items"`
		}
		r := in.Do(t, "GET", "/api/v1/audit?user="+strconv.FormatInt(u.ID, 10), in.AdminToken, "", nil)
		if r.Status != 200 {
			t.Fatalf("audit as admin: %d %s", r.Status, r.Body)
		}
		if err := json.Unmarshal(r.Body, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Items) != 2 || got.Items[0].Action != "second" || got.Items[1].Action != "first" || got.Items[0].UserID != u.ID || got.Items[0].Target != "unit:x" {
			t.Fatalf("audit of one user, newest first: %+v", got.Items)
		}
		if r := in.Do(t, "GET", "/api/v1/audit?limit=1", in.AdminToken, "", nil); r.Status != 200 || json.Unmarshal(r.Body, &got) != nil || len(got.Items) != 1 || got.Items[0].Action != "other" {
			t.Fatalf("audit limit=1: %d %s", r.Status, r.Body)
		}
		for _, c := range []struct {
			path, token string
			want        int
		}{
			{"/api/v1/audit", userToken, 403},
			{"/api/v1/audit", "", 401},
			{"/api/v1/audit?user=abc", in.AdminToken, 400},
			{"/api/v1/audit?limit=0", in.AdminToken, 400},
			{"/api/v1/audit?limit=100000", in.AdminToken, 400},
		} {
			if r := in.Do(t, "GET", c.path, c.token, "", nil); r.Status != c.want {
				t.Errorf("GET %s (token: %v): %d, want %d (%s)", c.path, c.token != "", r.Status, c.want, r.Body)
			}
		}
	})
}
