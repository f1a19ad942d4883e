package client

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// Connector is a connector to an external ticketing system
// (administrators). Token is sent when it is created, never shown again.
type Connector struct {
	Name         string     `json:"name"`
	Kind         string     `json:"kind"` // rt5, redmine5 or helpmesh
	URL          string     `json:"url"`
	Token        string     `json:"token,omitempty"`
	Queue        string     `json:"queue,omitempty"`
	Project      string     `json:"project,omitempty"`
	TrackerID    int64      `json:"tracker_id,omitempty"`
	Unit         string     `json:"unit,omitempty"`
	PollInterval string     `json:"poll_interval,omitempty"`
	State        string     `json:"state,omitempty"` // ok, failing or paused
	LastSyncAt   *time.Time `json:"last_sync_at,omitempty"`
	LastError    string     `json:"last_error,omitempty"`
	Pending      int        `json:"pending,omitempty"`
	Dead         int        `json:"dead,omitempty"`
	// Reconciliation is the summary of the last reconciliation pass.
	Reconciliation *Reconciliation `json:"reconciliation,omitempty"`
}

// Reconciliation is the summary of a connector's reconciliation pass.
type Reconciliation struct {
	At       *time.Time `json:"at"`
	Checked  int        `json:"checked"`
	Repaired int        `json:"repaired"`
	Failed   int        `json:"failed"`
	Error    string     `json:"error,omitempty"`
}

// Link is a ticket's counterpart on a connector's peer.
type Link struct {
	Connector  string    `json:"connector"`
	RemoteID   string    `json:"remote_id"`
	RemoteURL  string    `json:"remote_url"`
	State      string    `json:"state"`
	LastSyncAt time.Time `json:"last_sync_at"`
}

// CreateConnector adds a connector.
func (c *Client) CreateConnector(ctx context.Context, k Connector) (*Connector, error) {
	var out Connector
	return &out, c.Do(ctx, "POST", "/api/v1/connectors", k, &out)
}

// Connector returns the connector named name.
func (c *Client) Connector(ctx context.Context, name string) (*Connector, error) {
	var out Connector
	return &out, c.Do(ctx, "GET", "/api/v1/connectors/"+url.PathEscape(name), nil, &out)
}

// Reconcile runs a reconciliation pass of the connector named name now.
func (c *Client) Reconcile(ctx context.Context, name string) (*Reconciliation, error) {
	var out Reconciliation
	return &out, c.Do(ctx, "POST", "/api/v1/connectors/"+url.PathEscape(name)+"/reconcile", nil, &out)
}

// SetServiceMode sets a service's integration mode and connector.
func (c *Client) SetServiceMode(ctx context.Context, slug, mode, connector string) (*Service, error) {
	var out Service
	return &out, c.Do(ctx, "PATCH", "/api/v1/services/"+url.PathEscape(slug), map[string]string{"mode": mode, "connector": connector}, &out)
}

// Links returns a ticket's links.
func (c *Client) Links(ctx context.Context, ticketID int64) ([]Link, error) {
	var out items[Link]
	return out.Items, c.Do(ctx, "GET", "/api/v1/tickets/"+strconv.FormatInt(ticketID, 10)+"/links", nil, &out)
}
