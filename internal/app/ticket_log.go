package app

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/helpmesh/helpmesh/internal/event"
)

// ticketLogFollower logs each new ticket once, after its creation
// committed, whichever way it came (web, API, mail, import, a peer) and on
// whichever node: a durable follower of the event stream.
const ticketLogFollower = "ticket-log"

// followNewTickets logs every new ticket at info: its id, unit, service and
// source.
func (a *App) followNewTickets() {
	a.Events.Follow(ticketLogFollower, func(ctx context.Context, evs []event.Event) (event.Commit, error) {
		type created struct {
			id     int64
			source string
		}
		var news []created
		for _, ev := range evs {
			if ev.Type != event.TicketCreated || ev.TicketID == 0 {
				continue
			}
			var data struct{ Source string }
			_ = json.Unmarshal(ev.Data, &data) // the source is only told
			news = append(news, created{ev.TicketID, data.Source})
		}
		if len(news) == 0 {
			return nil, nil
		}
		ids := make([]int64, len(news))
		for i, n := range news {
			ids[i] = n.id
		}
		briefs, err := a.Tickets.Briefs(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, n := range news {
			b, ok := briefs[n.id]
			if !ok {
				continue // deleted since
			}
			unit := ""
			if u, err := a.Units.UnitByID(ctx, b.UnitID); err == nil {
				unit = u.Slug
			}
			a.Log.LogAttrs(ctx, slog.LevelInfo, "ticket created", slog.Int64("ticket", n.id), slog.String("unit", unit),
				slog.Int64("unit_id", b.UnitID), slog.Int64("service_id", b.ServiceID), slog.String("source", n.source))
		}
		return nil, nil
	}, event.FollowOptions{})
}
