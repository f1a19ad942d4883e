package auth

import "testing"

// TestActors: each writer that is not a signed-in person has its own
// rights, and none of them is an administrator's, even when a Role or
// units were set on it by mistake.
func TestActors(t *testing.T) {
	const ops = 1
	ann := &Principal{UserID: 10, Email: "ann@uni.example", Role: RoleUser, Units: map[int64]UnitRole{}}
	theirs := TicketFacts{ID: 100, Status: "in_progress", RequesterID: 10, UnitID: ops, Kind: "user"}
	other := TicketFacts{ID: 101, Status: "in_progress", RequesterID: 20, UnitID: ops, Kind: "user"}
	solved := TicketFacts{ID: 102, Status: "solved", RequesterID: 20, UnitID: ops, Kind: "user"}
	waiting := TicketFacts{ID: 103, Status: "waiting_for_reply", RequesterID: 20, UnitID: ops, Kind: "user"}

	byMail := ann.ByMail()
	participant := byMail.TakingPart(solved.ID)
	staffByMail := (&Principal{UserID: 11, Email: "sam@uni.example", Units: map[int64]UnitRole{ops: UnitMember}}).ByMail()
	unproven := staffByMail.AsRequester()
	peer := Peer("rt.example", other.ID)
	timer := Timer()
	system := System("mail gateway")
	importer := Importer("ggus")
	list := UnitList("ops-list@lists.example", "Operations", solved.ID)
	relation := Relation("solved with its master #12")
	// Roles and units on an actor that is not a person count for nothing.
	forged := &Principal{Actor: ActorTimer, Role: RoleAdmin, Handler: true, Units: map[int64]UnitRole{ops: UnitAdmin}}

	type rights struct{ see, write, note, work, internal bool }
	for _, c := range []struct {
		who   string
		p     *Principal
		facts TicketFacts
		want  rights
	}{
		{"requester by mail", byMail, theirs, rights{true, true, false, false, false}},
		{"requester by mail, another ticket", byMail, other, rights{}},
		{"mail participant", participant, solved, rights{true, true, false, false, false}},
		{"mail participant, another ticket", participant, other, rights{}},
		{"staff by mail", staffByMail, other, rights{true, true, true, true, true}},
		{"staff by unproven mail", unproven, other, rights{}},
		{"peer, linked", peer, other, rights{true, true, true, false, true}},
		{"peer, not linked", peer, theirs, rights{}},
		{"timer", timer, theirs, rights{see: true, internal: true}},
		{"system", system, theirs, rights{see: true, internal: true}},
		{"importer", importer, theirs, rights{}},
		{"unit list, its ticket", list, solved, rights{see: true, write: true}},
		{"unit list, another ticket", list, other, rights{}},
		{"forged timer", forged, theirs, rights{see: true, internal: true}},
		{"relation", relation, theirs, rights{}},
	} {
		got := rights{c.p.CanSeeTicket(c.facts), c.p.CanWrite(c.facts), c.p.CanNote(c.facts), c.p.CanWorkTicket(c.facts), c.p.CanSeeInternal(c.facts)}
		if got != c.want {
			t.Errorf("%s: %+v, want %+v", c.who, got, c.want)
		}
	}
	for _, p := range []*Principal{peer, timer, system, importer, forged, list, relation} {
		if p.IsAdmin() || p.IsStaff() || p.IsPerson() || p.CanManageUsers() || p.CanManageCatalogue() || p.CanManageUnit(ops) || len(p.UnitIDs()) > 0 {
			t.Errorf("%s has a person's or an administrator's rights", p.Label())
		}
	}

	for _, c := range []struct {
		who   string
		p     *Principal
		facts TicketFacts
		to    string
		want  bool
	}{
		{"requester", ann, theirs, "verified", true},
		{"requester", ann, theirs, "reopened", true},
		{"requester", ann, theirs, "closed", false},
		{"requester by mail", byMail, theirs, "reopened", true},
		{"requester by mail", byMail, other, "reopened", false},
		{"mail participant", participant, solved, "reopened", true},
		{"mail participant", participant, solved, "verified", false},
		{"mail participant", participant, solved, "closed", false},
		{"peer, linked", peer, other, "solved", true},
		{"peer, not linked", peer, theirs, "solved", false},
		{"timer", timer, solved, "closed", true},
		{"timer", timer, waiting, "unsolved", true},
		{"timer", timer, theirs, "closed", false},
		{"timer", timer, solved, "reopened", false},
		{"system", system, solved, "closed", false},
		{"importer", importer, solved, "closed", false},
		{"unit list", list, solved, "reopened", true},
		{"unit list", list, solved, "closed", false},
		{"unit list, another ticket", list, other, "reopened", false},
	} {
		if got := c.p.CanSetStatus(c.facts, c.to); got != c.want {
			t.Errorf("%s CanSetStatus(%s -> %s) = %v", c.who, c.facts.Status, c.to, got)
		}
	}

	mine := TicketFacts{ID: 104, RequesterID: 10, UnitID: ops, Kind: "user"}
	if !byMail.CanRelate(mine, "follow_up_of") || byMail.CanRelate(mine, "duplicate_of") || ann.CanRelate(mine, "follow_up_of") ||
		byMail.CanRelate(other, "follow_up_of") || !staffByMail.CanRelate(other, "duplicate_of") || timer.CanRelate(mine, "follow_up_of") {
		t.Error("CanRelate")
	}
	for p, want := range map[*Principal][2]bool{ // for themselves, for user 99
		ann: {true, false}, byMail: {true, false}, importer: {false, true}, peer: {false, true}, timer: {false, false}, system: {false, false}, list: {false, false},
		{UserID: 1, Role: RoleAdmin}: {true, true},
	} {
		if got := [2]bool{p.UserID != 0 && p.CanOpenFor(p.UserID), p.CanOpenFor(99)}; got != want {
			t.Errorf("%s CanOpenFor: %v, want %v", p.Label(), got, want)
		}
	}

	for p, want := range map[*Principal]string{
		ann: "ann@uni.example", byMail: "ann@uni.example (by mail)", peer: "peer rt.example", importer: "importer ggus",
		timer: "timer", system: "system", forged: "timer", relation: "relation", list: "list ops-list@lists.example (by mail)", {UserID: 7}: "user 7", {UserID: 7, Actor: ActorMail}: "user 7 (by mail)",
	} {
		if got := p.Label(); got != want {
			t.Errorf("Label() = %q, want %q", got, want)
		}
	}
	// The copies leave the original alone.
	if ann.Actor != "" || len(byMail.Tickets) != 0 || participant.TakingPart(solved.ID) != participant || ann.TakingPart(5) != ann {
		t.Error("ByMail or TakingPart changed what it copied")
	}
}
