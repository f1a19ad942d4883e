package live

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/helpmesh/helpmesh/internal/event"
)

type units map[int64]int64

func (u units) UnitsOf(ctx context.Context, ids []int64) (map[int64]int64, error) { return u, nil }

func told(s *Sub) bool {
	select {
	case <-s.C:
		return true
	default:
		return false
	}
}

func ev(typ string, ticket int64, data any) event.Event {
	b, _ := json.Marshal(data)
	return event.Event{Type: typ, TicketID: ticket, Data: b}
}

// TestHub: a ticket page is told of its ticket's changes, a requester's not
// of an internal note; a queue of every change to its tickets and of a
// ticket that leaves it; several changes while one waits are one wake-up.
func TestHub(t *testing.T) {
	h := NewHub(units{7: 1, 8: 2})
	ctx := context.Background()
	requester, done := h.Ticket(7, false)
	defer done()
	staff, done2 := h.Ticket(7, true)
	defer done2()
	queue1, done3 := h.Queue(1)
	defer done3()
	queue2, done4 := h.Queue(2)

	tell := func(evs ...event.Event) {
		t.Helper()
		if _, err := h.tell(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	tell(ev(event.TicketNote, 7, map[string]any{"Internal": true}))
	if told(requester) || !told(staff) || !told(queue1) || told(queue2) {
		t.Error("a note: only staff's page and the unit's queue are told")
	}
	tell(ev(event.TicketMessage, 7, nil), ev(event.TicketUpdated, 7, nil))
	if !told(requester) || told(requester) {
		t.Error("two changes: one wake-up for the requester's page")
	}
	// Ticket 8 moved from unit 1 to unit 2: both queues are told.
	tell(ev(event.TicketAssigned, 8, map[string]any{"Changes": []map[string]string{{"Field": "unit_id", "Old": "1", "New": "2"}}}))
	if !told(queue1) || !told(queue2) {
		t.Error("a move: the old and the new unit's queues are told")
	}
	done4()
	tell(ev(event.TicketUpdated, 8, nil))
	if told(queue2) {
		t.Error("a page that is gone was told")
	}
	if len(h.queues[2]) != 0 {
		t.Error("a gone subscription is kept")
	}
}
