package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/helpmesh/helpmesh/internal/connector"
)

// Connectors is what the pages show of the connector engine: the
// connectors with their queues, dead items to retry or skip, and each
// ticket's links and sync log.
type Connectors interface {
	List(ctx context.Context) ([]*connector.Connector, error)
	DeadItems(ctx context.Context, name string) ([]connector.Item, error)
	Retry(ctx context.Context, name string, id int64) error
	Skip(ctx context.Context, name string, id int64) error
	Reconcile(ctx context.Context, name string) (connector.Reconciliation, error)
	Links(ctx context.Context, ticketID int64) ([]connector.Link, error)
	SyncLog(ctx context.Context, ticketID int64) ([]connector.SyncEntry, error)
}

type connectorsView struct {
	Page
	Connectors []connectorRow
	NoEngine   bool
}

// connectorRow is a connector with its dead items.
type connectorRow struct {
	*connector.Connector
	DeadItems []connector.Item
}

// adminConnectors shows the connectors: state, how long since the last
// sync, pending and dead items, with retry and skip buttons for the dead.
func (h *Handler) adminConnectors(w http.ResponseWriter, r *http.Request) {
	v := connectorsView{Page: h.page(r, "Connectors", "admin")}
	if h.d.Connectors == nil {
		v.NoEngine = true
		h.render(w, r, http.StatusOK, "admin_connectors", v)
		return
	}
	cs, err := h.d.Connectors.List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, c := range cs {
		row := connectorRow{Connector: c}
		if c.Dead > 0 {
			if row.DeadItems, err = h.d.Connectors.DeadItems(r.Context(), c.Name); err != nil {
				h.fail(w, r, err)
				return
			}
		}
		v.Connectors = append(v.Connectors, row)
	}
	h.render(w, r, http.StatusOK, "admin_connectors", v)
}

// connectorItem retries (POST .../retry) or skips (.../skip) a dead item.
func (h *Handler) connectorItem(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || h.d.Connectors == nil {
		h.errorPage(w, r, http.StatusNotFound, "No such item.")
		return
	}
	do := h.d.Connectors.Retry
	if r.PathValue("action") == "skip" {
		do = h.d.Connectors.Skip
	} else if r.PathValue("action") != "retry" {
		h.errorPage(w, r, http.StatusNotFound, "No such action.")
		return
	}
	if err := do(r.Context(), r.PathValue("name"), id); err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/admin/connectors", "saved")
}

// connectorReconcile runs a reconciliation pass of a connector now
// (POST /admin/connectors/{name}/reconcile); the page shows its summary.
func (h *Handler) connectorReconcile(w http.ResponseWriter, r *http.Request) {
	if h.d.Connectors == nil {
		h.errorPage(w, r, http.StatusNotFound, "No such connector.")
		return
	}
	if _, err := h.d.Connectors.Reconcile(r.Context(), r.PathValue("name")); err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/admin/connectors", "saved")
}

// ticketSync is a ticket's links (for whoever sees it) and sync log (for
// its staff).
type ticketSync struct {
	Links []connector.Link
	Log   []connector.SyncEntry
}

// syncOf reads the links of ticket id, and its sync log when staff look.
func (h *Handler) syncOf(ctx context.Context, id int64, staff bool) (ticketSync, error) {
	var s ticketSync
	if h.d.Connectors == nil {
		return s, nil
	}
	var err error
	if s.Links, err = h.d.Connectors.Links(ctx, id); err != nil || !staff {
		return s, err
	}
	s.Log, err = h.d.Connectors.SyncLog(ctx, id)
	return s, err
}
