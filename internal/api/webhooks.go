package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/webhook"
)

// webhookMetrics shows in /metrics the deliveries waiting and dead.
type webhookMetrics struct {
	store *webhook.Store
	log   *slog.Logger
}

var webhookDeliveries = prometheus.NewDesc("helpmesh_webhook_deliveries",
	"Webhook deliveries by state: pending (queued or waiting for a retry) and dead (gave up; kept in the log 30 days).", []string{"state"}, nil)

func (m webhookMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- webhookDeliveries }

func (m webhookMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pending, dead, err := m.store.Counts(ctx)
	if err != nil {
		m.log.Warn("metrics: webhook deliveries", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(webhookDeliveries, prometheus.GaugeValue, float64(pending), "pending")
	ch <- prometheus.MustNewConstMetric(webhookDeliveries, prometheus.GaugeValue, float64(dead), "dead")
}

type webhookDTO struct {
	ID        int64     `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Unit      string    `json:"unit,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Secret    string    `json:"secret,omitempty"` // only in the answer to the create
}

type webhookReq struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Unit   string   `json:"unit"`
}

type deliveryDTO struct {
	ID          int64      `json:"id"`
	EventID     int64      `json:"event_id"`
	Event       string     `json:"event"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	LastStatus  int        `json:"last_status,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	NextTryAt   *time.Time `json:"next_try_at"`
	DeliveredAt *time.Time `json:"delivered_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

// writeWebhook answers with wh, or with the error that came with it.
func (a *API) writeWebhook(w http.ResponseWriter, r *http.Request, code int, wh *webhook.Webhook, err error) {
	var out webhookDTO
	if err == nil {
		out, err = a.toWebhook(r, wh)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, code, out)
}

// toWebhook shows w, naming its unit by slug.
func (a *API) toWebhook(r *http.Request, w *webhook.Webhook) (webhookDTO, error) {
	d := webhookDTO{ID: w.ID, URL: w.URL, Events: w.Events, CreatedAt: w.CreatedAt, Secret: w.Secret}
	if w.UnitID != 0 {
		u, err := a.Units.UnitByID(r.Context(), w.UnitID)
		if err != nil {
			return d, err
		}
		d.Unit = u.Slug
	}
	return d, nil
}

// createWebhook serves POST /api/v1/webhooks: administrators for every
// event, a unit's admins for their unit's tickets' events.
func (a *API) createWebhook(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var req webhookReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	nw := webhook.NewWebhook{URL: req.URL, Events: req.Events}
	if req.Unit != "" {
		if err := unit.CheckSlug("unit", req.Unit); err != nil {
			a.writeError(w, r, err)
			return
		}
		u, err := a.Units.Unit(r.Context(), req.Unit)
		if apperr.Is(err, apperr.NotFound) {
			err = apperr.Field("unit", "no unit %q", req.Unit)
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		nw.UnitID = u.ID
	}
	wh, err := a.Webhooks.Create(r.Context(), p, nw)
	a.writeWebhook(w, r, http.StatusCreated, wh, err)
}

// listWebhooks serves GET /api/v1/webhooks: those the caller manages.
func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	ws, err := a.Webhooks.List(r.Context(), p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]webhookDTO, 0, len(ws))
	for _, wh := range ws {
		d, err := a.toWebhook(r, wh)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		items = append(items, d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (a *API) getWebhook(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	wh, err := a.Webhooks.Get(r.Context(), p, id)
	a.writeWebhook(w, r, http.StatusOK, wh, err)
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Webhooks.Delete(r.Context(), p, id); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// webhookDeliveries serves GET /api/v1/webhooks/{id}/deliveries?cursor=&limit=:
// the delivery log, newest first.
func (a *API) webhookDeliveries(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var before int64
	if c := r.URL.Query().Get("cursor"); c != "" {
		if before, err = decodeCursor(c); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	limit, err := queryInt(r, "limit", 50, 1, 500)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ds, err := a.Webhooks.Deliveries(r.Context(), p, id, before, limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]deliveryDTO, len(ds))
	for i, d := range ds {
		items[i] = deliveryDTO{ID: d.ID, EventID: d.EventID, Event: d.EventType, State: d.State, Attempts: d.Attempts,
			LastStatus: d.LastStatus, LastError: d.LastError, NextTryAt: d.NextTryAt, DeliveredAt: d.DeliveredAt, CreatedAt: d.CreatedAt}
	}
	next := ""
	if len(ds) == limit {
		next = encodeCursor(ds[len(ds)-1].ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}
