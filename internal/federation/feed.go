package federation

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/tmf621"
)

// Feed limits.
const (
	FeedDefault = 100
	FeedMax     = 500
	// feedScan bounds the events one call looks at; next_cursor then
	// says where to go on.
	feedScan = 5000
)

// ParseCursor reads the after parameter of the feed: "" (from the
// oldest event kept), "now" (-1: the head) or a next_cursor.
func ParseCursor(s string) (int64, error) {
	switch s {
	case "":
		return 0, nil
	case "now":
		return -1, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, apperr.Field("after", "must be \"now\" or a cursor from next_cursor")
	}
	return n, nil
}

// Events returns the changes to peer's tickets after the cursor position
// (-1: from now on, which returns no item and the head as cursor), at
// most limit, oldest first. Changes made by peer itself are marked echo.
func (s *Store) Events(ctx context.Context, peer *auth.Principal, after int64, limit int) (*tmf621.EventPage, error) {
	if limit < 1 || limit > FeedMax {
		return nil, apperr.Field("limit", "must be a number from 1 to %d", FeedMax)
	}
	page := &tmf621.EventPage{Items: []tmf621.Event{}}
	if after < 0 {
		head, err := s.opts.Events.Head(ctx)
		if err != nil {
			return nil, err
		}
		page.NextCursor = strconv.FormatInt(head, 10)
		return page, nil
	}
	mine := map[int64]bool{}
	for _, id := range peer.TicketIDs() {
		mine[id] = true
	}
	var files int64 // bytes of the files the page carries
	full := false
	for scanned := 0; len(page.Items) < limit && scanned < feedScan && !full; {
		evs, err := s.opts.Events.Read(ctx, after, limit)
		if err != nil {
			return nil, err
		}
		scanned += len(evs)
		for _, e := range evs {
			if len(page.Items) == limit {
				break
			}
			if !mine[e.TicketID] || !ticket.IsTicketEvent(e) {
				after = e.Position
				continue
			}
			item, ok, err := s.feedItem(ctx, peer, e)
			if err != nil {
				return nil, err
			}
			if n := noteBytes(item.Note); n > 0 {
				// The page's files stay within one note's bound: an item
				// that would pass it starts the next page.
				if len(page.Items) > 0 && files+n > tmf621.MaxNoteFiles {
					full = true
					break
				}
				files += n
			}
			after = e.Position
			if ok {
				page.Items = append(page.Items, item)
			}
		}
		if len(evs) < limit {
			break
		}
	}
	page.NextCursor = strconv.FormatInt(after, 10)
	return page, nil
}

// noteBytes is the size of the files n carries.
func noteBytes(n *tmf621.Note) int64 {
	var total int64
	if n != nil {
		for _, a := range n.Attachment {
			if a.Content != "" {
				total += a.Size
			}
		}
	}
	return total
}

// feedItem is e as the feed shows it: the note it added (with its text),
// the status and priority it changed. Events that carry neither
// (escalations, reminders, the creation) are left out.
func (s *Store) feedItem(ctx context.Context, peer *auth.Principal, e event.Event) (tmf621.Event, bool, error) {
	var te ticket.Event
	if err := json.Unmarshal(e.Data, &te); err != nil {
		s.opts.Log.Warn("federation: an event that is not a ticket event", "event", e.ID, "err", err)
		return tmf621.Event{}, false, nil
	}
	item := tmf621.Event{ID: strconv.FormatInt(e.ID, 10), Type: e.Type, At: e.At, TicketID: strconv.FormatInt(e.TicketID, 10),
		Echo: te.ActorID != 0 && te.ActorID == peer.UserID}
	if te.Kind == "message" && te.MessageID != 0 {
		m, err := s.opts.Tickets.Message(ctx, te.MessageID)
		if apperr.Is(err, apperr.NotFound) {
			return item, false, nil
		}
		if err != nil {
			return item, false, err
		}
		n := noteOf(m)
		if n.Attachment, err = s.noteFiles(ctx, m, true); err != nil {
			return item, false, err
		}
		item.Note = &n
	}
	if te.Kind != "created" {
		for _, c := range te.Changes {
			switch c.Field {
			case "status":
				item.Status = c.New
				item.Changed = append(item.Changed, "status")
			case "priority":
				item.Priority = c.New
				item.Changed = append(item.Changed, "priority")
			}
		}
	}
	return item, item.Note != nil || len(item.Changed) > 0, nil
}
