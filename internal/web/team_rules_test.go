package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/user"
)

// TestTeamFromEntitlement: an identity rule gives alice the team of her
// EGI entitlement (the VO atlas) at sign-in; she then sees, answers and
// verifies the atlas team ticket carl opened, and not the team ticket of
// another VO; dave, of no team, neither sees nor verifies carl's ticket.
func TestTeamFromEntitlement(t *testing.T) {
	a, op := oidcSetup(t, func(c *config.Config) {
		c.OIDC[0].Rules = append(c.OIDC[0].Rules,
			config.ClaimRule{Claim: "eduperson_entitlement", Pattern: `urn:mace:egi\.eu:group:([^:]+):role=member#aai\.egi\.eu`, Team: "$1"})
	})
	ctx := context.Background()
	person := func(email, team string, role auth.Role) *auth.Principal {
		t.Helper()
		u, err := a.Users.Create(ctx, user.NewUser{Email: email, Name: strings.Split(email, "@")[0], Team: team, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		p, err := a.Users.Principal(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	carl, cmsUser := person("carl@cern.example", "atlas", auth.RoleUser), person("cora@cern.example", "cms", auth.RoleUser)
	staff := person("sam@support.example", "", auth.RoleAdmin)
	su, err := a.Units.Unit(ctx, "example-support")
	if err != nil {
		t.Fatal(err)
	}
	open := func(p *auth.Principal, subject string) int64 {
		t.Helper()
		tk, err := a.Tickets.Create(ctx, p, ticket.NewTicket{Subject: subject, Body: "jobs fail at the T1", Kind: ticket.KindTeam, UnitID: su.ID})
		if err != nil {
			t.Fatal(err)
		}
		return tk.ID
	}
	atlas, cms := open(carl, "ATLAS transfers fail"), open(cmsUser, "CMS transfers fail")

	op.claims.Set(aliceID, map[string]any{"eduperson_entitlement": []string{"urn:mace:egi.eu:group:atlas:role=member#aai.egi.eu"}})
	c, seen := newClient(t)
	if status, body, _ := opSignIn(t, c, seen, a.URL, "egi", "alice"); status != http.StatusOK {
		t.Fatalf("sign-in: %d %.300s", status, body)
	}
	do := func(c *http.Client, token, method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, a.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var me struct {
		Team string `json:"team"`
	}
	if code, body := do(c, "", "GET", "/api/v1/me", ""); code != 200 || json.Unmarshal([]byte(body), &me) != nil || me.Team != "atlas" {
		t.Fatalf("me after sign-in: %d %s", code, body)
	}
	ticketPath := fmt.Sprintf("/api/v1/tickets/%d", atlas)
	if code, body := do(c, "", "GET", ticketPath, ""); code != 200 || !strings.Contains(body, `"kind":"team"`) {
		t.Errorf("alice reads the atlas ticket: %d %s", code, body)
	}
	if code, body := do(c, "", "GET", fmt.Sprintf("/tickets/%d", atlas), ""); code != 200 || !strings.Contains(body, "ATLAS transfers fail") {
		t.Errorf("alice opens the atlas ticket's page: %d", code)
	}
	if code, body := do(c, "", "POST", ticketPath+"/messages", `{"body":"same at our site"}`); code != 201 {
		t.Errorf("alice answers the atlas ticket: %d %s", code, body)
	}
	if code, _ := do(c, "", "GET", fmt.Sprintf("/api/v1/tickets/%d", cms), ""); code != 404 {
		t.Errorf("alice reads the cms ticket: %d", code)
	}
	solved := ticket.Solved
	if _, err := a.Tickets.Update(ctx, staff, atlas, ticket.Update{Status: &solved}); err != nil {
		t.Fatal(err)
	}

	// dave, of no team, with an API token.
	dave := person("dave@uni.example", "", auth.RoleUser)
	_, tok, err := a.Users.CreateToken(ctx, dave.UserID, "test", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := do(http.DefaultClient, tok, "GET", ticketPath, ""); code != 404 {
		t.Errorf("dave reads the atlas ticket: %d", code)
	}
	if code, _ := do(http.DefaultClient, tok, "PATCH", ticketPath, `{"status":"verified"}`); code != 404 {
		t.Errorf("dave verifies the atlas ticket: %d", code)
	}
	if code, body := do(c, "", "PATCH", ticketPath, `{"status":"verified"}`); code != 200 || !strings.Contains(body, `"status":"verified"`) {
		t.Errorf("alice verifies the atlas ticket: %d %s", code, body)
	}
}
