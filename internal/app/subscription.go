package app

import (
	"context"
	"net/http"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/notify"
	"github.com/helpmesh/helpmesh/internal/statusweb"
	"github.com/helpmesh/helpmesh/internal/subscription"
)

// buildSubscriptions makes the store of status-page subscriptions and
// announcements, and has the mail gateway follow the event stream for
// what services' subscribers and requesters are told (incidents, changes,
// announcements). After buildMail and buildStatus, before the stream
// starts.
func (a *App) buildSubscriptions() error {
	subs, err := subscription.NewStore(a.DB, subscription.Options{
		Services: a.Units, Secret: a.Mail.DerivedKey("subscription"),
		Confirm: a.Mail.QueueConfirmation, Progress: a.Mail.AnnouncementProgress,
		Emit: func(ctx context.Context, q db.Querier, typ string, data any) error {
			return a.Events.Append(ctx, q, typ, 0, data)
		},
	})
	if err != nil {
		return err
	}
	a.Subscriptions = subs
	a.Mail.FollowServices(notify.NewServiceNotifier(a.Mail.ServiceNotifierOptions(notify.ServiceOptions{
		Audiences: subs, Services: a.Units, Incidents: a.Incidents,
	})))
	return nil
}

// mountSubscriptions serves the status page's subscription pages and its
// archive of announcements.
func (a *App) mountSubscriptions(mux *http.ServeMux) {
	h := statusweb.Subscriptions{Store: a.Subscriptions, Services: a.Units, Name: "helpmesh", Log: a.Log}
	for _, r := range statusweb.SubscriptionRoutes {
		mux.Handle(r, h)
	}
}
