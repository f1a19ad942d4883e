package web

import (
	"context"
	"net/http"

	"github.com/helpmesh/helpmesh/internal/event"
)

// Followers tells the state of the event stream's followers.
type Followers interface {
	Stats(ctx context.Context) ([]event.FollowerStat, error)
}

type followersView struct {
	Page
	Followers []event.FollowerStat
	NoStream  bool
}

// adminEvents shows each follower of the event stream (mail, live pages,
// webhooks, connectors...): how far behind it is and why it fails.
func (h *Handler) adminEvents(w http.ResponseWriter, r *http.Request) {
	v := followersView{Page: h.page(r, "Event followers", "admin")}
	if h.d.Followers == nil {
		v.NoStream = true
	} else {
		var err error
		if v.Followers, err = h.d.Followers.Stats(r.Context()); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	h.render(w, r, http.StatusOK, "admin_events", v)
}
