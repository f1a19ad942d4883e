package redmine5

import (
	"strings"

	"github.com/helpmesh/helpmesh/internal/ticket"
)

// The status and priority mapping of research/federation.md §3, by the
// names of Redmine's default data. Redmine's ids differ per instance: the
// client looks them up by these names.

// statusToRedmine maps helpmesh's statuses to Redmine's.
var statusToRedmine = map[ticket.Status]string{
	ticket.New:             "New",
	ticket.Assigned:        "New",
	ticket.InProgress:      "In Progress",
	ticket.WaitingForReply: "Feedback",
	ticket.OnHold:          "In Progress",
	ticket.Reopened:        "In Progress",
	ticket.Solved:          "Resolved",
	ticket.Unsolved:        "Rejected",
	ticket.Verified:        "Closed",
	ticket.Closed:          "Closed",
}

// statusFromRedmine maps Redmine's default statuses back (lower case).
var statusFromRedmine = map[string]ticket.Status{
	"new":         ticket.New,
	"in progress": ticket.InProgress,
	"feedback":    ticket.WaitingForReply,
	"resolved":    ticket.Solved,
	"rejected":    ticket.Unsolved,
	"closed":      ticket.Closed,
}

// priorityToRedmine maps helpmesh's priorities to Redmine's.
var priorityToRedmine = map[ticket.Priority]string{
	ticket.LessUrgent:  "Normal",
	ticket.Urgent:      "High",
	ticket.VeryUrgent:  "Urgent",
	ticket.TopPriority: "Immediate",
}

// priorityFromRedmine maps Redmine's default priorities back (lower case).
var priorityFromRedmine = map[string]ticket.Priority{
	"low":       ticket.LessUrgent,
	"normal":    ticket.LessUrgent,
	"high":      ticket.Urgent,
	"urgent":    ticket.VeryUrgent,
	"immediate": ticket.TopPriority,
}

// helpmeshStatus maps a Redmine status to helpmesh's. A status that is
// not one of Redmine's defaults counts as in_progress, or closed when
// Redmine marks it closed.
func helpmeshStatus(name string, isClosed bool) string {
	if s, ok := statusFromRedmine[strings.ToLower(strings.TrimSpace(name))]; ok {
		return string(s)
	}
	if isClosed {
		return string(ticket.Closed)
	}
	return string(ticket.InProgress)
}

// helpmeshPriority maps a Redmine priority to helpmesh's; one that is
// not a default counts as less_urgent.
func helpmeshPriority(name string) string {
	if p, ok := priorityFromRedmine[strings.ToLower(strings.TrimSpace(name))]; ok {
		return string(p)
	}
	return string(ticket.LessUrgent)
}

// PeerStatus is the name Redmine shows for helpmesh's status (the
// connector engine's StatusMapper): statuses that map to one Redmine
// status are the same on the peer, so reading that status back does not
// move the ticket between them (assigned and new, solved and verified).
func (c *Client) PeerStatus(status string) string {
	if name, ok := statusToRedmine[ticket.Status(status)]; ok {
		return name
	}
	return status
}
