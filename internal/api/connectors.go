package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/connector"
)

// connectorRoutes serves /api/v1/connectors (administrators) and the
// links of a ticket.
func (a *API) connectorRoutes() {
	admin := func(h func(w http.ResponseWriter, r *http.Request)) func(http.ResponseWriter, *http.Request, *auth.Principal) {
		return a.adminOnly("connectors", h)
	}
	a.authed("POST /api/v1/connectors", admin(a.createConnector))
	a.authed("GET /api/v1/connectors", admin(a.listConnectors))
	a.authed("GET /api/v1/connectors/{name}", admin(a.getConnector))
	a.authed("PATCH /api/v1/connectors/{name}", admin(a.updateConnector))
	a.authed("DELETE /api/v1/connectors/{name}", admin(a.deleteConnector))
	a.authed("GET /api/v1/connectors/{name}/items", admin(a.deadItems))
	a.authed("POST /api/v1/connectors/{name}/items/{id}/retry", admin(a.retryItem))
	a.authed("POST /api/v1/connectors/{name}/items/{id}/skip", admin(a.skipItem))
	a.authed("POST /api/v1/connectors/{name}/reconcile", admin(a.reconcileConnector))
	a.authed("GET /api/v1/tickets/{id}/links", a.ticketLinks)
}

type connectorDTO struct {
	Name         string     `json:"name"`
	Kind         string     `json:"kind"`
	URL          string     `json:"url"`
	Queue        string     `json:"queue,omitempty"`
	Project      string     `json:"project,omitempty"`
	TrackerID    int64      `json:"tracker_id,omitempty"`
	Unit         string     `json:"unit,omitempty"`
	PollInterval string     `json:"poll_interval"`
	State        string     `json:"state"`
	LastSyncAt   *time.Time `json:"last_sync_at"`
	LastError    string     `json:"last_error,omitempty"`
	Pending      int        `json:"pending"`
	Dead         int        `json:"dead"`
	CreatedAt    time.Time  `json:"created_at"`
	// Reconciliation is the summary of the last reconciliation pass.
	Reconciliation reconciliationDTO `json:"reconciliation"`
}

type reconciliationDTO struct {
	At       *time.Time `json:"at"`
	Checked  int        `json:"checked"`
	Repaired int        `json:"repaired"`
	Failed   int        `json:"failed"`
	Error    string     `json:"error,omitempty"`
}

func toReconciliation(r connector.Reconciliation) reconciliationDTO {
	return reconciliationDTO{At: r.At, Checked: r.Checked, Repaired: r.Repaired, Failed: r.Failed, Error: r.Error}
}

func toConnector(c *connector.Connector) connectorDTO {
	return connectorDTO{Name: c.Name, Kind: c.Kind, URL: c.URL, Queue: c.Queue, Project: c.Project, TrackerID: c.TrackerID, Unit: c.Unit,
		PollInterval: c.PollInterval.String(), State: c.State, LastSyncAt: c.LastSyncAt, LastError: c.LastError,
		Pending: c.Pending, Dead: c.Dead, CreatedAt: c.CreatedAt, Reconciliation: toReconciliation(c.Reconciliation)}
}

// reconcileConnector serves POST /api/v1/connectors/{name}/reconcile: a
// reconciliation pass now; it answers 201 with the pass's summary.
func (a *API) reconcileConnector(w http.ResponseWriter, r *http.Request) {
	res, err := a.Connectors.Reconcile(r.Context(), r.PathValue("name"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toReconciliation(res))
}

type connectorReq struct {
	Name         string `json:"name"`
	Kind         string `json:"kind"`
	URL          string `json:"url"`
	Token        string `json:"token"`
	Queue        string `json:"queue"`
	Project      string `json:"project"`
	TrackerID    int64  `json:"tracker_id"`
	Unit         string `json:"unit"`
	PollInterval string `json:"poll_interval"`
}

func (a *API) createConnector(w http.ResponseWriter, r *http.Request) {
	var req connectorReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.Connectors.Create(r.Context(), connector.NewConnector{Name: req.Name, Kind: req.Kind, URL: req.URL, Token: req.Token,
		Queue: req.Queue, Project: req.Project, TrackerID: req.TrackerID, Unit: req.Unit, PollInterval: req.PollInterval})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toConnector(c))
}

func (a *API) listConnectors(w http.ResponseWriter, r *http.Request) {
	cs, err := a.Connectors.List(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]connectorDTO, len(cs))
	for i, c := range cs {
		items[i] = toConnector(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (a *API) getConnector(w http.ResponseWriter, r *http.Request) {
	c, err := a.Connectors.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toConnector(c))
}

func (a *API) updateConnector(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Paused *bool `json:"paused"`
	}
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.Paused == nil {
		a.writeError(w, r, apperr.Field("paused", "is required"))
		return
	}
	c, err := a.Connectors.SetPaused(r.Context(), r.PathValue("name"), *req.Paused)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toConnector(c))
}

func (a *API) deleteConnector(w http.ResponseWriter, r *http.Request) {
	if err := a.Connectors.Delete(r.Context(), r.PathValue("name")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type itemDTO struct {
	ID        int64     `json:"id"`
	TicketID  int64     `json:"ticket_id"`
	Op        string    `json:"op"`
	Value     string    `json:"value,omitempty"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	CreatedAt time.Time `json:"created_at"`
}

// deadItems serves GET /api/v1/connectors/{name}/items: the dead items.
func (a *API) deadItems(w http.ResponseWriter, r *http.Request) {
	its, err := a.Connectors.DeadItems(r.Context(), r.PathValue("name"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]itemDTO, len(its))
	for i, it := range its {
		items[i] = itemDTO{ID: it.ID, TicketID: it.TicketID, Op: it.Op, Value: it.Value, State: it.State, Attempts: it.Attempts,
			LastError: it.LastError, CreatedAt: it.CreatedAt}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (a *API) retryItem(w http.ResponseWriter, r *http.Request) { a.onItem(w, r, a.Connectors.Retry) }
func (a *API) skipItem(w http.ResponseWriter, r *http.Request)  { a.onItem(w, r, a.Connectors.Skip) }

// onItem runs do on the dead item of the path and answers 201 with its
// connector (an action is a POST, and every POST answers 201).
func (a *API) onItem(w http.ResponseWriter, r *http.Request, do func(ctx context.Context, name string, id int64) error) {
	id, err := pathID(r, "id")
	if err == nil {
		err = do(r.Context(), r.PathValue("name"), id)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.Connectors.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toConnector(c))
}

type linkDTO struct {
	Connector  string    `json:"connector"`
	RemoteID   string    `json:"remote_id"`
	RemoteURL  string    `json:"remote_url"`
	State      string    `json:"state"`
	LastSyncAt time.Time `json:"last_sync_at"`
}

// ticketLinks serves GET /api/v1/tickets/{id}/links to whoever sees the
// ticket.
func (a *API) ticketLinks(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := pathID(r, "id")
	if err == nil {
		_, err = a.Tickets.Get(r.Context(), p, id)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ls, err := a.Connectors.Links(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]linkDTO, len(ls))
	for i, l := range ls {
		items[i] = linkDTO{Connector: l.Connector, RemoteID: l.RemoteID, RemoteURL: l.RemoteURL, State: l.State, LastSyncAt: l.LastSyncAt}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// checkConnector checks that a service's connector exists (400 if not).
func (a *API) checkConnector(ctx context.Context, name *string) error {
	if name == nil || *name == "" {
		return nil
	}
	if a.Connectors == nil {
		return apperr.Field("connector", "no connector %q", *name)
	}
	_, err := a.Connectors.Get(ctx, *name)
	if apperr.Is(err, apperr.NotFound) {
		return apperr.Field("connector", "no connector %q", *name)
	}
	return err
}

// connectorMetrics shows in /metrics each connector's queue and state.
type connectorMetrics struct {
	engine *connector.Engine
	log    *slog.Logger
}

var (
	connectorPending = prometheus.NewDesc("helpmesh_connector_pending", "Items waiting to be sent to the connector's peer.", []string{"connector"}, nil)
	connectorDead    = prometheus.NewDesc("helpmesh_connector_dead", "Items the connector gave up on (retry or skip them).", []string{"connector"}, nil)
	connectorState   = prometheus.NewDesc("helpmesh_connector_state", "1 for the connector's state: ok, failing or paused.", []string{"connector", "state"}, nil)
	connectorRecon   = prometheus.NewDesc("helpmesh_connector_reconcile_tickets", "Tickets of the connector's last reconciliation pass, by result: checked, repaired (repairs made), failed.", []string{"connector", "result"}, nil)
)

func (m connectorMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- connectorPending
	ch <- connectorDead
	ch <- connectorState
	ch <- connectorRecon
}

func (m connectorMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cs, err := m.engine.List(ctx)
	if err != nil {
		m.log.Warn("metrics: connectors", "err", err)
		return
	}
	for _, c := range cs {
		ch <- prometheus.MustNewConstMetric(connectorPending, prometheus.GaugeValue, float64(c.Pending), c.Name)
		ch <- prometheus.MustNewConstMetric(connectorDead, prometheus.GaugeValue, float64(c.Dead), c.Name)
		for _, s := range []string{connector.StateOK, connector.StateFailing, connector.StatePaused} {
			v := 0.0
			if c.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(connectorState, prometheus.GaugeValue, v, c.Name, s)
		}
		rc := c.Reconciliation
		for _, r := range []struct {
			result string
			n      int
		}{{"checked", rc.Checked}, {"repaired", rc.Repaired}, {"failed", rc.Failed}} {
			ch <- prometheus.MustNewConstMetric(connectorRecon, prometheus.GaugeValue, float64(r.n), c.Name, r.result)
		}
	}
}
