package apptest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/connector/hmpeer"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/tmf621"
	"github.com/helpmesh/helpmesh/internal/webhook"
)

// gate is a reverse proxy in front of an instance that can be closed:
// closed, it drops every connection, as a stopped server would.
type gate struct {
	*httptest.Server
	down atomic.Bool
}

func newGate(t *testing.T, target string) *gate {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.down.Load() {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(g.Close)
	return g
}

// deliveries records what instance A was told of pushed deliveries.
type deliveries struct {
	mu   sync.Mutex
	got  []tmf621.Delivery
	kick chan struct{}
}

func (d *deliveries) add(_ string, x tmf621.Delivery) {
	d.mu.Lock()
	d.got = append(d.got, x)
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// syncer plays the connector engine of instance A for one ticket: it
// polls B's feed and keeps what arrived, once per change id.
type syncer struct {
	peer    *hmpeer.Peer
	ref     connector.Ref
	cursor  string
	applied map[string]connector.Change
	order   []string
}

func (s *syncer) poll(t *testing.T) []connector.Change {
	t.Helper()
	changes, next, err := s.peer.Poll(context.Background(), s.cursor, []connector.Ref{s.ref})
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	s.cursor = next
	var fresh []connector.Change
	for _, c := range changes {
		if _, dup := s.applied[c.RemoteID]; dup {
			t.Errorf("change %s read twice", c.RemoteID)
			continue
		}
		s.applied[c.RemoteID] = c
		s.order = append(s.order, c.RemoteID)
		fresh = append(fresh, c)
	}
	return fresh
}

// waitFor polls until a change satisfies ok or the deadline passes.
func (s *syncer) waitFor(t *testing.T, what string, ok func(connector.Change) bool) connector.Change {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, id := range s.order {
		if ok(s.applied[id]) {
			return s.applied[id]
		}
	}
	for time.Now().Before(deadline) {
		for _, c := range s.poll(t) {
			if ok(c) {
				return c
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("A never saw %s", what)
	return connector.Change{}
}

// pushUntil retries a push while B is unreachable, as the engine does.
func pushUntil(t *testing.T, p *hmpeer.Peer, ref connector.Ref, c connector.Change) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := p.Push(context.Background(), ref, c)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("push %s %s: %v", c.Kind, c.RemoteID, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// federatedPair starts two instances on engine e that may reach each
// other (HELPMESH_OUTBOUND_ALLOW=127.0.0.0/8, quick retries): B, with the
// unit grid and its supporter bea, and A; B's administrator made an
// account for A, with a token, and registered it as the peer "a".
func federatedPair(t *testing.T, e apptest.Engine) (a, b *apptest.Instance, bea *client.Client, token string) {
	t.Helper()
	ctx := context.Background()
	allow := func(cfg *config.Config) {
		cfg.OutboundAllow = []string{"127.0.0.0/8"}
		cfg.OutboundRetry = 50 * time.Millisecond
	}
	b = apptest.Start(t, e, allow)
	a = apptest.Start(t, e, allow)
	b.NewUnit(t, "grid", false)
	beaU, bea := b.NewUser(t, "bea@b.example", "user")
	b.AddMember(t, "grid", beaU.ID, "member")
	peerU, err := b.Admin.CreateUser(ctx, client.NewUser{Email: "helpmesh-a@a.example", Name: "helpmesh A"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := b.Admin.CreateToken(ctx, peerU.ID, client.NewToken{Name: "federation"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Admin.Do(ctx, "POST", "/federation/v1/peers", map[string]any{"user_id": peerU.ID, "name": "a"}, nil); err != nil {
		t.Fatal(err)
	}
	return a, b, bea, tok.Token
}

// lagPercentiles sorts lags and returns their p50 and p95.
func lagPercentiles(lags []time.Duration) (p50, p95 time.Duration) {
	slices.Sort(lags)
	return lags[len(lags)/2], lags[len(lags)*95/100]
}

// TestHelpmeshFederation: two helpmesh instances. A opens its requester's
// ticket on B through the TMF621 profile (kind helpmesh); replies,
// internal notes, status and priority flow both ways; B's changes are
// pushed to A as signed deliveries and read from B's feed; A's own
// changes never come back (echoes); the requester side verifies after B
// solves; B stopped during updates gets every update once after it is
// back; a replayed delivery is applied once; bad input is a 4xx. The sync
// lag B -> A is printed.
func TestHelpmeshFederation(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		ctx := context.Background()
		a, b, bea, tok := federatedPair(t, e)
		_, outsider := b.NewUser(t, "eve@b.example", "user")
		err := outsider.Do(ctx, "POST", "/federation/v1/peers", map[string]any{"user_id": 1, "name": "x"}, nil)
		wantStatus(t, "a non-administrator registering a peer", client.StatusOf(err), http.StatusForbidden)

		// A's side: the kind of peer, through a gate in front of B; A's
		// callback, through a gate in front of A.
		gateB, gateA := newGate(t, b.URL), newGate(t, a.URL)
		pol, err := outbound.NewPolicy([]string{"127.0.0.0/8"})
		if err != nil {
			t.Fatal(err)
		}
		peer, err := hmpeer.New(hmpeer.Options{URL: gateB.URL, Token: tok, Unit: "grid", Instance: "a.example", Client: pol.Client(2 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		hub, err := peer.Subscribe(ctx, gateA.URL+"/federation/v1/callback/b")
		if err != nil {
			t.Fatal(err)
		}
		if err := a.App.Federation.SaveSubscription(ctx, "b", hub); err != nil {
			t.Fatal(err)
		}
		told := &deliveries{kick: make(chan struct{}, 1)}
		a.App.OnPeerDelivery(told.add)

		// Ann's ticket on A, created on B.
		a.NewUnit(t, "ext", false)
		a.NewService(t, "gridftp", "ext")
		_, ann := a.NewUser(t, "ann@uni.example", "user")
		local, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "Transfers fail", Body: "gridftp answers 530", Service: "gridftp"})
		if err != nil {
			t.Fatal(err)
		}
		ticket := connector.Ticket{Subject: local.Subject, Body: "gridftp answers 530", Status: local.Status, Priority: local.Priority,
			LocalID: local.ID, Requester: connector.Person{Email: "ann@uni.example", Name: "ann"}}
		ref, err := peer.Create(ctx, ticket)
		if err != nil {
			t.Fatal(err)
		}
		again, err := peer.Create(ctx, ticket) // a retried create after a lost answer
		if err != nil || again.RemoteID != ref.RemoteID {
			t.Fatalf("a retried create: %+v %v (first %+v)", again, err, ref)
		}
		remoteID, _ := strconv.ParseInt(ref.RemoteID, 10, 64)
		rt, err := bea.Ticket(ctx, remoteID)
		if err != nil {
			t.Fatalf("bea does not see the ticket on B: %v", err)
		}
		if deref(rt.Unit) != "grid" || rt.Subject != "Transfers fail" || rt.Requester.Email != "helpmesh-a@a.example" {
			t.Errorf("the ticket on B: %+v", rt)
		}
		var tt tmf621.TroubleTicket
		if err := b.Client(tok).Do(ctx, "GET", "/federation/v1/troubleTicket/"+ref.RemoteID, nil, &tt); err != nil {
			t.Fatal(err)
		}
		if r, _ := tt.Requester(); r.Email != "ann@uni.example" || tt.Description != "gridftp answers 530" || tt.FineStatus() != "assigned" {
			t.Errorf("the trouble ticket: %+v", tt)
		}
		sy := &syncer{peer: peer, ref: ref, applied: map[string]connector.Change{}}
		sy.poll(t) // the cursor of "now"

		// A -> B: a public reply and an internal note (the push of a
		// reply retried: one message). The priority is B's, the working
		// side's: A's is asked for in an internal note, B's stays.
		reply := connector.Change{Kind: connector.KindMessage, Body: "it fails since Monday", RemoteID: strconv.FormatInt(local.ID, 10) + "/m1"}
		pushUntil(t, peer, ref, reply)
		pushUntil(t, peer, ref, reply)
		pushUntil(t, peer, ref, connector.Change{Kind: connector.KindNote, Body: "A's staff: the requester is a VIP", RemoteID: "n1"})
		pushUntil(t, peer, ref, connector.Change{Kind: connector.KindPriority, Priority: "very_urgent"})
		ms, err := bea.Messages(ctx, remoteID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 4 || ms[1].Body != "it fails since Monday" || ms[1].Internal || ms[1].Source != "peer" ||
			!ms[2].Internal || ms[2].Body != "A's staff: the requester is a VIP" ||
			!ms[3].Internal || !strings.Contains(ms[3].Body, "asks for the priority very_urgent") {
			t.Errorf("B's thread: %+v", ms)
		}
		if rt, _ := bea.Ticket(ctx, remoteID); rt.Priority != "less_urgent" {
			t.Errorf("B's priority: %s", rt.Priority)
		}

		// B -> A: bea takes it, answers, notes, solves; A is told by a
		// push and reads the feed, without its own changes (echoes).
		inProgress, urgent, solved := "in_progress", "top_priority", "solved"
		if _, err := bea.UpdateTicket(ctx, remoteID, client.TicketUpdate{Status: &inProgress, Priority: &urgent}); err != nil {
			t.Fatal(err)
		}
		if _, err := bea.Reply(ctx, remoteID, "restart the transfer please"); err != nil {
			t.Fatal(err)
		}
		if _, err := bea.Note(ctx, remoteID, "B's staff: disk was full"); err != nil {
			t.Fatal(err)
		}
		if _, err := bea.UpdateTicket(ctx, remoteID, client.TicketUpdate{Status: &solved}); err != nil {
			t.Fatal(err)
		}
		sy.waitFor(t, "the solve", func(c connector.Change) bool { return c.Kind == connector.KindStatus && c.Status == "solved" })
		var kinds []string
		for _, id := range sy.order {
			c := sy.applied[id]
			kinds = append(kinds, string(c.Kind)+"="+c.Body+c.Status+c.Priority)
		}
		want := []string{"status=in_progress", "priority=top_priority", "message=restart the transfer please", "note=B's staff: disk was full", "status=solved"}
		if !slices.Equal(kinds, want) {
			t.Errorf("A read %q, want %q (no echo of A's own changes)", kinds, want)
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(told.snapshot()) < 4 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		for _, d := range told.snapshot() {
			if d.Data.TicketID != ref.RemoteID {
				t.Errorf("a delivery of ticket %s", d.Data.TicketID)
			}
		}
		if n := len(told.snapshot()); n != 4 {
			t.Errorf("A was told of %d deliveries, want 4 (B's changes only)", n)
		}

		// The requester side verifies after the solve.
		pushUntil(t, peer, ref, connector.Change{Kind: connector.KindStatus, Status: "verified"})
		if rt, _ := bea.Ticket(ctx, remoteID); rt.Status != "verified" {
			t.Errorf("B's status after A verified: %s", rt.Status)
		}

		// B stopped during updates: a second ticket; A's pushes wait and
		// B's deliveries are retried; once B is back every update arrives
		// once.
		ticket2 := ticket
		ticket2.LocalID, ticket2.Subject = local.ID+1000, "Second"
		ref2, err := peer.Create(ctx, ticket2)
		if err != nil {
			t.Fatal(err)
		}
		id2, _ := strconv.ParseInt(ref2.RemoteID, 10, 64)
		sy2 := &syncer{peer: peer, ref: ref2, applied: map[string]connector.Change{}, cursor: sy.cursor}
		gateB.down.Store(true)
		gateA.down.Store(true)
		if err := peer.Push(ctx, ref2, connector.Change{Kind: connector.KindMessage, Body: "x"}); err == nil || errors.Is(err, connector.ErrPermanent) {
			t.Errorf("a push to a stopped peer: %v, want a retryable error", err)
		}
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() {
				pushUntil(t, peer, ref2, connector.Change{Kind: connector.KindMessage, Body: fmt.Sprintf("while down %d", i), RemoteID: fmt.Sprintf("down/%d", i)})
			})
		}
		for i := range 3 {
			if _, err := bea.Reply(ctx, id2, fmt.Sprintf("B while cut off %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(300 * time.Millisecond)
		gateB.down.Store(false)
		gateA.down.Store(false)
		wg.Wait()
		for i := range 3 {
			sy2.waitFor(t, "B's reply "+strconv.Itoa(i), func(c connector.Change) bool { return c.Body == fmt.Sprintf("B while cut off %d", i) })
		}
		ms2, _ := bea.Messages(ctx, id2)
		var bodies []string
		for _, m := range ms2 {
			bodies = append(bodies, m.Body)
		}
		for i := range 3 {
			if n := countOf(bodies, fmt.Sprintf("while down %d", i)); n != 1 {
				t.Errorf("A's update %d arrived %d times on B: %q", i, n, bodies)
			}
		}

		// The same delivery twice: applied once; unsigned or badly
		// signed: 401.
		body := []byte(`{"type":"ticket.message","timestamp":"2026-12-05T10:00:00Z","data":{"ticketId":"` + ref.RemoteID + `","eventId":"999999"}}`)
		now := time.Now().Unix()
		sig, _ := webhook.Sign(hub.Secret, "replay_1", now, body)
		send := func(id, sig string, ts int64, path string) (int, string) {
			req, _ := http.NewRequest("POST", a.URL+path, bytes.NewReader(body))
			req.Header.Set("webhook-id", id)
			req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
			if sig != "" {
				req.Header.Set("webhook-signature", sig)
			}
			resp, err := a.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out bytes.Buffer
			_, _ = out.ReadFrom(resp.Body)
			return resp.StatusCode, strings.TrimSpace(out.String())
		}
		before := len(told.snapshot())
		cb := "/federation/v1/callback/b/listener/ticket.message"
		if code, out := send("replay_1", sig, now, cb); code != 201 || out != `{"applied":true}` {
			t.Errorf("the first delivery: %d %s", code, out)
		}
		if code, out := send("replay_1", sig, now, cb); code != 200 || out != `{"applied":false}` {
			t.Errorf("the replayed delivery: %d %s", code, out)
		}
		// B's own pushes may still arrive meanwhile: count this delivery.
		replayed := 0
		for _, d := range told.snapshot()[before:] {
			if d.Data.EventID == "999999" {
				replayed++
			}
		}
		if replayed != 1 {
			t.Errorf("the delivery sent twice was handed on %d times", replayed)
		}
		old, _ := webhook.Sign(hub.Secret, "replay_2", now-600, body)
		for name, tc := range map[string]struct {
			id, sig string
			ts      int64
			path    string
			want    int
		}{
			"unsigned":          {"u1", "", now, cb, 401},
			"bad signature":     {"u2", "v1,AAAA", now, cb, 401},
			"too old":           {"replay_2", old, now - 600, cb, 401},
			"unknown connector": {"u3", sig, now, "/federation/v1/callback/zz/listener/ticket.message", 404},
		} {
			if code, _ := send(tc.id, tc.sig, tc.ts, tc.path); code != tc.want {
				t.Errorf("%s: %d, want %d", name, code, tc.want)
			}
		}

		// Bad input to the profile is a 4xx.
		for _, tc := range []struct {
			name, method, path, token, body string
			want                            int
		}{
			{"no token", "POST", "/federation/v1/troubleTicket", "", `{}`, 401},
			{"not a peer", "GET", "/federation/v1/events", b.AdminToken, ``, 403},
			{"garbage", "POST", "/federation/v1/troubleTicket", tok, `{"name":`, 400},
			{"no requester", "POST", "/federation/v1/troubleTicket", tok, `{"name":"x","description":"y"}`, 400},
			{"unknown unit", "POST", "/federation/v1/troubleTicket", tok, `{"name":"x","description":"y","relatedParty":[{"email":"a@b"}],"troubleTicketCharacteristic":[{"name":"helpmesh.unit","value":"nope"}]}`, 400},
			{"bad priority", "POST", "/federation/v1/troubleTicket", tok, `{"name":"x","description":"y","priority":"asap","relatedParty":[{"email":"a@b"}]}`, 400},
			{"a ticket not linked", "GET", "/federation/v1/troubleTicket/" + strconv.FormatInt(local.ID+5000, 10), tok, ``, 404},
			{"a bad id", "GET", "/federation/v1/troubleTicket/x", tok, ``, 400},
			{"bad visibility", "POST", "/federation/v1/troubleTicket/" + ref2.RemoteID + "/note", tok, `{"text":"t","visibility":"secret"}`, 400},
			{"empty note", "POST", "/federation/v1/troubleTicket/" + ref2.RemoteID + "/note", tok, `{"text":""}`, 400},
			{"bad status", "PATCH", "/federation/v1/troubleTicket/" + ref2.RemoteID, tok, `{"troubleTicketCharacteristic":[{"name":"helpmesh.status","value":"exploded"}]}`, 400},
			{"a frozen ticket", "POST", "/federation/v1/troubleTicket/" + ref.RemoteID + "/note", tok, `{"text":"late"}`, 409},
			{"bad cursor", "GET", "/federation/v1/events?after=abc", tok, ``, 400},
			{"bad limit", "GET", "/federation/v1/events?limit=0", tok, ``, 400},
			{"bad callback", "POST", "/federation/v1/hub", tok, `{"callback":"ftp://x"}`, 400},
			{"no such route", "GET", "/federation/v1/nothing", tok, ``, 404},
		} {
			var r *strings.Reader
			if tc.body != "" {
				r = strings.NewReader(tc.body)
			}
			var resp apptest.Response
			if r == nil {
				resp = b.Do(t, tc.method, tc.path, tc.token, "", nil)
			} else {
				resp = b.Do(t, tc.method, tc.path, tc.token, "application/json", r)
			}
			if resp.Status != tc.want {
				t.Errorf("%s: %d %s, want %d", tc.name, resp.Status, resp.Body, tc.want)
			}
		}

		// Sync lag B -> A: from bea's reply on B to A having read it,
		// woken by the push.
		ticket3 := ticket
		ticket3.LocalID, ticket3.Subject = local.ID+2000, "Lag"
		ref3, err := peer.Create(ctx, ticket3)
		if err != nil {
			t.Fatal(err)
		}
		id3, _ := strconv.ParseInt(ref3.RemoteID, 10, 64)
		sy3 := &syncer{peer: peer, ref: ref3, applied: map[string]connector.Change{}}
		sy3.poll(t)
		var lags []time.Duration
		for i := range 20 {
			body := fmt.Sprintf("lag %d", i)
			start := time.Now()
			if _, err := bea.Reply(ctx, id3, body); err != nil {
				t.Fatal(err)
			}
			got := false
			for !got && time.Since(start) < 10*time.Second {
				select {
				case <-told.kick:
				case <-time.After(time.Second):
				}
				for _, c := range sy3.poll(t) {
					got = got || c.Body == body
				}
			}
			if !got {
				t.Fatalf("A never read %q", body)
			}
			lags = append(lags, time.Since(start))
		}
		p50, p95 := lagPercentiles(lags)
		t.Logf("sync lag B -> A with push (%s, %d changes): p50 %v, p95 %v", e, len(lags), p50, p95)
		if p95 > 5*time.Second {
			t.Errorf("sync lag p95 %v", p95)
		}
	})
}

func (d *deliveries) snapshot() []tmf621.Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.got)
}

func countOf(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}
