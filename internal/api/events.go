package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// EventFeed is what the API reads of the event stream: the feed, and the
// followers' state for /metrics.
type EventFeed interface {
	Read(ctx context.Context, after int64, limit int) ([]event.Event, error)
	Stats(ctx context.Context) ([]event.FollowerStat, error)
}

// followerMetrics shows each follower of the event stream in /metrics,
// and how many events of each type this process has seen.
type followerMetrics struct {
	feed   EventFeed
	counts func() map[string]int64
	log    *slog.Logger
}

var (
	followerLag = prometheus.NewDesc("helpmesh_event_follower_lag",
		"Events a follower of the event stream has not told yet.", []string{"follower"}, nil)
	followerTold = prometheus.NewDesc("helpmesh_event_follower_told_total",
		"Events a follower has told (local followers: by this process).", []string{"follower"}, nil)
	followerFailures = prometheus.NewDesc("helpmesh_event_follower_failures",
		"Failures in a row of a follower; 0 while it works.", []string{"follower"}, nil)
	eventsSeen = prometheus.NewDesc("helpmesh_events_total",
		"Events this process has seen in the stream since it started, by type.", []string{"type"}, nil)
)

func (m followerMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- followerLag
	ch <- followerTold
	ch <- followerFailures
	ch <- eventsSeen
}

func (m followerMetrics) Collect(ch chan<- prometheus.Metric) {
	if m.counts != nil {
		for typ, n := range m.counts() {
			ch <- prometheus.MustNewConstMetric(eventsSeen, prometheus.CounterValue, float64(n), typ)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := m.feed.Stats(ctx)
	if err != nil {
		m.log.Warn("metrics: event followers", "err", err)
		return
	}
	for _, s := range stats {
		ch <- prometheus.MustNewConstMetric(followerLag, prometheus.GaugeValue, float64(s.Lag), s.Name)
		ch <- prometheus.MustNewConstMetric(followerTold, prometheus.CounterValue, float64(s.Told), s.Name)
		ch <- prometheus.MustNewConstMetric(followerFailures, prometheus.GaugeValue, float64(s.Failures), s.Name)
	}
}

const (
	feedDefault = 100
	feedMax     = 500
	// feedScan bounds the events one request looks at for a caller who
	// sees few of them; next_cursor then says where to go on.
	feedScan = 5000
)

// events serves GET /api/v1/events?after=<cursor>&limit=N: the change feed,
// filtered by what the caller may see (a requester never sees an internal
// note). next_cursor is where the next call goes on from, also when no
// item was visible.
func (a *API) events(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	q := r.URL.Query()
	after, err := parseFeedCursor(q.Get("after"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	for k := range q {
		if k != "after" && k != "limit" {
			a.writeError(w, r, apperr.Field(k, "unknown parameter (allowed: after, limit)"))
			return
		}
	}
	limit, err := queryInt(r, "limit", feedDefault, 1, feedMax)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := []event.Item{}
	for scanned := 0; len(items) < limit && scanned < feedScan; {
		evs, err := a.Events.Read(r.Context(), after, limit)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if len(evs) == 0 {
			break
		}
		scanned += len(evs)
		visible, err := a.visibleEvents(r.Context(), p, evs)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		for _, e := range evs {
			if len(items) == limit {
				break
			}
			after = e.Position
			if d, ok := visible[e.ID]; ok {
				items = append(items, event.Item{ID: e.ID, Type: e.Type, At: e.At, TicketID: e.TicketID, Data: d})
			}
		}
		if len(evs) < limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": strconv.FormatInt(after, 10)})
}

// visibleEvents returns the data p may see of each of evs it may see.
func (a *API) visibleEvents(ctx context.Context, p *auth.Principal, evs []event.Event) (map[int64]any, error) {
	var ids []int64
	for _, e := range evs {
		if e.TicketID != 0 {
			ids = append(ids, e.TicketID)
		}
	}
	sight, err := a.Tickets.Sight(ctx, p, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]any, len(evs))
	for _, e := range evs {
		if !ticket.IsTicketEvent(e) {
			if p.IsStaff() {
				out[e.ID] = json.RawMessage(e.Data)
			}
			continue
		}
		internal, ok := sight[e.TicketID]
		if !ok || ticket.StaffOnly(e.Type) && !internal {
			continue
		}
		d, err := ticket.PublicData(e)
		if err != nil {
			a.Log.Warn("an event that is not a ticket event", "event", e.ID, "err", err)
			continue
		}
		out[e.ID] = d
	}
	return out, nil
}

func parseFeedCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, apperr.Field("after", "must be a cursor from next_cursor")
	}
	return n, nil
}
