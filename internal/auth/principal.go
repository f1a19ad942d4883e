// Package auth decides who may do what. Every authorisation decision of
// helpmesh is made here, from a Principal (who acts) and the few facts about
// the object that matter; the ticket store turns the same rules into SQL.
package auth

import "slices"

// Role is a user's global role.
type Role string

// Global roles.
const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
)

// UnitRole is a person's role in one support unit.
type UnitRole string

// Roles in a support unit.
const (
	UnitMember UnitRole = "member"
	UnitAdmin  UnitRole = "admin"
)

// Principal is who acts: the person behind a request, or a writer that is
// not a signed-in person (Actor), with what the checks need.
type Principal struct {
	UserID int64
	Email  string
	Name   string
	Role   Role
	Team   string
	// Units maps the id of each unit the person belongs to to their role there.
	Units map[int64]UnitRole
	// Handler is true for members of the ticket handler team, who see and
	// triage every ticket.
	Handler bool
	// ReadOnly is true when the credential only allows reading (a read-scoped
	// API token).
	ReadOnly bool
	// Via names the credential: "token", "session", "certificate", ...
	Via string
	// Actor is the kind of writer p is; empty means ActorUser. Role,
	// Units, Handler and Team count for people only (IsPerson).
	Actor Actor
	// Tickets are the tickets a mail participant or a peer takes part in
	// beyond what its own rights show (see ActorMail and ActorPeer).
	Tickets []int64
	// Reason is why an actor that is not a person wrote, kept in the
	// ticket's history (ActorRelation: "solved with its master #12").
	Reason string
}

// IsAdmin tells whether p administers the whole instance.
func (p *Principal) IsAdmin() bool { return p.IsPerson() && p.Role == RoleAdmin }

// worksAll tells whether p works every ticket (admins and the ticket
// handler team).
func (p *Principal) worksAll() bool { return p.IsAdmin() || (p.IsPerson() && p.Handler) }

// SeesAll tells whether p sees every ticket: admins and the ticket handler
// team, who work them too, and the actors that only read (timers, helpmesh
// itself).
func (p *Principal) SeesAll() bool { return p.worksAll() || p.readsAll() }

// StaffOf tells whether p works tickets of unit: a member or admin of it, or
// someone who works all tickets.
func (p *Principal) StaffOf(unitID int64) bool {
	if p.worksAll() {
		return true
	}
	_, ok := p.Units[unitID]
	return ok && unitID != 0 && p.IsPerson()
}

// IsStaff tells whether p works tickets of any unit.
func (p *Principal) IsStaff() bool { return p.worksAll() || (p.IsPerson() && len(p.Units) > 0) }

// UnitIDs returns the ids of p's units, sorted; none for an actor that is
// not a person.
func (p *Principal) UnitIDs() []int64 {
	if !p.IsPerson() {
		return nil
	}
	ids := make([]int64, 0, len(p.Units))
	for id := range p.Units {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// CanManageUnit tells whether p may change a unit's settings and members:
// admins, and the unit's own admins.
func (p *Principal) CanManageUnit(unitID int64) bool {
	return p.IsAdmin() || (p.IsPerson() && p.Units[unitID] == UnitAdmin)
}

// CanManageCatalogue tells whether p may create and change units and
// services.
func (p *Principal) CanManageCatalogue() bool { return p.IsAdmin() }

// CanManageUsers tells whether p may create users and act on other users'
// tokens.
func (p *Principal) CanManageUsers() bool { return p.IsAdmin() }

// TicketFacts are the facts about a ticket that decide who sees it and
// what they may do with it.
type TicketFacts struct {
	ID          int64
	Status      string
	RequesterID int64
	UnitID      int64
	Kind        string
	Team        string
	// Watcher is true when p is a registered watcher of the ticket.
	Watcher bool
}

// InTeamOf tells whether p is a person of the team of team ticket (or
// alarm) t: they see, answer and verify it as its requester does.
func (p *Principal) InTeamOf(t TicketFacts) bool {
	return p != nil && p.IsPerson() && t.Kind != "user" && t.Team != "" && t.Team == p.Team
}

// CanSeeTicket: the requester, watchers, the requester's team for team and
// alarm tickets, the staff of the ticket's unit, the ticket handler team and
// admins; the mail participants and peers that take part in it; the
// actors that read every ticket.
func (p *Principal) CanSeeTicket(t TicketFacts) bool {
	switch {
	case p == nil:
		return false
	case p.SeesAll(), p.StaffOf(t.UnitID), p.takesPart(t.ID):
		return true
	case !p.IsPerson():
		return false
	case t.RequesterID == p.UserID, t.Watcher:
		return true
	case p.InTeamOf(t):
		return true
	}
	return false
}

// CanWorkTicket: change fields, assign, add internal notes. Only the staff of
// the ticket's unit, the ticket handler team and admins.
func (p *Principal) CanWorkTicket(t TicketFacts) bool {
	return p != nil && p.StaffOf(t.UnitID)
}

// CanSeeInternal tells whether p sees a ticket's internal notes: those who
// may add them (CanNote), and the actors that read every ticket.
func (p *Principal) CanSeeInternal(t TicketFacts) bool { return p.CanNote(t) || p.readsAll() }

// CanEscalate tells whether p may escalate a ticket (GGUS user
// escalation): its requester, a member of its team for team tickets, or
// the staff of its unit; people only.
func (p *Principal) CanEscalate(t TicketFacts) bool {
	switch {
	case p == nil || !p.IsPerson():
		return false
	case t.RequesterID == p.UserID, p.StaffOf(t.UnitID):
		return true
	}
	return t.Kind == "team" && t.Team != "" && t.Team == p.Team
}
