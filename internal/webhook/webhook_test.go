package webhook_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/webhook"
	"github.com/helpmesh/helpmesh/internal/webhook/webhooktest"
)

// clock is a time the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// ticketUnits is which unit each ticket of the test is in.
type ticketUnits map[int64]int64

func (m ticketUnits) UnitsOf(ctx context.Context, ids []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	for _, id := range ids {
		out[id] = m[id]
	}
	return out, nil
}

type fixture struct {
	d     *db.DB
	clock *clock
	log   *event.Log
	store *webhook.Store
	opts  webhook.Options // of store, for another process
	recv  *webhooktest.Receiver
	admin *auth.Principal
}

func newFixture(t *testing.T, d *db.DB, units ticketUnits) *fixture {
	t.Helper()
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	policy, err := outbound.NewPolicy([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	recv := webhooktest.NewReceiver()
	t.Cleanup(recv.Close)
	l := event.New(d, event.Options{Now: c.now})
	opts := webhook.Options{
		Checker: policy, Units: units, Now: c.now, MaxAttempts: 4, BackoffBase: time.Minute, BackoffMax: time.Hour,
		Poster: outbound.Poster{Client: policy.Client(5 * time.Second)},
	}
	s := webhook.NewStore(d, opts)
	s.Follow(l)
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &fixture{d: d, clock: c, log: l, store: s, opts: opts, recv: recv, admin: &auth.Principal{Role: auth.RoleAdmin}}
}

// emit appends a ticket event and tells it to the follower.
func (f *fixture) emit(t *testing.T, ev ticket.Event) {
	t.Helper()
	ctx := context.Background()
	if err := f.d.Tx(ctx, func(q db.Querier) error { return f.log.Append(ctx, q, ev.Type(), ev.TicketID, ev) }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.log.Step(ctx, webhook.Follower); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) deliveries(t *testing.T, id int64) []webhook.Delivery {
	t.Helper()
	ds, err := f.store.Deliveries(context.Background(), f.admin, id, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestRetriesUnderOneID: a receiver that fails twice, then succeeds, gets
// the same delivery three times under one webhook-id, each signed for its
// attempt, the last by another process (a restart); the log shows three
// attempts and the delivery; a receiver that
// always fails (or redirects) makes the delivery dead after MaxAttempts.
func TestRetriesUnderOneID(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := newFixture(t, d, ticketUnits{})
		wh, err := f.store.Create(ctx, f.admin, webhook.NewWebhook{URL: f.recv.URL + "/hook", Events: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		f.recv.Answer(500, 503)
		f.emit(t, ticket.Event{Kind: "created", TicketID: 7, MessageID: 70, ActorID: 3, Source: "api"})
		for i := range 3 {
			if i == 2 {
				f.store = webhook.NewStore(d, f.opts) // restarted: what waits is in the database
			}
			if n, err := f.store.DeliverDue(ctx); err != nil || n != 1 {
				t.Fatalf("attempt %d: DeliverDue = %d, %v", i+1, n, err)
			}
			if n, _ := f.store.DeliverDue(ctx); n != 0 {
				t.Fatalf("after attempt %d a delivery was due at once", i+1)
			}
			ds := f.deliveries(t, wh.ID)
			if len(ds) != 1 || ds[0].Attempts != i+1 {
				t.Fatalf("after attempt %d the log is %+v", i+1, ds)
			}
			if i < 2 && (ds[0].State != "pending" || ds[0].NextTryAt == nil || !ds[0].NextTryAt.After(f.clock.now()) || ds[0].LastError == "") {
				t.Fatalf("after failure %d: %+v, want pending with a next try", i+1, ds[0])
			}
			f.clock.add(3 * time.Minute) // past the backoff (1 min, then 2)
		}
		reqs := f.recv.Requests()
		if len(reqs) != 3 {
			t.Fatalf("the receiver got %d requests, want 3", len(reqs))
		}
		for i, r := range reqs {
			if r.Header.Get("webhook-id") != reqs[0].Header.Get("webhook-id") || string(r.Body) != string(reqs[0].Body) {
				t.Errorf("attempt %d: webhook-id %q body %s differ from the first attempt's", i+1, r.Header.Get("webhook-id"), r.Body)
			}
			sentAt := f.clock.now().Add(-time.Duration(3-i) * 3 * time.Minute) // the clock at attempt i
			if err := webhooktest.Verify(wh.Secret, r.Header, r.Body, sentAt); err != nil {
				t.Errorf("attempt %d: the signature does not verify: %v", i+1, err)
			}
			if err := webhooktest.Verify(wh.Secret, r.Header, append([]byte(" "), r.Body...), sentAt); err == nil {
				t.Errorf("attempt %d: a changed body verifies", i+1)
			}
		}
		var body struct {
			Type      string     `json:"type"`
			Timestamp time.Time  `json:"timestamp"`
			Data      event.Item `json:"data"`
		}
		if err := json.Unmarshal(reqs[0].Body, &body); err != nil || body.Type != "ticket.created" || body.Data.TicketID != 7 || body.Timestamp.IsZero() {
			t.Errorf("body %s: %+v, %v", reqs[0].Body, body, err)
		}
		ds := f.deliveries(t, wh.ID)
		if ds[0].State != "delivered" || ds[0].LastStatus != 204 || ds[0].DeliveredAt == nil || ds[0].NextTryAt != nil || ds[0].LastError != "" {
			t.Errorf("the log after the delivery: %+v", ds[0])
		}

		// Always failing, here with a redirect (not followed): dead after
		// the fourth attempt, and then never tried again.
		f.recv.Answer(302, 500, 500, 500, 500)
		f.emit(t, ticket.Event{Kind: "message", TicketID: 7, MessageID: 71, ActorID: 3, Source: "api"})
		for range 6 {
			if _, err := f.store.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			f.clock.add(2 * time.Hour)
		}
		ds = f.deliveries(t, wh.ID)
		if len(ds) != 2 || ds[0].State != "dead" || ds[0].Attempts != 4 || ds[0].LastStatus != 500 || ds[0].NextTryAt != nil {
			t.Errorf("the log of an always failing delivery: %+v", ds[0])
		}
		if got := len(f.recv.Requests()); got != 7 {
			t.Errorf("the receiver got %d requests, want 3 + 4", got)
		}
		if id := f.recv.Requests()[3].Header.Get("webhook-id"); id == reqs[0].Header.Get("webhook-id") {
			t.Errorf("two events share webhook-id %q", id)
		}
		// The log keeps finished deliveries until they are old.
		if n, err := f.store.Prune(ctx, f.clock.now().Add(-webhook.LogRetention)); err != nil || n != 0 {
			t.Errorf("Prune of nothing old = %d, %v", n, err)
		}
		if n, err := f.store.Prune(ctx, f.clock.now().Add(time.Second)); err != nil || n != 2 {
			t.Errorf("Prune = %d, %v; want the delivered and the dead one", n, err)
		}
	})
}

// TestMatching: a webhook gets the types it asked for, a unit's webhook
// only its unit's tickets' events, nobody an event from before it existed,
// and each (event, webhook) once however often the follower runs.
func TestMatching(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		units := unit.NewStore(d)
		storage, err := units.CreateUnit(ctx, unit.Unit{Slug: "storage", Name: "Storage"})
		if err != nil {
			t.Fatal(err)
		}
		compute, err := units.CreateUnit(ctx, unit.Unit{Slug: "compute", Name: "Compute"})
		if err != nil {
			t.Fatal(err)
		}
		f := newFixture(t, d, ticketUnits{1: storage.ID, 2: compute.ID})
		f.emit(t, ticket.Event{Kind: "created", TicketID: 1}) // before any webhook
		f.clock.add(time.Second)
		all, err := f.store.Create(ctx, f.admin, webhook.NewWebhook{URL: f.recv.URL, Events: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		storageAdmin := &auth.Principal{UserID: 0, Role: auth.RoleUser, Units: map[int64]auth.UnitRole{storage.ID: auth.UnitAdmin}}
		notes, err := f.store.Create(ctx, storageAdmin, webhook.NewWebhook{URL: f.recv.URL, Events: []string{"ticket.note", "ticket.created", "ticket.note"}, UnitID: storage.ID})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(notes.Events, " ") != "ticket.created ticket.note" {
			t.Errorf("events stored as %v", notes.Events)
		}
		f.emit(t, ticket.Event{Kind: "message", TicketID: 1, MessageID: 2, Internal: true})
		f.emit(t, ticket.Event{Kind: "message", TicketID: 1, MessageID: 3})
		f.emit(t, ticket.Event{Kind: "message", TicketID: 2, MessageID: 4, Internal: true})
		f.emit(t, ticket.Event{Kind: "created", TicketID: 2})
		if err := f.d.Tx(ctx, func(q db.Querier) error {
			return f.log.Append(ctx, q, event.IncidentCreated, 0, map[string]string{"title": "outage"})
		}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := f.log.Step(ctx, webhook.Follower); err != nil {
				t.Fatal(err)
			}
		}
		types := func(id int64) string {
			var ts []string
			ds := f.deliveries(t, id)
			for i := len(ds) - 1; i >= 0; i-- {
				ts = append(ts, ds[i].EventType)
			}
			return strings.Join(ts, " ")
		}
		if got, want := types(all.ID), "ticket.note ticket.message ticket.note ticket.created incident.created"; got != want {
			t.Errorf("the administrator's webhook queued %q, want %q", got, want)
		}
		if got, want := types(notes.ID), "ticket.note"; got != want {
			t.Errorf("the unit's webhook queued %q, want %q", got, want)
		}

		// Who may manage which webhook.
		if _, err := f.store.Create(ctx, storageAdmin, webhook.NewWebhook{URL: f.recv.URL, Events: []string{"*"}, UnitID: compute.ID}); !apperr.Is(err, apperr.Forbidden) {
			t.Errorf("a unit admin made a webhook for another unit: %v", err)
		}
		if _, err := f.store.Create(ctx, storageAdmin, webhook.NewWebhook{URL: f.recv.URL, Events: []string{"*"}}); !apperr.Is(err, apperr.Forbidden) {
			t.Errorf("a unit admin made a webhook for every event: %v", err)
		}
		member := &auth.Principal{Role: auth.RoleUser, Units: map[int64]auth.UnitRole{storage.ID: auth.UnitMember}}
		if _, err := f.store.Create(ctx, member, webhook.NewWebhook{URL: f.recv.URL, Events: []string{"*"}, UnitID: storage.ID}); !apperr.Is(err, apperr.Forbidden) {
			t.Errorf("a unit member made a webhook: %v", err)
		}
		if _, err := f.store.Get(ctx, storageAdmin, all.ID); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("a unit admin sees the administrator's webhook: %v", err)
		}
		if ws, err := f.store.List(ctx, storageAdmin); err != nil || len(ws) != 1 || ws[0].ID != notes.ID || ws[0].Secret != "" {
			t.Errorf("the unit admin's list: %+v, %v", ws, err)
		}
		for _, bad := range [][]string{nil, {}, {"ticket.nope"}, {"*", "ticket.created"}} {
			if _, err := f.store.Create(ctx, f.admin, webhook.NewWebhook{URL: f.recv.URL, Events: bad}); !apperr.Is(err, apperr.Invalid) {
				t.Errorf("events %q: %v, want invalid", bad, err)
			}
		}
		if err := f.store.Delete(ctx, storageAdmin, notes.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Deliveries(ctx, f.admin, notes.ID, 0, 10); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("the log of a deleted webhook: %v", err)
		}
	})
}

// hangingPoster never answers before its context ends, as a receiver that
// hangs while the process shuts down.
type hangingPoster struct{}

func (hangingPoster) Post(ctx context.Context, url string, h map[string]string, body []byte) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestShutdownMidSend: a delivery whose attempt a shutdown cut short is
// not counted as a failure; once its claim expires another process sends
// it, under the same webhook-id. The dying process is the one whose
// follower queued the delivery and handed it to its worker.
func TestShutdownMidSend(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, ticketUnits{})
		wh, err := f.store.Create(context.Background(), f.admin, webhook.NewWebhook{URL: f.recv.URL, Events: []string{"ticket.created"}})
		if err != nil {
			t.Fatal(err)
		}
		opts := f.opts
		opts.Poster = hangingPoster{}
		dying := webhook.NewStore(d, opts)
		dyingLog := event.New(d, event.Options{Now: f.clock.now})
		dying.Follow(dyingLog)
		if err := dyingLog.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.log = dyingLog
		f.emit(t, ticket.Event{Kind: "created", TicketID: 9})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := dying.DeliverDue(ctx); err == nil {
			t.Fatal("DeliverDue with a cancelled context: no error")
		}
		ds := f.deliveries(t, wh.ID)
		if len(ds) != 1 || ds[0].State != "pending" || ds[0].Attempts != 0 {
			t.Fatalf("after the shutdown: %+v", ds)
		}
		if n, _ := f.store.DeliverDue(context.Background()); n != 0 {
			t.Fatal("a claimed delivery was claimed again before its claim expired")
		}
		f.clock.add(2 * time.Minute)
		if n, err := f.store.DeliverDue(context.Background()); err != nil || n != 1 {
			t.Fatalf("after the claim expired: %d, %v", n, err)
		}
		if ds := f.deliveries(t, wh.ID); ds[0].State != "delivered" || ds[0].Attempts != 1 {
			t.Errorf("the log: %+v", ds[0])
		}
		if reqs := f.recv.Requests(); len(reqs) != 1 || reqs[0].Header.Get("webhook-id") != webhook.MessageID(wh.ID, ds[0].EventID) {
			t.Errorf("the receiver got %d requests", len(reqs))
		}
	})
}

// TestHandedOverWithoutClaim: the follower queues a delivery claimed by
// its own process and hands it to that process's worker once committed:
// no other process can claim it meanwhile, and the worker sends it (one
// request, recorded delivered after one attempt) without a claim of its own.
func TestHandedOverWithoutClaim(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, ticketUnits{})
		ctx := context.Background()
		wh, err := f.store.Create(ctx, f.admin, webhook.NewWebhook{URL: f.recv.URL, Events: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			f.emit(t, ticket.Event{Kind: "created", TicketID: int64(10 + i)})
		}
		other := webhook.NewStore(d, f.opts)
		if n, err := other.DeliverDue(ctx); err != nil || n != 0 {
			t.Fatalf("another process claimed %d handed-over deliveries (%v)", n, err)
		}
		if n, err := f.store.DeliverDue(ctx); err != nil || n != 3 {
			t.Fatalf("the follower's process sent %d, want 3 (%v)", n, err)
		}
		ds := f.deliveries(t, wh.ID)
		if len(ds) != 3 {
			t.Fatalf("the log: %+v", ds)
		}
		for _, dl := range ds {
			if dl.State != "delivered" || dl.Attempts != 1 || dl.LastStatus != 204 {
				t.Errorf("delivery %+v", dl)
			}
		}
		if reqs := f.recv.Requests(); len(reqs) != 3 {
			t.Errorf("the receiver got %d requests, want 3", len(reqs))
		}
		if n, err := f.store.DeliverDue(ctx); err != nil || n != 0 {
			t.Fatalf("sent %d again (%v)", n, err)
		}
	})
}
