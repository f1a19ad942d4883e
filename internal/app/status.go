package app

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"

	"github.com/helpmesh/helpmesh/internal/change"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/incident"
	"github.com/helpmesh/helpmesh/internal/knownerror"
	"github.com/helpmesh/helpmesh/internal/status"
	"github.com/helpmesh/helpmesh/internal/statusweb"
)

// statusFollower is the name of the follower that drops the status page's
// cache on this node when an incident or change is written (on any node).
const statusFollower = "status-page"

// buildStatus makes the incident, known-error and change stores (and the
// worker of change reminders) and the status page, and follows
// the event stream so that a change written by any node drops the page's
// cache here. An incident written on this node renders the page again
// before its writer answers (Invalidate); the event stream's news
// (changes, and incidents of other nodes) in the background (Expire).
func (a *App) buildStatus() {
	a.Incidents = incident.NewStore(a.DB, incident.Options{
		Services: a.Units, Tickets: a.Tickets, Changed: func() { a.Status.Invalidate() },
		Emit: func(ctx context.Context, q db.Querier, typ string, data any) error {
			return a.Events.Append(ctx, q, typ, 0, data)
		},
	})
	a.KnownErrors = knownerror.NewStore(a.DB, a.Units, a.Tickets, a.Events.Append)
	a.Changes = change.NewStore(a.DB, change.Options{Services: a.Units, Emit: a.Events.Append, Changed: func() { a.Status.Invalidate() }})
	a.AddWorker(func(ctx context.Context) error {
		return a.Changes.RunReminders(ctx, a.Config.Lifecycle.TimerInterval, a.Log)
	})
	a.Status = status.New(status.Options{
		Services: a.Units, Incidents: a.Incidents, Maintenances: a.Changes, Name: "helpmesh", URL: strings.TrimRight(a.Config.PublicURL(), "/") + "/status",
		StaticDir: filepath.Join(a.Config.DataDir, "status"), Log: a.Log,
	})
	a.Events.Follow(statusFollower, func(_ context.Context, evs []event.Event) (event.Commit, error) {
		if slices.ContainsFunc(evs, func(e event.Event) bool { return slices.Contains(status.Events, e.Type) }) {
			a.Status.Expire() // rendered again in the background
		}
		return nil, nil
	}, event.FollowOptions{Local: true, Batch: 512})
}

// mountStatus serves the public status page and the Statuspage v2 JSON.
func (a *App) mountStatus(mux *http.ServeMux) {
	h := statusweb.Handler{Page: a.Status, Log: a.Log}
	for _, r := range statusweb.Routes {
		mux.Handle(r, h)
	}
}
