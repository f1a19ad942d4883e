package ticket

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/helpmesh/helpmesh/internal/event"
)

// PublicEvent is what the change feed (GET /api/v1/events) and webhook
// deliveries show of a ticket event: which message, which changes, who and
// from where; never a message's body.
type PublicEvent struct {
	MessageID int64    `json:"message_id,omitempty"`
	Changes   []Change `json:"changes,omitempty"`
	ActorID   int64    `json:"actor_id,omitempty"`
	Source    string   `json:"source,omitempty"`
	// Reminder counts the reminders of a ticket.reminder event.
	Reminder int `json:"reminder,omitempty"`
}

// IsTicketEvent tells whether e is about a ticket.
func IsTicketEvent(e event.Event) bool {
	return e.TicketID != 0 && strings.HasPrefix(e.Type, "ticket.")
}

// StaffOnly tells whether events of type typ are for those who see a
// ticket's internal notes only: the notes, and what the response clock
// tells its unit.
func StaffOnly(typ string) bool {
	return typ == event.TicketNote || typ == event.TicketQoSWarning || typ == event.TicketQoSViolate
}

// PublicData is the data shown of e outside helpmesh: a ticket event as
// its PublicEvent, any other event's data as written.
func PublicData(e event.Event) (any, error) {
	if !IsTicketEvent(e) {
		return json.RawMessage(e.Data), nil
	}
	var te Event
	if err := json.Unmarshal(e.Data, &te); err != nil {
		return nil, fmt.Errorf("ticket: event %d is not a ticket event: %w", e.ID, err)
	}
	return PublicEvent{MessageID: te.MessageID, Changes: te.Changes, ActorID: te.ActorID, Source: string(te.Source), Reminder: te.Reminder}, nil
}
