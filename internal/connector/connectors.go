package connector

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// States of a connector.
const (
	StateOK      = "ok"
	StateFailing = "failing"
	StatePaused  = "paused"
)

// Connector is one configured peer, as administrators see it: the token
// is never shown again.
type Connector struct {
	ID           int64
	Name         string
	Kind         string
	URL          string
	Queue        string
	Project      string
	TrackerID    int64
	Unit         string
	PollInterval time.Duration
	Paused       bool
	// State is StatePaused, StateFailing (the last request to the peer
	// failed) or StateOK.
	State      string
	LastSyncAt *time.Time
	LastError  string
	// Pending and Dead count the items of its outbound queue.
	Pending, Dead int
	CreatedAt     time.Time
	// Reconciliation is the summary of the last reconciliation pass.
	Reconciliation Reconciliation

	token      string
	cursor     string
	failures   int
	retryAt    *time.Time
	nextPollAt *time.Time
	updatedAt  time.Time
	// nextReconcileAt is when the next pass is due (nil: not planned yet).
	nextReconcileAt *time.Time
}

// config is the Config c's kind is built with.
func (c *Connector) config(client *http.Client, instance string) Config {
	return Config{Name: c.Name, Kind: c.Kind, URL: c.URL, Token: c.token, Queue: c.Queue, Project: c.Project,
		TrackerID: c.TrackerID, Unit: c.Unit, PollInterval: c.PollInterval, Client: client, Instance: instance}
}

// NewConnector is what Create takes.
type NewConnector struct {
	Name, Kind, URL, Token string
	Queue                  string // rt5
	Project                string // redmine5
	TrackerID              int64  // redmine5
	Unit                   string // helpmesh
	// PollInterval is a duration ("30s", the default).
	PollInterval string
}

// Bounds of a connector's fields.
const (
	maxToken        = 4096
	maxField        = 200
	minPollInterval = time.Second
	maxPollInterval = 24 * time.Hour
	// DefaultPollInterval is a connector's poll interval when none is given.
	DefaultPollInterval = 30 * time.Second
)

// kinds lists the kinds a connector may have.
var kinds = []string{RT5, Redmine5, Helpmesh}

// check validates nc and returns its poll interval.
func (e *Engine) check(ctx context.Context, nc *NewConnector) (time.Duration, error) {
	if err := unit.CheckSlug("name", nc.Name); err != nil {
		return 0, err
	}
	if !slices.Contains(kinds, nc.Kind) {
		return 0, apperr.Field("kind", "must be one of %s", strings.Join(kinds, ", "))
	}
	if _, err := outbound.ParseURL(nc.URL); err != nil {
		return 0, apperr.Field("url", "%v", err)
	}
	if e.opts.Checker != nil {
		if err := e.opts.Checker.CheckURL(ctx, nc.URL); err != nil {
			return 0, apperr.Field("url", "%v", err)
		}
	}
	nc.URL = strings.TrimRight(nc.URL, "/")
	switch {
	case strings.TrimSpace(nc.Token) == "":
		return 0, apperr.Field("token", "is required")
	case len(nc.Token) > maxToken || strings.ContainsAny(nc.Token, "\r\n"):
		return 0, apperr.Field("token", "must be one line of at most %d bytes", maxToken)
	}
	for _, f := range []struct{ name, v string }{{"queue", nc.Queue}, {"project", nc.Project}, {"unit", nc.Unit}} {
		if len(f.v) > maxField || strings.ContainsAny(f.v, "\r\n\x00") {
			return 0, apperr.Field(f.name, "must be one line of at most %d bytes", maxField)
		}
	}
	switch {
	case nc.Kind == RT5 && nc.Queue == "":
		return 0, apperr.Field("queue", "is required for an rt5 connector")
	case nc.Kind == Redmine5 && nc.Project == "":
		return 0, apperr.Field("project", "is required for a redmine5 connector")
	case nc.TrackerID < 0:
		return 0, apperr.Field("tracker_id", "must not be negative")
	}
	if nc.PollInterval == "" {
		return DefaultPollInterval, nil
	}
	d, err := time.ParseDuration(nc.PollInterval)
	if err != nil || d < minPollInterval || d > maxPollInterval {
		return 0, apperr.Field("poll_interval", "must be a duration from %s to %s, such as \"30s\"", minPollInterval, maxPollInterval)
	}
	return d, nil
}

// Create adds a connector.
func (e *Engine) Create(ctx context.Context, nc NewConnector) (*Connector, error) {
	poll, err := e.check(ctx, &nc)
	if err != nil {
		return nil, err
	}
	now := e.now()
	_, err = e.db.InsertID(ctx, e.db.W, `INSERT INTO connectors (name, kind, url, token, queue, project, tracker_id, unit, poll_seconds, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`,
		nc.Name, nc.Kind, nc.URL, nc.Token, nc.Queue, nc.Project, nc.TrackerID, nc.Unit, int64(poll/time.Second), now)
	if db.IsUniqueViolation(err) {
		return nil, apperr.New(apperr.Conflict, "a connector named %s exists already", nc.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("connector: create: %w", err)
	}
	e.Wake()
	return e.Get(ctx, nc.Name)
}

const connectorCols = `c.id, c.name, c.kind, c.url, c.token, c.queue, c.project, c.tracker_id, c.unit, c.poll_seconds, c.paused,
	c.last_sync_at, c.last_error, c.poll_cursor, c.failures, c.retry_at, c.next_poll_at, c.created_at, c.updated_at,
	c.next_reconcile_at, c.last_reconcile_at, c.reconcile_checked, c.reconcile_repaired, c.reconcile_failed, c.reconcile_error,
	(SELECT COUNT(*) FROM connector_items i WHERE i.connector_id = c.id AND i.state = 'pending'),
	(SELECT COUNT(*) FROM connector_items i WHERE i.connector_id = c.id AND i.state = 'dead')`

func scanConnector(r interface{ Scan(...any) error }) (*Connector, error) {
	c := &Connector{}
	var poll int64
	err := r.Scan(&c.ID, &c.Name, &c.Kind, &c.URL, &c.token, &c.Queue, &c.Project, &c.TrackerID, &c.Unit, &poll, &c.Paused,
		&c.LastSyncAt, &c.LastError, &c.cursor, &c.failures, &c.retryAt, &c.nextPollAt, &c.CreatedAt, &c.updatedAt,
		&c.nextReconcileAt, &c.Reconciliation.At, &c.Reconciliation.Checked, &c.Reconciliation.Repaired, &c.Reconciliation.Failed, &c.Reconciliation.Error,
		&c.Pending, &c.Dead)
	if err != nil {
		return nil, err
	}
	c.PollInterval = time.Duration(poll) * time.Second
	c.CreatedAt, c.updatedAt = c.CreatedAt.UTC(), c.updatedAt.UTC()
	for _, t := range []**time.Time{&c.LastSyncAt, &c.retryAt, &c.nextPollAt, &c.nextReconcileAt, &c.Reconciliation.At} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	switch {
	case c.Paused:
		c.State = StatePaused
	case c.failures > 0 || c.LastError != "":
		c.State = StateFailing
	default:
		c.State = StateOK
	}
	return c, nil
}

// Get returns the connector named name.
func (e *Engine) Get(ctx context.Context, name string) (*Connector, error) {
	return e.get(ctx, e.db.Reader(), name)
}

func (e *Engine) get(ctx context.Context, q db.Querier, name string) (*Connector, error) {
	c, err := scanConnector(q.QueryRowContext(ctx, `SELECT `+connectorCols+` FROM connectors c WHERE c.name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no connector %q", name)
	}
	if err != nil {
		return nil, fmt.Errorf("connector: get %s: %w", name, err)
	}
	return c, nil
}

// List returns every connector by name.
func (e *Engine) List(ctx context.Context) ([]*Connector, error) { return e.list(ctx) }

func (e *Engine) list(ctx context.Context) ([]*Connector, error) {
	rows, err := e.db.Reader().QueryContext(ctx, `SELECT `+connectorCols+` FROM connectors c ORDER BY c.name`)
	if err != nil {
		return nil, fmt.Errorf("connector: list: %w", err)
	}
	cs, err := db.Collect(rows, scanConnector)
	if err != nil {
		return nil, fmt.Errorf("connector: list: %w", err)
	}
	return cs, nil
}

// SetPaused pauses or resumes a connector: a paused one keeps queueing
// helpmesh's changes but neither sends nor polls.
func (e *Engine) SetPaused(ctx context.Context, name string, paused bool) (*Connector, error) {
	res, err := e.db.W.ExecContext(ctx, `UPDATE connectors SET paused = $1, failures = 0, retry_at = NULL, updated_at = $2 WHERE name = $3`, paused, e.now(), name)
	if err != nil {
		return nil, fmt.Errorf("connector: pause %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, apperr.New(apperr.NotFound, "no connector %q", name)
	}
	if !paused {
		if _, err := e.db.W.ExecContext(ctx, `UPDATE connector_items SET next_try_at = $1
			WHERE state = 'pending' AND connector_id = (SELECT id FROM connectors WHERE name = $2)`, e.now(), name); err != nil {
			return nil, fmt.Errorf("connector: resume %s: %w", name, err)
		}
		e.Wake()
	}
	return e.Get(ctx, name)
}

// Delete removes a connector with its links, queue and logs of applied
// changes; one that a service names is kept (a 409).
func (e *Engine) Delete(ctx context.Context, name string) error {
	if _, err := e.Get(ctx, name); err != nil {
		return err
	}
	svs, err := e.opts.Services.Services(ctx)
	if err != nil {
		return fmt.Errorf("connector: delete %s: %w", name, err)
	}
	for _, sv := range svs {
		if sv.Connector == name {
			return apperr.New(apperr.Conflict, "the service %s synchronises through connector %s: change the service first", sv.Slug, name)
		}
	}
	if _, err := e.db.W.ExecContext(ctx, `DELETE FROM connectors WHERE name = $1`, name); err != nil {
		return fmt.Errorf("connector: delete %s: %w", name, err)
	}
	e.mu.Lock()
	delete(e.peers, name)
	e.mu.Unlock()
	return nil
}

// failed records that a request to c's peer failed: the peer is sent
// nothing for the backoff of its failures in a row, and polled again after
// that backoff or its poll interval, whichever is shorter.
func (e *Engine) failed(ctx context.Context, c *Connector, cause error) error {
	c.failures++
	wait := e.backoff(c.failures)
	retry := e.now().Add(wait)
	// The next poll probes the peer no later than its interval: when it
	// answers, the backoff ends.
	probe := e.now().Add(min(wait, c.PollInterval))
	c.retryAt, c.nextPollAt = &retry, &probe
	msg := truncate(cause.Error(), 1000)
	_, err := e.db.W.ExecContext(ctx, `UPDATE connectors SET failures = $1, retry_at = $2, next_poll_at = $3, last_error = $4 WHERE id = $5`,
		c.failures, retry, probe, msg, c.ID)
	if err != nil {
		return fmt.Errorf("connector %s: record a failure: %w", c.Name, err)
	}
	return nil
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
