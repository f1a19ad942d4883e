package web

import (
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// requesterHistory is a ticket's history as someone who does not work it
// sees it (its requester, a watcher, the requester's team): what happened
// to their request (created, replies, status and priority, watchers,
// escalations, reminders) without the routing steps (unit, service,
// assignee, type), and people by name rather than by address. Staff are
// named by the name they write under; the others say "Support".
func requesterHistory(hist []ticket.HistoryEntry, t *ticket.Ticket, ms []*ticket.Message) []ticket.HistoryEntry {
	names := map[int64]string{t.Requester.ID: t.Requester.Name}
	for _, m := range ms {
		if m.Author.ID != 0 && m.Author.Name != "" {
			names[m.Author.ID] = m.Author.Name
		}
	}
	out := make([]ticket.HistoryEntry, 0, len(hist))
	for _, e := range hist {
		switch e.Action {
		case "changed":
			if e.Field != "status" && e.Field != "priority" {
				continue
			}
		case "created", "replied", "watcher_added", "watcher_removed", "reminded":
		case "escalated":
			e.Old = "" // who was told is the staff's business
		default:
			continue
		}
		switch name := names[e.ActorID]; {
		case e.ActorID == 0:
			e.Actor = "automatic"
		case name != "":
			e.Actor = name
		default:
			e.Actor = "Support"
		}
		out = append(out, e)
	}
	return out
}
