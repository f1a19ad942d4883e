package apptest_test

// The proof of issue 14 against the real Request Tracker 5 and Redmine 5
// of the test services, run the same way for both kinds: internal notes,
// files, status (with the requester's verify after the peer solved) and
// priority both ways; an outage of the peer during updates; the same
// changes polled twice; a status changed on both sides at once. The
// benchmarks (sync lag, 100 or more tickets pushed) run with
// HELPMESH_SYNC_BENCH=1.
//
// A person working on the peer is a second account there (RT's root,
// Redmine's other user), driven through the kind's own client: its Push
// writes as that person, and its Poll, which leaves out its own account's
// changes, reads what the connector wrote.

import (
	"context"
	"fmt"
	"net"
	"os"
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
	"github.com/helpmesh/helpmesh/internal/connector/redmine5"
	"github.com/helpmesh/helpmesh/internal/connector/rt5"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// syncKind is one kind of peer under test.
type syncKind struct {
	kind string
	// conn is the connector as the administrator creates it (no name,
	// no poll interval).
	conn client.Connector
	// person is the peer's client as another account than the
	// connector's: a person working on the peer.
	person connector.Peer
	// mk is the kind's constructor (connector.Kinds).
	mk func(connector.Config) (connector.Peer, error)
}

// eachKind runs fn for RT and for Redmine, each in a subtest named by
// its kind (skipped when its test service does not run).
func eachKind(t *testing.T, fn func(t *testing.T, k syncKind)) {
	for _, kind := range []struct {
		name string
		mk   func(t *testing.T) syncKind
	}{{connector.RT5, rt5Kind}, {connector.Redmine5, redmine5Kind}} {
		t.Run(kind.name, func(t *testing.T) { fn(t, kind.mk(t)) })
	}
}

// peerClient is the HTTP client kinds get: loopback allowed.
func peerClient(t *testing.T) *outbound.Policy {
	t.Helper()
	p, err := outbound.NewPolicy([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func rt5Kind(t *testing.T) syncKind {
	env := testenv.RT5(t)
	person, err := rt5.New(connector.Config{URL: env.URL, Token: env.RootToken, Queue: env.Queue, Client: peerClient(t).Client(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	// RT's client learns its own account from the first ticket it
	// creates: one of root's own makes root's Poll show the connector's
	// transactions and leave out root's.
	if _, err := person.Create(context.Background(), connector.Ticket{Subject: "root's own " + t.Name(), Body: "who am I"}); err != nil {
		t.Fatal(err)
	}
	return syncKind{kind: connector.RT5, conn: client.Connector{Kind: connector.RT5, URL: env.URL, Token: env.Token, Queue: env.Queue},
		person: person, mk: rt5.NewPeer}
}

func redmine5Kind(t *testing.T) syncKind {
	rm := testenv.Redmine5(t)
	person, err := redmine5.New(connector.Config{URL: rm.URL, Token: rm.OtherKey, Project: rm.Project, TrackerID: rm.TrackerID, Client: peerClient(t).Client(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	return syncKind{kind: connector.Redmine5, conn: client.Connector{Kind: connector.Redmine5, URL: rm.URL, Token: rm.Key,
		Project: rm.Project, TrackerID: rm.TrackerID}, person: person, mk: redmine5.NewPeer}
}

// flakyPeer is a kind's peer that, while down is set, talks to a closed
// port instead: every request fails as it does when the peer is stopped.
type flakyPeer struct {
	up, down connector.Peer
	isDown   *atomic.Bool
}

func (f flakyPeer) now() connector.Peer {
	if f.isDown.Load() {
		return f.down
	}
	return f.up
}

func (f flakyPeer) Create(ctx context.Context, t connector.Ticket) (connector.Ref, error) {
	return f.now().Create(ctx, t)
}

func (f flakyPeer) Push(ctx context.Context, ref connector.Ref, c connector.Change) error {
	return f.now().Push(ctx, ref, c)
}

func (f flakyPeer) Poll(ctx context.Context, cursor string, refs []connector.Ref) ([]connector.Change, string, error) {
	return f.now().Poll(ctx, cursor, refs)
}

// Fetch keeps the kind's Fetcher (reconciliation).
func (f flakyPeer) Fetch(ctx context.Context, ref connector.Ref) (connector.Ticket, error) {
	fe, ok := f.now().(connector.Fetcher)
	if !ok {
		return connector.Ticket{}, fmt.Errorf("the kind reads no single ticket: %w", connector.ErrPermanent)
	}
	return fe.Fetch(ctx, ref)
}

// PeerStatus keeps the kind's StatusMapper.
func (f flakyPeer) PeerStatus(s string) string {
	if m, ok := f.up.(connector.StatusMapper); ok {
		return m.PeerStatus(s)
	}
	return s
}

// closedURL is a loopback URL nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// syncRig is a helpmesh with a service synchronised with one peer.
type syncRig struct {
	k         syncKind
	in        *apptest.Instance
	requester *client.Client
	staff     *client.Client
	down      *atomic.Bool // the peer is unreachable while set
}

const syncConnector = "peer"

// startSync starts a helpmesh on SQLite with the connector "peer" of
// kind k polling every interval and the service "ext" of the unit "ops"
// in the external mode through it.
func startSync(t *testing.T, k syncKind, interval string) *syncRig {
	t.Helper()
	ctx := context.Background()
	in := apptest.Start(t, apptest.SQLite, func(cfg *config.Config) { cfg.OutboundAllow = []string{"127.0.0.0/8"} })
	r := &syncRig{k: k, in: in, down: new(atomic.Bool)}
	closed := closedURL(t)
	in.App.Connectors.SetKind(k.kind, func(cfg connector.Config) (connector.Peer, error) {
		up, err := k.mk(cfg)
		if err != nil {
			return nil, err
		}
		cfg.URL = closed
		down, err := k.mk(cfg)
		if err != nil {
			return nil, err
		}
		return flakyPeer{up: up, down: down, isDown: r.down}, nil
	})
	conn := k.conn
	conn.Name, conn.PollInterval = syncConnector, interval
	if _, err := in.Admin.CreateConnector(ctx, conn); err != nil {
		t.Fatal(err)
	}
	in.NewUnit(t, "ops", false)
	in.NewService(t, "ext", "ops")
	if _, err := in.Admin.SetServiceMode(ctx, "ext", "external", syncConnector); err != nil {
		t.Fatal(err)
	}
	staffU, staff := in.NewUser(t, "staff@uni.example", "user")
	in.AddMember(t, "ops", staffU.ID, "member")
	_, requester := in.NewUser(t, "ann@uni.example", "user")
	r.requester, r.staff = requester, staff
	return r
}

// newTicket opens a ticket of "ext" and waits for its link to the peer.
func (r *syncRig) newTicket(t *testing.T, subject string) (int64, connector.Ref) {
	t.Helper()
	ctx := context.Background()
	tk, err := r.requester.CreateTicket(ctx, client.NewTicket{Subject: subject + " " + time.Now().Format(time.RFC3339Nano),
		Body: "it does not work", Service: "ext"})
	if err != nil {
		t.Fatal(err)
	}
	var links []client.Link
	untilRT(t, "the link to the peer", func() bool {
		links, err = r.requester.Links(ctx, tk.ID)
		return err == nil && len(links) == 1 && links[0].RemoteID != ""
	})
	return tk.ID, connector.Ref{RemoteID: links[0].RemoteID}
}

// peerCursor is the person's Poll cursor of now.
func (r *syncRig) peerCursor(t *testing.T) string {
	t.Helper()
	_, cur, err := r.k.person.Poll(context.Background(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return cur
}

// onPeer returns what the connector wrote to ref on the peer since
// cursor, as the person reads it.
func (r *syncRig) onPeer(t *testing.T, cursor string, ref connector.Ref) []connector.Change {
	t.Helper()
	chs, _, err := r.k.person.Poll(context.Background(), cursor, []connector.Ref{ref})
	if err != nil {
		t.Fatalf("reading the peer: %v", err)
	}
	return chs
}

// push writes ch to ref on the peer as the person.
func (r *syncRig) push(t *testing.T, ref connector.Ref, ch connector.Change) {
	t.Helper()
	if err := r.k.person.Push(context.Background(), ref, ch); err != nil {
		t.Fatalf("push %s to the peer: %v", ch.Kind, err)
	}
}

// countBodies counts the messages of ticket id containing each text.
func countBodies(t *testing.T, c *client.Client, id int64, texts ...string) map[string]int {
	t.Helper()
	ms, err := c.Messages(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, m := range ms {
		for _, s := range texts {
			if strings.Contains(m.Body, s) {
				n[s]++
			}
		}
	}
	return n
}

// countChanges counts the message and note changes containing each text.
func countChanges(chs []connector.Change, texts ...string) map[string]int {
	n := map[string]int{}
	for _, ch := range chs {
		for _, s := range texts {
			if (ch.Kind == connector.KindMessage || ch.Kind == connector.KindNote) && strings.Contains(ch.Body, s) {
				n[s]++
			}
		}
	}
	return n
}

// allOnce tells whether every text is counted exactly once.
func allOnce(n map[string]int, texts ...string) bool {
	for _, s := range texts {
		if n[s] != 1 {
			return false
		}
	}
	return true
}

// lastOf returns the value of the last status or priority change.
func lastOf(chs []connector.Change, kind connector.ChangeKind) string {
	v := ""
	for _, ch := range chs {
		if ch.Kind == kind {
			v = ch.Status + ch.Priority
		}
	}
	return v
}

// TestSyncBothWays: with RT and with Redmine, a staff reply with a file,
// an internal note, a status and a priority set in helpmesh arrive on the
// peer as correspondence/public note with the file, a comment/private
// note, the mapped status and priority; the same from a person on the
// peer arrive in helpmesh once, as the peer; the requester verifies the
// ticket the peer solved, and a coarse status set on the peer afterwards
// does not regress it.
func TestSyncBothWays(t *testing.T) {
	eachKind(t, func(t *testing.T, k syncKind) {
		ctx := context.Background()
		r := startSync(t, k, "1s")
		id, ref := r.newTicket(t, "both ways")
		cur := r.peerCursor(t)

		// helpmesh to the peer.
		if _, err := r.staff.AddMessage(ctx, id, "logs attached", false,
			[]client.File{{Name: "hm-log.txt", ContentType: "text/plain", Content: strings.NewReader("line 1")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.staff.Note(ctx, id, "between us: the CE is down"); err != nil {
			t.Fatal(err)
		}
		inProgress, veryUrgent := "in_progress", "very_urgent"
		if _, err := r.staff.UpdateTicket(ctx, id, client.TicketUpdate{Status: &inProgress, Priority: &veryUrgent}); err != nil {
			t.Fatal(err)
		}
		var chs []connector.Change
		untilRT(t, "helpmesh's changes on the peer", func() bool {
			chs = r.onPeer(t, cur, ref)
			return allOnce(countChanges(chs, "logs attached", "between us"), "logs attached", "between us") &&
				lastOf(chs, connector.KindStatus) == inProgress && lastOf(chs, connector.KindPriority) == veryUrgent
		})
		for _, ch := range chs {
			switch {
			case strings.Contains(ch.Body, "logs attached"):
				if ch.Kind != connector.KindMessage || len(ch.Attachments) != 1 || ch.Attachments[0].Filename != "hm-log.txt" ||
					string(ch.Attachments[0].Data) != "line 1" {
					t.Errorf("the reply on the peer: %s with files %+v, want a public reply with hm-log.txt", ch.Kind, ch.Attachments)
				}
			case strings.Contains(ch.Body, "between us"):
				if ch.Kind != connector.KindNote {
					t.Errorf("the internal note is a %s on the peer, want a note (comment, private note)", ch.Kind)
				}
			}
		}

		// The peer to helpmesh.
		r.push(t, ref, connector.Change{Kind: connector.KindMessage, Body: "fixed, see the patch",
			Attachments: []connector.Attachment{{Filename: "peer-fix.txt", ContentType: "text/plain", Data: []byte("patch")}}})
		r.push(t, ref, connector.Change{Kind: connector.KindNote, Body: "peer only: restarted the CE"})
		r.push(t, ref, connector.Change{Kind: connector.KindPriority, Priority: "top_priority"})
		r.push(t, ref, connector.Change{Kind: connector.KindStatus, Status: "solved"})
		untilRT(t, "the peer's changes in helpmesh", func() bool {
			tk, err := r.staff.Ticket(ctx, id)
			return err == nil && tk.Status == "solved" && tk.Priority == "top_priority" &&
				allOnce(countBodies(t, r.staff, id, "fixed, see the patch", "peer only"), "fixed, see the patch", "peer only")
		})
		ms, err := r.staff.Messages(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			switch {
			case strings.Contains(m.Body, "fixed, see the patch"):
				if m.Source != "peer" || m.Internal || len(m.Attachments) != 1 || m.Attachments[0].Filename != "peer-fix.txt" {
					t.Fatalf("the peer's reply: source %q internal %v files %+v", m.Source, m.Internal, m.Attachments)
				}
				var data strings.Builder
				if err := r.staff.Download(ctx, m.Attachments[0].ID, &data); err != nil || data.String() != "patch" {
					t.Errorf("peer-fix.txt: %q %v", data.String(), err)
				}
			case strings.Contains(m.Body, "peer only"):
				if m.Source != "peer" || !m.Internal {
					t.Errorf("the peer's note: source %q internal %v, want an internal note from the peer", m.Source, m.Internal)
				}
			}
		}
		if got := countBodies(t, r.requester, id, "peer only", "between us"); got["peer only"]+got["between us"] != 0 {
			t.Errorf("the requester sees internal notes: %v", got)
		}

		// The requester verifies; the peer's coarse status does not
		// regress it.
		verified := "verified"
		if _, err := r.requester.UpdateTicket(ctx, id, client.TicketUpdate{Status: &verified}); err != nil {
			t.Fatal(err)
		}
		untilRT(t, "the verify sent", func() bool {
			c, err := r.in.Admin.Connector(ctx, syncConnector)
			return err == nil && c.Pending == 0
		})
		r.push(t, ref, connector.Change{Kind: connector.KindStatus, Status: "in_progress"})
		untilRT(t, "the peer's in_progress read and kept out", func() bool {
			log, err := r.in.App.Connectors.SyncLog(ctx, id)
			return err == nil && slices.ContainsFunc(log, func(e connector.SyncEntry) bool {
				return e.Direction == "in" && e.What == "status in_progress" && strings.HasPrefix(e.Result, "kept verified")
			})
		})
		if tk, err := r.staff.Ticket(ctx, id); err != nil || tk.Status != "verified" {
			t.Fatalf("after the peer's in_progress: %v %v, want verified", tk, err)
		}
	})
}

// TestSyncOutage: with RT and with Redmine, the peer is unreachable while
// both sides write (the connector fails and backs off); once it is back
// every update arrives once on each side. Polling the same changes again
// (the cursor set back) adds nothing. A status changed on both sides at
// once ends as the peer set it on both: the working side owns progress,
// and helpmesh's superseded status is not pushed over it.
func TestSyncOutage(t *testing.T) {
	eachKind(t, func(t *testing.T, k syncKind) {
		ctx := context.Background()
		r := startSync(t, k, "1s")
		id, ref := r.newTicket(t, "outage")
		cur := r.peerCursor(t)
		var before string
		if err := r.in.App.DB.W.QueryRowContext(ctx, `SELECT poll_cursor FROM connectors WHERE name = $1`, syncConnector).Scan(&before); err != nil {
			t.Fatal(err)
		}

		r.down.Store(true)
		ours := []string{"outage reply 1", "outage reply 2", "outage reply 3"}
		theirs := []string{"peer during outage 1", "peer during outage 2"}
		for _, s := range ours {
			if _, err := r.staff.Reply(ctx, id, s); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range theirs {
			r.push(t, ref, connector.Change{Kind: connector.KindMessage, Body: s})
		}
		untilRT(t, "the connector failing", func() bool {
			c, err := r.in.Admin.Connector(ctx, syncConnector)
			return err == nil && c.State == "failing" && c.LastError != "" && c.Pending == len(ours)
		})
		time.Sleep(2 * time.Second) // a few retries more
		r.down.Store(false)

		untilRT(t, "every update on both sides", func() bool {
			return allOnce(countBodies(t, r.staff, id, theirs...), theirs...) &&
				allOnce(countChanges(r.onPeer(t, cur, ref), ours...), ours...)
		})
		time.Sleep(3 * time.Second) // more polls: nothing twice
		if got := countBodies(t, r.staff, id, theirs...); !allOnce(got, theirs...) {
			t.Fatalf("the peer's replies in helpmesh after more polls: %v, want each once", got)
		}
		if got := countChanges(r.onPeer(t, cur, ref), ours...); !allOnce(got, ours...) {
			t.Fatalf("helpmesh's replies on the peer: %v, want each once", got)
		}

		// The same changes polled twice: the cursor set back.
		if _, err := r.in.App.Connectors.SetPaused(ctx, syncConnector, true); err != nil {
			t.Fatal(err)
		}
		if _, err := r.in.App.DB.W.ExecContext(ctx, `UPDATE connectors SET poll_cursor = $1 WHERE name = $2`, before, syncConnector); err != nil {
			t.Fatal(err)
		}
		if err := r.in.App.Connectors.PollNow(ctx, syncConnector); err != nil {
			t.Fatal(err)
		}
		if got := countBodies(t, r.staff, id, theirs...); !allOnce(got, theirs...) {
			t.Fatalf("the peer's replies polled twice: %v, want each once", got)
		}
		if _, err := r.in.App.Connectors.SetPaused(ctx, syncConnector, false); err != nil {
			t.Fatal(err)
		}

		// A status set on both sides at once, while the peer is
		// unreachable: helpmesh's waiting_for_reply, the peer's solved.
		cur = r.peerCursor(t)
		r.down.Store(true)
		waiting := "waiting_for_reply"
		if _, err := r.staff.UpdateTicket(ctx, id, client.TicketUpdate{Status: &waiting}); err != nil {
			t.Fatal(err)
		}
		r.push(t, ref, connector.Change{Kind: connector.KindStatus, Status: "solved"})
		time.Sleep(2 * time.Second)
		r.down.Store(false)
		untilRT(t, "the peer's solved in helpmesh and the queue empty", func() bool {
			tk, err := r.staff.Ticket(ctx, id)
			c, cerr := r.in.Admin.Connector(ctx, syncConnector)
			return err == nil && cerr == nil && tk.Status == "solved" && c.Pending == 0
		})
		if st := lastOf(r.onPeer(t, cur, ref), connector.KindStatus); st != "" {
			t.Errorf("helpmesh pushed the superseded status %q over the peer's solved", st)
		}
		log, err := r.in.App.Connectors.SyncLog(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(log, func(e connector.SyncEntry) bool {
			return e.Direction == "out" && e.What == "status "+waiting && strings.HasPrefix(e.Result, "superseded")
		}) {
			t.Errorf("the sync log does not show helpmesh's waiting_for_reply superseded: %+v", log)
		}
	})
}

// TestSyncBenchmark (HELPMESH_SYNC_BENCH=1) measures, with RT and with
// Redmine: the lag from a reply written on the peer to its message in
// helpmesh with a poll interval of 1 s (p50, p95; target: within the
// interval plus 2 s), and how long HELPMESH_SYNC_BENCH_TICKETS tickets
// (default 100) created in helpmesh take to all exist on the peer.
func TestSyncBenchmark(t *testing.T) {
	if os.Getenv("HELPMESH_SYNC_BENCH") != "1" {
		t.Skip("set HELPMESH_SYNC_BENCH=1 to measure")
	}
	n := 100
	if v := os.Getenv("HELPMESH_SYNC_BENCH_TICKETS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("HELPMESH_SYNC_BENCH_TICKETS=%q is no count", v)
		}
	}
	const interval = time.Second
	eachKind(t, func(t *testing.T, k syncKind) {
		ctx := context.Background()
		r := startSync(t, k, interval.String())
		id, ref := r.newTicket(t, "lag")
		const samples = 20
		lags := make([]time.Duration, 0, samples)
		requests := make([]time.Duration, 0, samples)
		for i := range samples {
			text := fmt.Sprintf("lag sample %d", i)
			start := time.Now()
			r.peerCursor(t) // one request to the peer: how fast it answers now
			requests = append(requests, time.Since(start))
			r.push(t, ref, connector.Change{Kind: connector.KindMessage, Body: text})
			start = time.Now() // the change is on the peer
			untilWithin(t, text, time.Minute, 20*time.Millisecond, func() bool {
				return countBodies(t, r.staff, id, text)[text] == 1
			})
			lags = append(lags, time.Since(start))
		}
		p50, p95 := lagPercentiles(lags)
		r50, r95 := lagPercentiles(requests)
		target := interval + 2*time.Second
		t.Logf("BENCH %s sync lag peer->helpmesh, poll %s, %d samples: p50 %s p95 %s (target p95 <= %s: %s); one request to the peer meanwhile: p50 %s p95 %s",
			k.kind, interval, samples, p50.Round(time.Millisecond), p95.Round(time.Millisecond), target, map[bool]string{true: "met", false: "MISSED"}[p95 <= target],
			r50.Round(time.Millisecond), r95.Round(time.Millisecond))

		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		next := atomic.Int64{}
		for range 4 {
			wg.Go(func() {
				for i := next.Add(1); i <= int64(n); i = next.Add(1) {
					_, err := r.requester.CreateTicket(ctx, client.NewTicket{Subject: fmt.Sprintf("bulk %d %s", i, start.Format(time.RFC3339Nano)),
						Body: "bulk", Service: "ext"})
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		created := time.Since(start)
		untilWithin(t, "every ticket on the peer", 30*time.Minute, 500*time.Millisecond, func() bool {
			var linked int
			err := r.in.App.DB.W.QueryRowContext(ctx, `SELECT COUNT(*) FROM connector_links l JOIN connectors c ON c.id = l.connector_id
					WHERE c.name = $1 AND l.remote_id <> ''`, syncConnector).Scan(&linked)
			return err == nil && linked == n+1
		})
		all := time.Since(start)
		t.Logf("BENCH %s %d tickets created in helpmesh in %s; all on the peer after %s (%.1f tickets/s)",
			k.kind, n, created.Round(time.Millisecond), all.Round(time.Millisecond), float64(n)/all.Seconds())

		// The bound: the same peer creating tickets sent to it directly by
		// its own client, with as many at once as the engine sends (4).
		m := min(n, 50)
		direct := time.Now()
		next.Store(0)
		errs = make(chan error, m)
		for range 4 {
			wg.Go(func() {
				for i := next.Add(1); i <= int64(m); i = next.Add(1) {
					if _, err := k.person.Create(ctx, connector.Ticket{Subject: fmt.Sprintf("direct %d", i), Body: "direct"}); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		peerRate := float64(m) / time.Since(direct).Seconds()
		t.Logf("BENCH %s the peer alone, %d tickets sent directly by 4 clients: %.2f tickets/s; helpmesh through the connector reached %.0f %% of it",
			k.kind, m, peerRate, 100*float64(n)/all.Seconds()/peerRate)
	})
}
