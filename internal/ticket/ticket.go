// Package ticket holds tickets, their message threads, attachments, watchers,
// relations and history, and the GGUS workflow that governs their status.
// Every change is written with its history row in one transaction.
package ticket

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/helpmesh/helpmesh/internal/apperr"
)

// Status of a ticket (GGUS meanings).
type Status string

// Open and terminal statuses.
const (
	New             Status = "new"
	Assigned        Status = "assigned"
	InProgress      Status = "in_progress"
	WaitingForReply Status = "waiting_for_reply"
	OnHold          Status = "on_hold"
	Reopened        Status = "reopened"
	Solved          Status = "solved"
	Unsolved        Status = "unsolved"
	Verified        Status = "verified"
	Closed          Status = "closed"
)

// Statuses lists every status in workflow order.
var Statuses = []Status{New, Assigned, InProgress, WaitingForReply, OnHold, Reopened, Solved, Unsolved, Verified, Closed}

// Open tells whether s is not terminal.
func (s Status) Open() bool {
	switch s {
	case Solved, Unsolved, Verified, Closed:
		return false
	}
	return true
}

// Frozen tells whether a ticket in status s accepts no more changes.
func (s Status) Frozen() bool { return s == Verified || s == Closed }

// transitions lists, for each status, the statuses people and peers may
// move it to. Closed is not among them: only the lifecycle timer closes
// (timerMoves).
var transitions = map[Status][]Status{
	New:             {Assigned, InProgress, WaitingForReply, OnHold, Solved, Unsolved},
	Assigned:        {InProgress, WaitingForReply, OnHold, Solved, Unsolved},
	InProgress:      {Assigned, WaitingForReply, OnHold, Solved, Unsolved},
	WaitingForReply: {InProgress, OnHold, Solved, Unsolved},
	OnHold:          {InProgress, WaitingForReply, Solved, Unsolved},
	Reopened:        {Assigned, InProgress, WaitingForReply, OnHold, Solved, Unsolved},
	Solved:          {Reopened, Verified},
	Unsolved:        {Reopened, Verified},
}

// timerMoves are the lifecycle timer's moves: it closes solved and
// unsolved tickets, and gives up on tickets waiting for a reply.
var timerMoves = map[Status][]Status{
	Solved:          {Closed},
	Unsolved:        {Closed},
	WaitingForReply: {Unsolved},
}

// StaffStatuses lists the statuses support staff may move a ticket to, in
// workflow order: every target of the workflow but verified, which is the
// requester's word, and closed, which only the timer sets.
func StaffStatuses() []Status {
	var out []Status
	for _, s := range Statuses {
		if s == Verified {
			continue
		}
		for _, targets := range transitions {
			if slices.Contains(targets, s) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// CanMove tells whether the workflow allows people and peers from -> to.
func CanMove(from, to Status) bool { return slices.Contains(transitions[from], to) }

// TimerCanMove tells whether the lifecycle timer may move from -> to.
func TimerCanMove(from, to Status) bool { return slices.Contains(timerMoves[from], to) }

// Next lists the statuses a ticket in s may move to.
func Next(s Status) []Status { return slices.Clone(transitions[s]) }

// Priority of a ticket (GGUS meanings).
type Priority string

// Priorities, lowest first.
const (
	LessUrgent  Priority = "less_urgent"  // a wish; no impact
	Urgent      Priority = "urgent"       // degraded, a workaround exists
	VeryUrgent  Priority = "very_urgent"  // degraded, no workaround
	TopPriority Priority = "top_priority" // service interrupted
)

// Priorities lists every priority, lowest first.
var Priorities = []Priority{LessUrgent, Urgent, VeryUrgent, TopPriority}

// Meaning explains a priority to the person choosing it.
func (p Priority) Meaning() string {
	switch p {
	case LessUrgent:
		return "a wish or question; no impact on work"
	case Urgent:
		return "service degraded, a workaround exists"
	case VeryUrgent:
		return "service degraded, no workaround"
	case TopPriority:
		return "service interrupted"
	}
	return ""
}

// Type of a ticket.
type Type string

// Ticket types.
const (
	Incident       Type = "incident"
	ServiceRequest Type = "service_request"
)

// Types lists every ticket type.
var Types = []Type{Incident, ServiceRequest}

// Kind of a ticket.
type Kind string

// Ticket kinds.
const (
	KindUser  Kind = "user"  // one requester
	KindTeam  Kind = "team"  // shared with the requester's team
	KindAlarm Kind = "alarm" // fast track: service down, emergency contacts paged
)

// Kinds lists every ticket kind.
var Kinds = []Kind{KindUser, KindTeam, KindAlarm}

// Source says where a change came from.
type Source string

// Sources of changes.
const (
	FromWeb    Source = "web"
	FromEmail  Source = "email"
	FromAPI    Source = "api"
	FromPeer   Source = "peer"
	FromSystem Source = "system"
	FromCLI    Source = "cli"
	// FromImport is history copied from another system by `helpmesh
	// import`: it tells nobody.
	FromImport Source = "import"
)

// Sources lists every source.
var Sources = []Source{FromWeb, FromEmail, FromAPI, FromPeer, FromSystem, FromCLI, FromImport}

// Person is a user as shown on a ticket.
type Person struct {
	ID    int64
	Email string
	Name  string
}

// Ticket is one request for help.
type Ticket struct {
	ID       int64
	Subject  string
	Status   Status
	Priority Priority
	// OriginalPriority is the priority it was opened with, for reports.
	OriginalPriority Priority
	Type             Type
	Kind             Kind
	ServiceID        int64
	Service          string // slug, "" when none
	UnitID           int64
	Unit             string // slug, "" when none
	Requester        Person
	Team             string
	Assignee         *Person
	Source           Source
	CreatedAt        time.Time
	UpdatedAt        time.Time // the last change, internal notes included
	// PublicUpdatedAt is the last change its requester sees (internal
	// notes left out); For shows it as UpdatedAt to those who see no notes.
	PublicUpdatedAt time.Time
	SolvedAt        *time.Time
	// EscalationLevel counts the user escalations, 0 to MaxEscalation.
	EscalationLevel int
	// QoS is the response clock of its unit.
	QoS         QoSClock
	Watching    bool // the principal who loaded it is a registered watcher
	WatcherList []string
}

// Message is one entry of a ticket's thread.
type Message struct {
	ID          int64
	TicketID    int64
	Author      Person // ID 0 when the author has no account
	Internal    bool
	Source      Source
	Body        string
	BodyHTML    string // sanitised HTML, when the message came as HTML
	MailID      string // Message-ID of the mail it came from or went out as
	CreatedAt   time.Time
	Attachments []Attachment
}

// Attachment is a file on a message, stored by content hash.
type Attachment struct {
	ID          int64
	MessageID   int64
	TicketID    int64
	Filename    string
	ContentType string
	Size        int64
	SHA256      string
	CreatedAt   time.Time
}

// HistoryEntry is one line of a ticket's history.
type HistoryEntry struct {
	ID      int64
	At      time.Time
	ActorID int64
	Actor   string
	Action  string // created, changed, replied, noted, attached, watcher_added, related
	Field   string
	Old     string
	New     string
	Source  Source
	// Reason is why a writer that is not a person made the change (a
	// relation: "solved with its master #12"); "" for people.
	Reason string
}

// Limits on text fields.
const (
	MaxSubject = 250
	MaxBody    = 1 << 20 // 1 MiB of text per message
)

func checkEnum[T ~string](field string, v T, all []T) error {
	if !slices.Contains(all, v) {
		names := make([]string, len(all))
		for i, a := range all {
			names[i] = string(a)
		}
		return apperr.Field(field, "%q is not one of %s", v, strings.Join(names, ", "))
	}
	return nil
}

// CheckSubject validates and trims a subject.
func CheckSubject(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case !utf8.ValidString(s):
		return "", apperr.Field("subject", "is not valid UTF-8")
	case s == "":
		return "", apperr.Field("subject", "is required")
	case utf8.RuneCountInString(s) > MaxSubject:
		return "", apperr.Field("subject", "is longer than %d characters", MaxSubject)
	case strings.ContainsAny(s, "\x00\r\n"):
		return "", apperr.Field("subject", "must be one line without NUL characters")
	}
	return s, nil
}

// CheckBody validates a message body (kept exactly as given).
func CheckBody(s string) error {
	switch {
	case !utf8.ValidString(s):
		return apperr.Field("body", "is not valid UTF-8")
	case strings.TrimSpace(s) == "":
		return apperr.Field("body", "is required")
	case len(s) > MaxBody:
		return apperr.Field("body", "is longer than %d bytes", MaxBody)
	case strings.ContainsRune(s, 0):
		return apperr.Field("body", "contains a NUL character")
	}
	return nil
}
