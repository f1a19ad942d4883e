package auth

import (
	"strings"
	"testing"
)

func TestPolicies(t *testing.T) {
	const ops, other, triage = 1, 2, 3
	people := map[string]*Principal{
		"requester": {UserID: 10, Role: RoleUser, Team: "atlas", Units: map[int64]UnitRole{}},
		"teammate":  {UserID: 11, Role: RoleUser, Team: "atlas", Units: map[int64]UnitRole{}},
		"stranger":  {UserID: 12, Role: RoleUser, Units: map[int64]UnitRole{}},
		"member":    {UserID: 13, Role: RoleUser, Units: map[int64]UnitRole{ops: UnitMember}},
		"unitadmin": {UserID: 14, Role: RoleUser, Units: map[int64]UnitRole{ops: UnitAdmin}},
		"foreign":   {UserID: 15, Role: RoleUser, Units: map[int64]UnitRole{other: UnitAdmin}},
		"handler":   {UserID: 16, Role: RoleUser, Units: map[int64]UnitRole{triage: UnitMember}, Handler: true},
		"admin":     {UserID: 17, Role: RoleAdmin, Units: map[int64]UnitRole{}},
		"watcher":   {UserID: 18, Role: RoleUser, Units: map[int64]UnitRole{}},
	}
	userTicket := TicketFacts{RequesterID: 10, UnitID: ops, Kind: "user", Team: "atlas"}
	teamTicket := TicketFacts{RequesterID: 10, UnitID: ops, Kind: "team", Team: "atlas"}
	noUnit := TicketFacts{RequesterID: 10, Kind: "user"}
	watched := userTicket
	watched.Watcher = true
	for _, c := range []struct {
		who       string
		facts     TicketFacts
		see, work bool
	}{
		{"requester", userTicket, true, false},
		{"teammate", userTicket, false, false},
		{"teammate", teamTicket, true, false},
		{"stranger", userTicket, false, false},
		{"stranger", teamTicket, false, false},
		{"member", userTicket, true, true},
		{"unitadmin", userTicket, true, true},
		{"foreign", userTicket, false, false},
		{"handler", userTicket, true, true},
		{"admin", userTicket, true, true},
		{"member", noUnit, false, false},
		{"handler", noUnit, true, true},
		{"admin", noUnit, true, true},
		{"watcher", watched, true, false},
		{"requester", noUnit, true, false},
	} {
		p := people[c.who]
		if got := p.CanSeeTicket(c.facts); got != c.see {
			t.Errorf("%s CanSeeTicket(%+v) = %v", c.who, c.facts, got)
		}
		if got := p.CanWorkTicket(c.facts); got != c.work {
			t.Errorf("%s CanWorkTicket(%+v) = %v", c.who, c.facts, got)
		}
		if got := p.CanSeeInternal(c.facts); got != c.work {
			t.Errorf("%s CanSeeInternal(%+v) = %v", c.who, c.facts, got)
		}
	}
	var nobody *Principal
	if nobody.CanSeeTicket(userTicket) || nobody.CanWorkTicket(userTicket) || nobody.IsAdmin() {
		t.Error("a nil principal may do something")
	}
	for who, want := range map[string][5]bool{ // IsAdmin SeesAll IsStaff CanManageUnit(ops) CanManageCatalogue
		"requester": {false, false, false, false, false},
		"member":    {false, false, true, false, false},
		"unitadmin": {false, false, true, true, false},
		"foreign":   {false, false, true, false, false},
		"handler":   {false, true, true, false, false},
		"admin":     {true, true, true, true, true},
	} {
		p := people[who]
		got := [5]bool{p.IsAdmin(), p.SeesAll(), p.IsStaff(), p.CanManageUnit(ops), p.CanManageCatalogue()}
		if got != want {
			t.Errorf("%s: %v, want %v", who, got, want)
		}
		if p.CanManageUsers() != p.IsAdmin() {
			t.Errorf("%s CanManageUsers", who)
		}
	}
	if !people["member"].StaffOf(ops) || people["member"].StaffOf(other) || people["member"].StaffOf(0) || !people["admin"].StaffOf(0) {
		t.Error("StaffOf")
	}
	p := &Principal{Units: map[int64]UnitRole{5: UnitMember, 2: UnitAdmin, 9: UnitMember}}
	if ids := p.UnitIDs(); len(ids) != 3 || ids[0] != 2 || ids[2] != 9 {
		t.Errorf("UnitIDs: %v", ids)
	}
}

func TestTokens(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, hash := NewToken()
		if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != len(TokenPrefix)+43 || seen[tok] {
			t.Fatalf("token %q", tok)
		}
		seen[tok] = true
		if hash != HashToken(tok) || len(hash) != 64 || hash == HashToken(tok+"x") {
			t.Fatalf("hash %q", hash)
		}
		if HashToken(" "+tok+"\n") != hash {
			t.Fatal("surrounding space changes the hash")
		}
	}
	// SHA-256 of "abc".
	if got := HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashToken(abc) = %s", got)
	}
	if a, b := RandomString(16), RandomString(16); a == b || len(a) != 22 {
		t.Errorf("RandomString: %q %q", a, b)
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 || !strings.HasPrefix(h, "$argon2id$v=19$") {
		t.Errorf("hashes %q %q (want salted argon2id)", h, h2)
	}
	if !CheckPassword(h, "correct horse battery") || CheckPassword(h, "correct horse batterY") || CheckPassword(h, "") {
		t.Error("CheckPassword")
	}
	for _, bad := range []string{"short", strings.Repeat("x", 1025)} {
		if _, err := HashPassword(bad); err == nil {
			t.Errorf("HashPassword(%d chars) accepted", len(bad))
		}
	}
	for _, enc := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=1024,t=1,p=0$c2FsdA$a2V5", "$argon2id$v=19$m=1024,t=1,p=1$!!!$a2V5", "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$"} {
		if CheckPassword(enc, "anything at all") {
			t.Errorf("CheckPassword(%q) = true", enc)
		}
	}
}

// TestCanEscalate: the requester, the team of a team ticket and the
// unit's staff escalate; a watcher, the team of a user ticket and the
// actors that are not people do not.
func TestCanEscalate(t *testing.T) {
	team := TicketFacts{ID: 1, RequesterID: 10, UnitID: 5, Kind: "team", Team: "atlas"}
	user := team
	user.Kind = "user"
	watched := user
	watched.Watcher = true
	cases := []struct {
		name string
		p    *Principal
		t    TicketFacts
		want bool
	}{
		{"requester", &Principal{UserID: 10}, user, true},
		{"teammate, team ticket", &Principal{UserID: 11, Team: "atlas"}, team, true},
		{"teammate, user ticket", &Principal{UserID: 11, Team: "atlas"}, user, false},
		{"other team", &Principal{UserID: 11, Team: "cms"}, team, false},
		{"watcher", &Principal{UserID: 12}, watched, false},
		{"unit staff", &Principal{UserID: 13, Units: map[int64]UnitRole{5: UnitMember}}, user, true},
		{"other unit", &Principal{UserID: 13, Units: map[int64]UnitRole{6: UnitMember}}, user, false},
		{"handler", &Principal{UserID: 14, Handler: true}, user, true},
		{"admin", &Principal{UserID: 15, Role: RoleAdmin}, user, true},
		{"nobody", nil, user, false},
	}
	for _, c := range cases {
		if got := c.p.CanEscalate(c.t); got != c.want {
			t.Errorf("%s: CanEscalate %v, want %v", c.name, got, c.want)
		}
	}
}
