package auth

import (
	"slices"
	"strconv"
)

// Actor is the kind of writer a Principal is. People act as themselves
// (ActorUser: signed in, by token or certificate, or at the command line)
// or by mail (ActorMail). Writers that are not signed-in people have an
// actor of their own, with rights of their own that the methods of
// Principal spell out: none of them borrows an administrator's.
type Actor string

// Actors.
const (
	// ActorUser is a person acting with their own rights. It is what the
	// zero Actor means.
	ActorUser Actor = "user"
	// ActorMail is a person writing by mail: their own rights as far as
	// the mail proved its sender (the mail gateway strips staff rights
	// from unproven mail), and on the tickets in Tickets, which mail knows
	// them to take part in (an address on the watcher list, an earlier
	// writer, someone answering our mail), a participant's: reply, and
	// reopen by replying.
	ActorMail Actor = "mail_participant"
	// ActorPeer is a federated system (another helpdesk, an external
	// ticketing system): it sees the tickets linked to it (Tickets), adds
	// replies and notes to them and moves their status, and opens tickets
	// for their requesters.
	ActorPeer Actor = "peer"
	// ActorImporter opens tickets for their requesters (bulk loads,
	// migrations from other systems) and writes the history of the
	// tickets it opened (Tickets): their messages, notes and statuses.
	ActorImporter Actor = "importer"
	// ActorTimer applies the ticket lifecycle: it sees every ticket and
	// closes solved and unsolved tickets, and gives up on tickets waiting
	// for a reply (unsolved). It writes nothing else.
	ActorTimer Actor = "timer"
	// ActorUnitList is the mailing list of a unit in the integration mode
	// redirect (DESIGN.md "Integration modes and connectors"): whoever
	// replies to the list's reply token of a ticket (the list's members
	// are no helpmesh users) writes as the list, on that ticket only
	// (Tickets): public replies, which are the unit's staff replies, and
	// reopening by replying. Nothing else: no internal notes, no other
	// field, no other ticket. The mail gateway grants it only for a valid
	// reply token made for the list and that ticket, never for a From
	// address.
	ActorUnitList Actor = "unit_list"
	// ActorRelation is a relation between tickets carrying a change from
	// one to the other by the GGUS rules (a master's public update copied
	// to its slaves, a slave solved with its master, a parent back in
	// progress when its last child is solved). The ticket package uses it
	// only as the author of those propagated writes, with their Reason
	// ("solved with its master #12"); it is granted no right here.
	ActorRelation Actor = "relation"
	// ActorSystem reads every ticket for helpmesh's own work (deciding
	// where a mail belongs, composing notifications) and writes nothing.
	ActorSystem Actor = "system"
)

// Ticket statuses that the actors' rules name (package ticket holds the
// workflow).
const (
	statusWaiting  = "waiting_for_reply"
	statusSolved   = "solved"
	statusUnsolved = "unsolved"
	statusReopened = "reopened"
	statusVerified = "verified"
	statusClosed   = "closed"
)

// Timer returns the principal of the lifecycle timers.
func Timer() *Principal {
	return &Principal{Actor: ActorTimer, Name: "timer", Via: "timer"}
}

// System returns a principal that reads every ticket for the part of
// helpmesh named name (e.g. "mail gateway") and writes nothing.
func System(name string) *Principal {
	return &Principal{Actor: ActorSystem, Name: name, Via: "system"}
}

// Relation returns the principal of a change propagated along a ticket
// relation, for the reason given ("solved with its master #12").
func Relation(reason string) *Principal {
	return &Principal{Actor: ActorRelation, Name: "relation", Via: "relation", Reason: reason}
}

// Peer returns the principal of the federated system named name, linked
// to the tickets with the given ids.
func Peer(name string, linked ...int64) *Principal {
	return &Principal{Actor: ActorPeer, Name: name, Tickets: slices.Clone(linked), Via: "peer"}
}

// Importer returns the principal of the importer named name, writing the
// history of the tickets with the given ids.
func Importer(name string, imported ...int64) *Principal {
	return &Principal{Actor: ActorImporter, Name: name, Tickets: slices.Clone(imported), Via: "import"}
}

// UnitList returns the principal of the mailing list addr (named name)
// of a unit in the mode redirect, answering about ticket ticketID
// (ActorUnitList).
func UnitList(addr, name string, ticketID int64) *Principal {
	return &Principal{Actor: ActorUnitList, Email: addr, Name: name, Tickets: []int64{ticketID}, Via: "mail"}
}

// IsUnitList tells whether p is a unit's mailing list (ActorUnitList).
func (p *Principal) IsUnitList() bool { return p != nil && p.actor() == ActorUnitList }

// ByMail returns a copy of person p writing by mail (ActorMail).
func (p *Principal) ByMail() *Principal {
	m := *p
	m.Actor, m.Via, m.Tickets = ActorMail, "mail", slices.Clone(p.Tickets)
	return &m
}

// AsRequester returns a copy of p with no more rights than a requester's:
// no role, no units, not in the ticket handler team. It is how mail from a
// staff member's address that does not prove its sender is treated.
func (p *Principal) AsRequester() *Principal {
	return &Principal{UserID: p.UserID, Email: p.Email, Name: p.Name, Role: RoleUser, Team: p.Team,
		Units: map[int64]UnitRole{}, ReadOnly: p.ReadOnly, Via: p.Via, Actor: p.Actor, Tickets: slices.Clone(p.Tickets)}
}

// TakingPart returns a copy of mail participant p that takes part in
// ticket id too, as the mail gateway found out (see ActorMail). Any other
// principal is returned as it is: only mail knows such participants.
func (p *Principal) TakingPart(id int64) *Principal {
	if p.actor() != ActorMail || slices.Contains(p.Tickets, id) {
		return p
	}
	m := *p
	m.Tickets = append(slices.Clone(p.Tickets), id)
	return &m
}

// actor is p's Actor, ActorUser when unset.
func (p *Principal) actor() Actor {
	if p.Actor == "" {
		return ActorUser
	}
	return p.Actor
}

// IsPerson tells whether p is a person, signed in or writing by mail,
// whose own role and units count.
func (p *Principal) IsPerson() bool {
	return p != nil && (p.actor() == ActorUser || p.actor() == ActorMail)
}

// IsTimer tells whether p is the lifecycle timers (Timer).
func (p *Principal) IsTimer() bool { return p != nil && p.actor() == ActorTimer }

// readsAll tells whether p is an actor that reads every ticket without
// working any (timers, helpmesh itself).
func (p *Principal) readsAll() bool {
	return p != nil && (p.actor() == ActorTimer || p.actor() == ActorSystem)
}

// takesPart tells whether ticket id is one of p's Tickets, which count for
// mail participants, peers and importers.
func (p *Principal) takesPart(id int64) bool {
	a := p.actor()
	return (a == ActorMail || a == ActorPeer || a == ActorImporter || a == ActorUnitList) && id != 0 && slices.Contains(p.Tickets, id)
}

// writesHistory tells whether p is a system that writes the whole history
// of ticket id (a linked peer, the importer that opened it).
func (p *Principal) writesHistory(id int64) bool {
	a := p.actor()
	return (a == ActorPeer || a == ActorImporter) && p.takesPart(id)
}

// TicketIDs returns the tickets p takes part in beyond its own rights
// (Tickets, for mail participants and peers; see ActorMail and ActorPeer),
// sorted.
func (p *Principal) TicketIDs() []int64 {
	if a := p.actor(); a != ActorMail && a != ActorPeer && a != ActorImporter && a != ActorUnitList {
		return nil
	}
	ids := slices.Clone(p.Tickets)
	slices.Sort(ids)
	return ids
}

// Label names p in a ticket's history: the person's address ("ann@uni.example"),
// "ann@uni.example (by mail)", "timer", "peer rt.example", "importer ggus"
// or "system".
func (p *Principal) Label() string {
	name := p.Email
	if name == "" && p.UserID != 0 {
		name = "user " + strconv.FormatInt(p.UserID, 10)
	}
	switch a := p.actor(); {
	case a == ActorMail && name != "":
		return name + " (by mail)"
	case a == ActorUnitList:
		return "list " + p.Email + " (by mail)"
	case a == ActorPeer || a == ActorImporter:
		return string(a) + " " + p.Name
	case a == ActorTimer:
		return "timer"
	case a == ActorRelation:
		return "relation"
	case name == "":
		return "system"
	}
	return name
}

// CanWrite tells whether p may add to a ticket's thread and watchers: every
// person who sees it, and the peers linked to it; not the actors that only
// read (timers, helpmesh itself).
func (p *Principal) CanWrite(t TicketFacts) bool {
	return !p.readsAll() && p.CanSeeTicket(t)
}

// CanNote tells whether p may add internal notes to a ticket: its staff,
// the peers linked to it and the importer that opened it.
func (p *Principal) CanNote(t TicketFacts) bool {
	return p.CanWorkTicket(t) || p.writesHistory(t.ID)
}

// CanSetStatus tells whether p may move ticket t to status to when p does
// not work the ticket (CanWorkTicket allows every change): its requester
// (and for a team ticket its team) verifies or reopens it; a mail
// participant who may write to it reopens it by writing; a peer moves the
// tickets linked to it, and an importer those it opened; the timer closes
// solved and unsolved tickets and gives up on those waiting for a reply.
// The workflow's transitions are checked besides.
func (p *Principal) CanSetStatus(t TicketFacts, to string) bool {
	switch p.actor() {
	case ActorUser:
		return (t.RequesterID == p.UserID || p.InTeamOf(t)) && (to == statusVerified || to == statusReopened)
	case ActorMail:
		return (t.RequesterID == p.UserID && to == statusVerified) || (to == statusReopened && p.CanWrite(t))
	case ActorUnitList:
		return to == statusReopened && p.takesPart(t.ID)
	case ActorPeer, ActorImporter:
		return p.takesPart(t.ID)
	case ActorTimer:
		return (to == statusClosed && (t.Status == statusSolved || t.Status == statusUnsolved)) ||
			(to == statusUnsolved && t.Status == statusWaiting)
	}
	return false
}

// CanSetPriority tells whether p may change ticket t's priority when p
// does not work the ticket: the peer linked to it, which works the ticket
// on its side (research/federation.md §5: the working side owns priority).
func (p *Principal) CanSetPriority(t TicketFacts) bool {
	return p.actor() == ActorPeer && p.takesPart(t.ID)
}

// CanRelate tells whether p may relate ticket t (of kind "follow_up_of",
// "duplicate_of", ...) to another that p sees: its staff, and a person who
// opened t by mail as the follow-up of a ticket they took part in.
func (p *Principal) CanRelate(t TicketFacts, kind string) bool {
	return p.CanWorkTicket(t) || (p.actor() == ActorMail && kind == "follow_up_of" && t.RequesterID == p.UserID)
}

// CanOpenFor tells whether p may open a ticket whose requester is the user
// with id requesterID: people for themselves, administrators for anyone,
// importers and peers for the requesters they bring.
func (p *Principal) CanOpenFor(requesterID int64) bool {
	switch p.actor() {
	case ActorUser, ActorMail:
		return requesterID == p.UserID || p.IsAdmin()
	case ActorImporter, ActorPeer:
		return true
	}
	return false
}
