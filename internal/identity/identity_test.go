package identity_test

import (
	"context"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/identity"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

func TestEvaluate(t *testing.T) {
	rules, err := identity.CompileRules([]config.ClaimRule{
		{Claim: "eduperson_entitlement", Value: "urn:mace:egi.eu:group:vo.example.org:role=member#aai.egi.eu", Unit: "example-support"},
		{Claim: "groups", Value: "su-admins", Unit: "example-support", UnitRole: "admin"},
		{Claim: "groups", Pattern: "ops-.*", Role: "admin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		claims map[string]any
		want   []identity.Grant
	}{
		{map[string]any{}, nil},
		{map[string]any{"eduperson_entitlement": []any{"urn:x", "urn:mace:egi.eu:group:vo.example.org:role=member#aai.egi.eu"}},
			[]identity.Grant{{Unit: "example-support", Role: "member"}}},
		// admin wins over member for the same unit; the pattern is anchored.
		{map[string]any{"eduperson_entitlement": "urn:mace:egi.eu:group:vo.example.org:role=member#aai.egi.eu", "groups": []any{"su-admins", "xops-1"}},
			[]identity.Grant{{Unit: "example-support", Role: "admin"}}},
		{map[string]any{"groups": []any{"ops-grid"}}, []identity.Grant{{Role: "admin"}}},
	} {
		got := identity.Evaluate(rules, tc.claims)
		if len(got) != len(tc.want) {
			t.Fatalf("%v: got %+v, want %+v", tc.claims, got, tc.want)
		}
		for i := range got {
			if got[i].Unit != tc.want[i].Unit || got[i].Role != tc.want[i].Role {
				t.Fatalf("%v: got %+v, want %+v", tc.claims, got, tc.want)
			}
		}
	}
	if _, err := identity.CompileRules([]config.ClaimRule{{Claim: "groups", Value: "x", Unit: "u", UnitRole: "owner"}}); err == nil {
		t.Fatal("bad unit role accepted")
	}
}

func TestApplyAndAccessRequests(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		users, units := user.NewStore(d), unit.NewStore(d)
		tickets := ticket.NewStore(d, ticket.Options{})
		ids := identity.NewStore(d, users, units, nil)
		su, _ := units.CreateUnit(ctx, unit.Unit{Slug: "example-support", Name: "Example support"})
		other, _ := units.CreateUnit(ctx, unit.Unit{Slug: "other", Name: "Other"})

		// Link: verified email creates the account; the same subject finds it again.
		uid, created, err := ids.Link(ctx, identity.External{Provider: "egi", Issuer: "https://aai.egi.eu/", Subject: "s1", Email: "Ann@Example.org", EmailVerified: true, Name: "Ann"})
		if err != nil || !created {
			t.Fatalf("link: %v %v", created, err)
		}
		again, created, err := ids.Link(ctx, identity.External{Provider: "egi", Issuer: "https://aai.egi.eu/", Subject: "s1", Email: "changed@example.org"})
		if err != nil || created || again != uid {
			t.Fatalf("relink: %d %v %v", again, created, err)
		}
		if _, _, err := ids.Link(ctx, identity.External{Provider: "egi", Issuer: "https://aai.egi.eu/", Subject: "s2", Email: "ann@example.org"}); err == nil {
			t.Fatal("unverified email linked")
		}

		// A manual member of "other" is upgraded to admin by a rule and
		// restored to member when the rule stops matching.
		if err := units.SetMember(ctx, other.ID, uid, auth.UnitMember); err != nil {
			t.Fatal(err)
		}
		want := []identity.Grant{{Unit: "example-support", Role: "member"}, {Unit: "other", Role: "admin"}, {Unit: "missing", Role: "member"}}
		ch, err := ids.Apply(ctx, uid, "oidc:egi", want)
		if err != nil || len(ch) != 3 {
			t.Fatalf("apply: %+v %v", ch, err)
		}
		p, _ := users.Principal(ctx, uid)
		if p.Units[su.ID] != auth.UnitMember || p.Units[other.ID] != auth.UnitAdmin {
			t.Fatalf("after grant: %+v", p.Units)
		}
		if ch, _ := ids.Apply(ctx, uid, "oidc:egi", want[:2]); len(ch) != 0 {
			t.Fatalf("second apply changed %+v", ch)
		}
		if _, err := ids.Apply(ctx, uid, "oidc:egi", nil); err != nil {
			t.Fatal(err)
		}
		p, _ = users.Principal(ctx, uid)
		if _, ok := p.Units[su.ID]; ok || p.Units[other.ID] != auth.UnitMember {
			t.Fatalf("after revoke: %+v", p.Units)
		}
		log, _ := ids.AuditLog(ctx, uid, 100)
		if len(log) < 6 {
			t.Fatalf("audit log too short: %+v", log)
		}

		// Access request: a ticket in the unit; only its admin decides.
		bob, _ := users.Create(ctx, user.NewUser{Email: "bob@example.org", Name: "Bob"})
		bp, _ := users.Principal(ctx, bob.ID)
		ar, err := ids.RequestAccess(ctx, tickets, bp, "example-support", auth.UnitMember, "I support the VO")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ids.RequestAccess(ctx, tickets, bp, "example-support", auth.UnitMember, "again"); err == nil {
			t.Fatal("second pending request accepted")
		}
		ap, _ := users.Principal(ctx, uid) // member of other only
		if _, err := ids.DecideAccess(ctx, tickets, ap, ar.ID, true, ""); err == nil {
			t.Fatal("a non-admin decided")
		}
		if err := units.SetMember(ctx, su.ID, uid, auth.UnitAdmin); err != nil {
			t.Fatal(err)
		}
		ap, _ = users.Principal(ctx, uid)
		if _, err := ids.DecideAccess(ctx, tickets, ap, ar.ID, false, "not yet"); err != nil {
			t.Fatal(err)
		}
		if _, err := ids.DecideAccess(ctx, tickets, ap, ar.ID, true, ""); err == nil {
			t.Fatal("decided twice")
		}
		bp, _ = users.Principal(ctx, bob.ID)
		if _, ok := bp.Units[su.ID]; ok {
			t.Fatal("denied request made a member")
		}
		tk, err := tickets.Get(ctx, bp, ar.TicketID)
		if err != nil || tk.Status != ticket.Unsolved {
			t.Fatalf("ticket after denial: %+v %v", tk, err)
		}
	})
}

// TestApplyInstanceRole: a rule's admin role is granted and revoked through
// the user store, and restored to what it was before.
func TestApplyInstanceRole(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		users, units := user.NewStore(d), unit.NewStore(d)
		ids := identity.NewStore(d, users, units, nil)
		uid, _, err := ids.Link(ctx, identity.External{Provider: "egi", Issuer: "https://aai.egi.eu/", Subject: "s1", Email: "ann@example.org", EmailVerified: true, Name: "Ann"})
		if err != nil {
			t.Fatal(err)
		}
		roleOf := func() auth.Role {
			t.Helper()
			u, err := users.Get(ctx, uid)
			if err != nil {
				t.Fatal(err)
			}
			return u.Role
		}
		ch, err := ids.Apply(ctx, uid, "oidc:egi", []identity.Grant{{Role: "admin", Why: "groups=ops"}})
		if err != nil || len(ch) != 1 || ch[0].Old != "user" || ch[0].New != "admin" || roleOf() != auth.RoleAdmin {
			t.Fatalf("grant: %+v %v, role %q", ch, err, roleOf())
		}
		ch, err = ids.Apply(ctx, uid, "oidc:egi", nil)
		if err != nil || len(ch) != 1 || ch[0].Action != "revoke" || roleOf() != auth.RoleUser {
			t.Fatalf("revoke: %+v %v, role %q", ch, err, roleOf())
		}
	})
}

// TestLinkRefusesDisabledUsers: a user an administrator disabled cannot
// sign in by single sign-on, whether the identity is linked already or
// would be linked by its verified email; enabled again, they can.
func TestLinkRefusesDisabledUsers(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		users, units := user.NewStore(d), unit.NewStore(d)
		ids := identity.NewStore(d, users, units, nil)
		linked := identity.External{Provider: "egi", Issuer: "https://aai.egi.eu/", Subject: "s1", Email: "ann@example.org", EmailVerified: true, Name: "Ann"}
		uid, _, err := ids.Link(ctx, linked)
		if err != nil {
			t.Fatal(err)
		}
		bob, err := users.Create(ctx, user.NewUser{Email: "bob@example.org", Name: "Bob"})
		if err != nil {
			t.Fatal(err)
		}
		byEmail := identity.External{Provider: "egi", Issuer: "https://aai.egi.eu/", Subject: "s2", Email: "bob@example.org", EmailVerified: true, Name: "Bob"}
		disabled, enabled := true, false
		for _, id := range []int64{uid, bob.ID} {
			if _, err := users.Update(ctx, id, user.Change{Disabled: &disabled}); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range []identity.External{linked, byEmail} {
			if _, _, err := ids.Link(ctx, e); !apperr.Is(err, apperr.Unauthorized) {
				t.Errorf("a disabled user signs in as %s: %v, want Unauthorized", e.Subject, err)
			}
		}
		if _, err := users.Update(ctx, uid, user.Change{Disabled: &enabled}); err != nil {
			t.Fatal(err)
		}
		if got, _, err := ids.Link(ctx, linked); err != nil || got != uid {
			t.Errorf("enabled again: %d, %v", got, err)
		}
	})
}

// TestTeamRules: a rule sets the user's team, from a fixed name or from
// the groups of its pattern (the VO of an EGI entitlement); the first team
// rule that matches wins; a name that is no team name grants nothing;
// rules that mix a team with a unit or role, or take groups without a
// pattern, are refused.
func TestTeamRules(t *testing.T) {
	rules, err := identity.CompileRules([]config.ClaimRule{
		{Claim: "eduperson_entitlement", Pattern: `urn:mace:egi\.eu:group:([^:]+):role=member#aai\.egi\.eu`, Team: "$1"},
		{Claim: "groups", Value: "shifters", Team: "ops-shifters"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		claims map[string]any
		want   string
	}{
		{map[string]any{"eduperson_entitlement": []any{"urn:x", "urn:mace:egi.eu:group:atlas:role=member#aai.egi.eu"}, "groups": "shifters"}, "atlas"},
		{map[string]any{"groups": []any{"shifters"}}, "ops-shifters"},
		{map[string]any{"eduperson_entitlement": "urn:mace:egi.eu:group:Bad VO!:role=member#aai.egi.eu"}, ""},
		{map[string]any{"eduperson_entitlement": "urn:mace:egi.eu:group:atlas:role=manager#aai.egi.eu"}, ""},
	} {
		got := identity.Evaluate(rules, tc.claims)
		team := ""
		for _, g := range got {
			team = g.Team
		}
		if team != tc.want || len(got) > 1 {
			t.Errorf("%v: grants %+v, want team %q", tc.claims, got, tc.want)
		}
	}
	for _, bad := range []config.ClaimRule{
		{Claim: "groups", Value: "x", Team: "atlas", Unit: "u"},
		{Claim: "groups", Value: "x", Team: "$1"},
		{Claim: "groups", Value: "x", Team: "Not a team"},
	} {
		if _, err := identity.CompileRules([]config.ClaimRule{bad}); err == nil {
			t.Errorf("rule %+v accepted", bad)
		}
	}
}

// TestApplyTeam: the team a rule grants becomes the user's, a new one
// replaces it, and when no rule grants one the team they had before comes
// back; a team changed by hand meanwhile is left alone.
func TestApplyTeam(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		users, units := user.NewStore(d), unit.NewStore(d)
		ids := identity.NewStore(d, users, units, nil)
		uid, _, err := ids.Link(ctx, identity.External{Provider: "egi", Issuer: "https://aai.egi.eu/", Subject: "s1", Email: "ann@example.org", EmailVerified: true, Name: "Ann"})
		if err != nil {
			t.Fatal(err)
		}
		team := "biomed"
		if _, err := users.Update(ctx, uid, user.Change{Team: &team}); err != nil {
			t.Fatal(err)
		}
		teamOf := func() string {
			t.Helper()
			u, err := users.Get(ctx, uid)
			if err != nil {
				t.Fatal(err)
			}
			return u.Team
		}
		apply := func(team string) []identity.Change {
			t.Helper()
			var want []identity.Grant
			if team != "" {
				want = []identity.Grant{{Team: team, Why: "entitlement"}}
			}
			ch, err := ids.Apply(ctx, uid, "oidc:egi", want)
			if err != nil {
				t.Fatal(err)
			}
			return ch
		}
		if ch := apply("atlas"); len(ch) != 1 || ch[0].Action != "change" || ch[0].Old != "biomed" || teamOf() != "atlas" {
			t.Fatalf("grant: %+v, team %q", ch, teamOf())
		}
		if ch := apply("atlas"); len(ch) != 0 {
			t.Errorf("the same again: %+v", ch)
		}
		if ch := apply("cms"); len(ch) != 1 || ch[0].Old != "atlas" || teamOf() != "cms" {
			t.Errorf("another team: %+v, team %q", ch, teamOf())
		}
		if ch := apply(""); len(ch) != 1 || ch[0].Action != "revoke" || teamOf() != "biomed" {
			t.Errorf("revoke: %+v, team %q", ch, teamOf())
		}
		apply("atlas")
		byHand := "lhcb"
		if _, err := users.Update(ctx, uid, user.Change{Team: &byHand}); err != nil {
			t.Fatal(err)
		}
		if ch := apply(""); len(ch) != 0 || teamOf() != "lhcb" {
			t.Errorf("revoke after a change by hand: %+v, team %q", ch, teamOf())
		}
	})
}
