package apptest_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// eventually retries check until it is true or 20 s have passed.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func bodiesOf(t *testing.T, c *client.Client, id int64) []string {
	t.Helper()
	ms, err := c.Messages(context.Background(), id)
	if err != nil {
		t.Fatalf("messages of %d: %v", id, err)
	}
	var out []string
	for _, m := range ms {
		tag := "public"
		if m.Internal {
			tag = "internal"
		}
		out = append(out, tag+":"+m.Body)
	}
	return out
}

// connectToB gives A the connector "b" (kind helpmesh, B's unit "grid",
// polled every minute) at bURL and the service "gridftp" of A's unit "ext"
// in the external mode through it, with ext's member alf and the
// requester ann; it waits until A is subscribed to B's hub.
func connectToB(t *testing.T, a *apptest.Instance, bURL, tok string) (annID int64, alf, ann *client.Client) {
	t.Helper()
	ctx := context.Background()
	if _, err := a.App.Connectors.Create(ctx, connector.NewConnector{Name: "b", Kind: connector.Helpmesh, URL: bURL, Token: tok,
		Unit: "grid", PollInterval: "1m"}); err != nil {
		t.Fatal(err)
	}
	a.NewUnit(t, "ext", false)
	if _, err := a.App.Units.CreateService(ctx, unit.Service{Slug: "gridftp", Name: "GridFTP", UnitSlug: "ext", Mode: unit.External, Connector: "b"}); err != nil {
		t.Fatal(err)
	}
	alfU, alf := a.NewUser(t, "alf@a.example", "user")
	a.AddMember(t, "ext", alfU.ID, "member")
	annU, ann := a.NewUser(t, "ann@uni.example", "user")
	eventually(t, "A subscribed to B's hub", func() bool {
		ok, err := a.App.Federation.Subscribed(ctx, "b")
		return err == nil && ok
	})
	return annU.ID, alf, ann
}

// TestHelpmeshConnector: the connector engine with the kind helpmesh
// between two instances. A ticket of A's external service is created on
// B; replies and internal notes both ways, B's status and priority reach
// A, A's requester verifies after B solved; B's changes arrive by push
// (the poll interval is a minute); B cut off during updates gets every
// update once when it is back. The sync lag B -> A is printed.
func TestHelpmeshConnector(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		ctx := context.Background()
		a, b, bea, tok := federatedPair(t, e)
		gateB := newGate(t, b.URL)
		_, alf, ann := connectToB(t, a, gateB.URL, tok)

		// created remotely
		local, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "Transfers fail", Body: "gridftp answers 530", Service: "gridftp"})
		if err != nil {
			t.Fatal(err)
		}
		remote := remoteOf(t, a, local.ID)
		eventually(t, "bea sees the ticket on B", func() bool { _, err := bea.Ticket(ctx, remote); return err == nil })

		// A -> B: ann's reply, alf's internal note
		if _, err := ann.Reply(ctx, local.ID, "it fails since Monday"); err != nil {
			t.Fatal(err)
		}
		if _, err := alf.Note(ctx, local.ID, "A's staff: VIP"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "A's reply and note on B", func() bool {
			return slices.Equal(bodiesOf(t, bea, remote), []string{"public:gridftp answers 530", "public:it fails since Monday", "internal:A's staff: VIP"})
		})

		// B -> A: bea's reply, note, priority, solve
		if _, err := bea.Reply(ctx, remote, "restart the transfer"); err != nil {
			t.Fatal(err)
		}
		if _, err := bea.Note(ctx, remote, "B's staff: disk full"); err != nil {
			t.Fatal(err)
		}
		inProgress, top, solved, verified := "in_progress", "top_priority", "solved", "verified"
		if _, err := bea.UpdateTicket(ctx, remote, client.TicketUpdate{Status: &inProgress, Priority: &top}); err != nil {
			t.Fatal(err)
		}
		if _, err := bea.UpdateTicket(ctx, remote, client.TicketUpdate{Status: &solved}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B's changes on A", func() bool {
			tk, err := alf.Ticket(ctx, local.ID)
			return err == nil && tk.Status == "solved" && tk.Priority == "top_priority"
		})
		want := []string{"public:gridftp answers 530", "public:it fails since Monday", "internal:A's staff: VIP", "public:restart the transfer", "internal:B's staff: disk full"}
		if got := bodiesOf(t, alf, local.ID); !slices.Equal(got, want) {
			t.Errorf("A's thread %q, want %q", got, want)
		}
		if got := bodiesOf(t, bea, remote); len(got) != 5 {
			t.Errorf("B's thread %q: an echo came back", got)
		}
		ms, _ := ann.Messages(ctx, local.ID)
		if ms[len(ms)-1].Source != "peer" || ms[len(ms)-1].Internal {
			t.Errorf("the requester's view of B's reply: %+v", ms[len(ms)-1])
		}

		// the requester side verifies
		if _, err := ann.UpdateTicket(ctx, local.ID, client.TicketUpdate{Status: &verified}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "verified on B", func() bool { tk, err := bea.Ticket(ctx, remote); return err == nil && tk.Status == "verified" })

		// B cut off during updates
		second, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "Second", Body: "another one", Service: "gridftp"})
		if err != nil {
			t.Fatal(err)
		}
		remote2 := remoteOf(t, a, second.ID)
		gateB.down.Store(true)
		for i := range 3 {
			if _, err := ann.Reply(ctx, second.ID, fmt.Sprintf("A while B is down %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 { // B's pushes arrive, but A cannot read B's feed
			if _, err := bea.Reply(ctx, remote2, fmt.Sprintf("B while cut off %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(500 * time.Millisecond)
		gateB.down.Store(false)
		deadline := time.Now().Add(20 * time.Second)
		for len(bodiesOf(t, bea, remote2)) < 7 || len(bodiesOf(t, alf, second.ID)) < 7 {
			if time.Now().After(deadline) {
				t.Fatalf("after the outage, B has %q, A has %q", bodiesOf(t, bea, remote2), bodiesOf(t, alf, second.ID))
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		for side, got := range map[string][]string{"B": bodiesOf(t, bea, remote2), "A": bodiesOf(t, alf, second.ID)} {
			for i := range 3 {
				for _, body := range []string{fmt.Sprintf("public:A while B is down %d", i), fmt.Sprintf("public:B while cut off %d", i)} {
					if n := countOf(got, body); n != 1 {
						t.Errorf("%s has %q %d times: %q", side, body, n, got)
					}
				}
			}
		}

		// sync lag B -> A (push, then the engine's poll)
		var lags []time.Duration
		for i := range 20 {
			body := fmt.Sprintf("lag %d", i)
			start := time.Now()
			if _, err := bea.Reply(ctx, remote2, body); err != nil {
				t.Fatal(err)
			}
			eventually(t, body+" on A", func() bool {
				bs := bodiesOf(t, alf, second.ID)
				return len(bs) > 0 && bs[len(bs)-1] == "public:"+body
			})
			lags = append(lags, time.Since(start))
		}
		p50, p95 := lagPercentiles(lags)
		t.Logf("sync lag B -> A through the engine (%s, push, poll interval 1m): p50 %v, p95 %v", e, p50, p95)
		if p95 > 5*time.Second {
			t.Errorf("sync lag p95 %v", p95)
		}

		// A's priority reaches B as a request in an internal note: B,
		// the working side, owns the priority (no 409, no dead item).
		before, err := bea.Ticket(ctx, remote2)
		if err != nil {
			t.Fatal(err)
		}
		veryUrgent := "very_urgent"
		if _, err := alf.UpdateTicket(ctx, second.ID, client.TicketUpdate{Priority: &veryUrgent}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "A's priority asked for on B", func() bool {
			bs := bodiesOf(t, bea, remote2)
			return len(bs) > 0 && strings.HasPrefix(bs[len(bs)-1], "internal:") && strings.Contains(bs[len(bs)-1], "asks for the priority very_urgent")
		})
		if tk, err := bea.Ticket(ctx, remote2); err != nil || tk.Priority != before.Priority {
			t.Errorf("B's priority after A's request: %v %v, want %s kept", tk, err, before.Priority)
		}
		eventually(t, "A's priority item sent, not dead", func() bool { // A deletes it after B took it
			c, err := a.App.Connectors.Get(ctx, "b")
			return err == nil && c.Dead == 0 && c.Pending == 0
		})
	})
}

// remoteOf waits for ticket id's link and returns the remote id.
func remoteOf(t *testing.T, a *apptest.Instance, id int64) int64 {
	t.Helper()
	var remote int64
	eventually(t, fmt.Sprintf("ticket %d linked", id), func() bool {
		ls, err := a.App.Connectors.Links(context.Background(), id)
		if err != nil || len(ls) == 0 || ls[0].RemoteID == "" {
			return false
		}
		_, err = fmt.Sscan(strings.TrimSpace(ls[0].RemoteID), &remote)
		return err == nil
	})
	return remote
}
