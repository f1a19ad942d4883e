package federation_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/federation"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/tmf621"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
	"github.com/helpmesh/helpmesh/internal/webhook"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// poster records deliveries and answers with the next code of codes (the
// last one again when they run out).
type poster struct {
	mu    sync.Mutex
	codes []int
	got   []sent
}

type sent struct {
	url    string
	header map[string]string
	body   []byte
}

func (p *poster) Post(_ context.Context, url string, h map[string]string, body []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, sent{url, h, body})
	code := p.codes[0]
	if len(p.codes) > 1 {
		p.codes = p.codes[1:]
	}
	return code, nil
}

type fixture struct {
	ctx     context.Context
	d       *db.DB
	clock   *clock
	log     *event.Log
	fed     *federation.Store
	tickets *ticket.Store
	peer    *auth.Principal // the account's principal
	staff   *auth.Principal
	post    *poster
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	l := event.New(d, event.Options{Now: c.now})
	tickets := ticket.NewStore(d, ticket.Options{Now: c.now, Emit: func(ctx context.Context, q db.Querier, ev ticket.Event) error {
		return l.Append(ctx, q, ev.Type(), ev.TicketID, ev)
	}})
	users, units := user.NewStore(d), unit.NewStore(d)
	policy, err := outbound.NewPolicy([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	p := &poster{codes: []int{200}}
	fed := federation.New(d, federation.Options{Tickets: tickets, Users: users, Units: units, Events: l, Checker: policy, Poster: p,
		BaseURL: "https://b.example", BackoffBase: time.Minute, Now: c.now})
	fed.Follow(l)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	mk := func(email string) *auth.Principal {
		u, err := users.Create(ctx, user.NewUser{Email: email, Name: strings.Split(email, "@")[0]})
		if err != nil {
			t.Fatal(err)
		}
		pr, err := users.Principal(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	admin := &auth.Principal{UserID: -1, Role: auth.RoleAdmin}
	peer, staff := mk("helpmesh-a@a.example"), mk("bea@b.example")
	if err := fed.RegisterPeer(ctx, staff, peer.UserID, "a"); !apperr.Is(err, apperr.Forbidden) {
		t.Errorf("a non-administrator registers a peer: %v", err)
	}
	if err := fed.RegisterPeer(ctx, admin, peer.UserID, "a"); err != nil {
		t.Fatal(err)
	}
	if err := fed.RegisterPeer(ctx, admin, peer.UserID, "a"); !apperr.Is(err, apperr.Conflict) {
		t.Errorf("registered twice: %v", err)
	}
	g, err := units.CreateUnit(ctx, unit.Unit{Slug: "grid", Name: "Grid"})
	if err != nil {
		t.Fatal(err)
	}
	if err := units.SetMember(ctx, g.ID, staff.UserID, auth.UnitMember); err != nil {
		t.Fatal(err)
	}
	if staff, err = users.Principal(ctx, staff.UserID); err != nil {
		t.Fatal(err)
	}
	return &fixture{ctx: ctx, d: d, clock: c, log: l, fed: fed, tickets: tickets, peer: peer, staff: staff, post: p}
}

// asPeer is the peer principal as a request would have it now.
func (f *fixture) asPeer(t *testing.T) *auth.Principal {
	t.Helper()
	p, err := f.fed.Peer(f.ctx, f.peer)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) step(t *testing.T) {
	t.Helper()
	if _, err := f.log.Step(f.ctx, federation.HubFollower); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) open(t *testing.T, key string) int64 {
	t.Helper()
	tt := &tmf621.TroubleTicket{Name: "Disk full", Description: "full", RelatedParty: []tmf621.Party{{Role: "requester", Email: "ann@uni.example", Name: "Ann"}}}
	tt.SetChar(federation.CharUnit, "grid")
	got, _, err := f.fed.Create(f.ctx, f.asPeer(t), tt, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := federation.ParseID(got.ID)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestPeerTickets: only registered peers federate; a create with a key is
// done once; the peer sees only its tickets; notes by origin are stored
// once; the feed marks the peer's own changes as echoes.
func TestPeerTickets(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		if _, err := f.fed.Peer(f.ctx, f.staff); !apperr.Is(err, apperr.Forbidden) {
			t.Errorf("a staff account as a peer: %v", err)
		}
		head, err := f.fed.Events(f.ctx, f.asPeer(t), -1, 10)
		if err != nil || len(head.Items) != 0 {
			t.Fatalf("now: %+v %v", head, err)
		}
		id := f.open(t, "hm:a/1")
		if again := f.open(t, "hm:a/1"); again != id {
			t.Errorf("the same key opened %d and %d", id, again)
		}
		other, err := f.tickets.Create(f.ctx, f.staff, ticket.NewTicket{Subject: "not the peer's", Body: "b"})
		if err != nil {
			t.Fatal(err)
		}
		peer := f.asPeer(t)
		if _, err := f.fed.Get(f.ctx, peer, other.ID); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("another ticket: %v", err)
		}
		tt, err := f.fed.Get(f.ctx, peer, id)
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := tt.Requester(); r.Email != "ann@uni.example" || tt.Char(federation.CharUnit) != "grid" || tt.Status != "acknowledged" {
			t.Errorf("the trouble ticket: %+v", tt)
		}
		n := &tmf621.Note{Text: "from A", Visibility: tmf621.Internal, Origin: "hm:a/1/7"}
		if _, created, err := f.fed.AddNote(f.ctx, peer, id, n, nil); err != nil || !created {
			t.Fatalf("note: %v %v", created, err)
		}
		if _, created, err := f.fed.AddNote(f.ctx, peer, id, n, nil); err != nil || created {
			t.Errorf("the same note again: created %v, %v", created, err)
		}
		if _, err := f.tickets.AddMessage(f.ctx, f.staff, id, ticket.NewMessage{Body: "from B"}); err != nil {
			t.Fatal(err)
		}
		page, err := f.fed.Events(f.ctx, peer, mustCursor(t, head.NextCursor), 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range page.Items {
			got = append(got, e.Note.Text+"/"+e.Note.Visibility+"/echo="+map[bool]string{true: "yes", false: "no"}[e.Echo])
		}
		if strings.Join(got, " ") != "from A/internal/echo=yes from B/public/echo=no" {
			t.Errorf("feed: %q", got)
		}
		if _, err := f.fed.Patch(f.ctx, peer, id, &tmf621.TroubleTicket{Priority: "top_priority"}); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("the peer setting the priority: %v", err)
		}
	})
}

func mustCursor(t *testing.T, s string) int64 {
	t.Helper()
	n, err := federation.ParseCursor(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHubDeliveries: a change by B's staff is pushed to the peer's hub,
// signed, under one webhook-id across retries with backoff; the peer's
// own changes are not pushed; a delivery that keeps failing is dead after
// MaxAttempts; a 410 ends the subscription.
func TestHubDeliveries(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		id := f.open(t, "")
		peer := f.asPeer(t)
		if _, err := f.fed.Subscribe(f.ctx, peer, "ftp://x"); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("a bad callback: %v", err)
		}
		hub, err := f.fed.Subscribe(f.ctx, peer, "http://127.0.0.1:9/cb/")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.fed.AddNote(f.ctx, peer, id, &tmf621.Note{Text: "the peer's own"}, nil); err != nil {
			t.Fatal(err)
		}
		f.step(t)
		if pending, _, _ := f.fed.PushCounts(f.ctx); pending != 0 {
			t.Errorf("the peer's own change queued %d deliveries", pending)
		}
		if _, err := f.tickets.AddMessage(f.ctx, f.staff, id, ticket.NewMessage{Body: "B answers"}); err != nil {
			t.Fatal(err)
		}
		f.step(t)
		f.post.codes = []int{500, 200}
		if n, err := f.fed.DeliverDue(f.ctx); err != nil || n != 1 {
			t.Fatalf("first attempt: %d %v", n, err)
		}
		if n, _ := f.fed.DeliverDue(f.ctx); n != 0 {
			t.Errorf("retried before its backoff")
		}
		f.clock.add(time.Minute)
		if n, err := f.fed.DeliverDue(f.ctx); err != nil || n != 1 {
			t.Fatalf("second attempt: %d %v", n, err)
		}
		if len(f.post.got) != 2 {
			t.Fatalf("%d posts", len(f.post.got))
		}
		a, b := f.post.got[0], f.post.got[1]
		if a.url != "http://127.0.0.1:9/cb/listener/ticket.message" || a.header[tmf621.HeaderID] != b.header[tmf621.HeaderID] {
			t.Errorf("posts: %+v %+v", a, b)
		}
		h := http.Header{}
		for k, v := range b.header {
			h.Set(k, v)
		}
		if _, err := tmf621.Verify(hub.Secret, h, b.body, f.clock.now()); err != nil {
			t.Errorf("the delivery does not verify: %v", err)
		}
		if pending, dead, _ := f.fed.PushCounts(f.ctx); pending != 0 || dead != 0 {
			t.Errorf("after delivery: pending %d dead %d", pending, dead)
		}

		// always failing: dead after MaxAttempts
		f.post.codes = []int{503}
		if _, err := f.tickets.AddMessage(f.ctx, f.staff, id, ticket.NewMessage{Body: "again"}); err != nil {
			t.Fatal(err)
		}
		f.step(t)
		for range federation.MaxAttempts {
			if _, err := f.fed.DeliverDue(f.ctx); err != nil {
				t.Fatal(err)
			}
			f.clock.add(2 * time.Hour)
		}
		if pending, dead, _ := f.fed.PushCounts(f.ctx); pending != 0 || dead != 1 {
			t.Errorf("after %d failures: pending %d dead %d", federation.MaxAttempts, pending, dead)
		}

		f.clock.add(federation.PushRetention + time.Hour)
		if n, err := f.fed.Prune(f.ctx, f.clock.now().Add(-federation.PushRetention)); err != nil || n != 2 {
			t.Errorf("pruned %d (want the delivered and the dead one): %v", n, err)
		}

		// 410 ends the subscription
		f.post.codes = []int{410}
		if _, err := f.tickets.AddMessage(f.ctx, f.staff, id, ticket.NewMessage{Body: "gone"}); err != nil {
			t.Fatal(err)
		}
		f.step(t)
		if _, err := f.fed.DeliverDue(f.ctx); err != nil {
			t.Fatal(err)
		}
		hubID, _ := federation.ParseID(hub.ID)
		if err := f.fed.Unsubscribe(f.ctx, peer, hubID); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("the subscription after a 410: %v", err)
		}
	})
}

// TestReceive: a delivery signed with the subscription's secret is
// applied once; while it cannot be applied it is Unavailable and not
// remembered (the peer pushes it again); unsigned is Unauthorized.
func TestReceive(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		c := &clock{t: time.Now().UTC().Truncate(time.Second)}
		var applied int
		var failing bool
		fed := federation.New(d, federation.Options{Now: c.now, Apply: func(context.Context, string, tmf621.Delivery) error {
			if failing {
				return apperr.New(apperr.Unavailable, "peer down")
			}
			applied++
			return nil
		}})
		secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		if err := fed.SaveSubscription(ctx, "b", &tmf621.Hub{ID: "1", Secret: secret}); err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"type":"ticket.message","data":{"ticketId":"4","eventId":"9"}}`)
		sig, _ := webhook.Sign(secret, "fed_1_9", c.now().Unix(), body)
		h := http.Header{}
		h.Set(tmf621.HeaderID, "fed_1_9")
		h.Set(tmf621.HeaderTimestamp, strconv.FormatInt(c.now().Unix(), 10))
		h.Set(tmf621.HeaderSignature, sig)
		failing = true
		if _, err := fed.Receive(ctx, "b", h, body); !apperr.Is(err, apperr.Unavailable) {
			t.Errorf("while the peer's feed is down: %v", err)
		}
		failing = false
		for i, want := range []bool{true, false} {
			fresh, err := fed.Receive(ctx, "b", h, body)
			if err != nil || fresh != want {
				t.Errorf("delivery %d: fresh %v %v", i, fresh, err)
			}
		}
		if applied != 1 {
			t.Errorf("applied %d times", applied)
		}
		h.Set(tmf621.HeaderSignature, "v1,AAAA")
		if _, err := fed.Receive(ctx, "b", h, body); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("a bad signature: %v", err)
		}
		if _, err := fed.Receive(ctx, "zz", h, body); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("an unknown connector: %v", err)
		}
	})
}
