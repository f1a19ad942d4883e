package client

import (
	"context"
	"strconv"
	"time"
)

// Webhook is a subscription of a URL to events.
type Webhook struct {
	ID        int64     `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Unit      string    `json:"unit,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	// Secret is the signing key (whsec_...), only in CreateWebhook's answer.
	Secret string `json:"secret,omitempty"`
}

// Delivery is one entry of a webhook's delivery log.
type Delivery struct {
	ID          int64      `json:"id"`
	EventID     int64      `json:"event_id"`
	Event       string     `json:"event"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	LastStatus  int        `json:"last_status"`
	LastError   string     `json:"last_error"`
	NextTryAt   *time.Time `json:"next_try_at"`
	DeliveredAt *time.Time `json:"delivered_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

// CreateWebhook subscribes w.URL to w.Events (optionally for w.Unit's
// tickets only); the answer holds the secret.
func (c *Client) CreateWebhook(ctx context.Context, w Webhook) (*Webhook, error) {
	in := struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
		Unit   string   `json:"unit,omitempty"`
	}{w.URL, w.Events, w.Unit}
	var out Webhook
	return &out, c.Do(ctx, "POST", "/api/v1/webhooks", in, &out)
}

// Webhooks lists the webhooks the caller manages.
func (c *Client) Webhooks(ctx context.Context) ([]Webhook, error) {
	var out struct {
		Items []Webhook `json:"items"`
	}
	return out.Items, c.Do(ctx, "GET", "/api/v1/webhooks", nil, &out)
}

// DeleteWebhook deletes a webhook and its delivery log.
func (c *Client) DeleteWebhook(ctx context.Context, id int64) error {
	return c.Do(ctx, "DELETE", "/api/v1/webhooks/"+strconv.FormatInt(id, 10), nil, nil)
}

// WebhookDeliveries returns the newest entries of a webhook's delivery log.
func (c *Client) WebhookDeliveries(ctx context.Context, id int64) ([]Delivery, error) {
	var out struct {
		Items []Delivery `json:"items"`
	}
	return out.Items, c.Do(ctx, "GET", "/api/v1/webhooks/"+strconv.FormatInt(id, 10)+"/deliveries", nil, &out)
}
