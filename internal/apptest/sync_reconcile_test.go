package apptest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/connector"
)

// TestSyncReconcile: with the real RT and Redmine, drift the poller and
// the queue cannot see — a reply and a status set on the peer while the
// poll cursor is moved past them, a reply and a priority of helpmesh's
// whose queue items are lost — is repaired by one reconciliation pass
// (POST /api/v1/connectors/{name}/reconcile): both sides agree, each
// message is on each side once, and a second pass repairs nothing.
func TestSyncReconcile(t *testing.T) {
	eachKind(t, func(t *testing.T, k syncKind) {
		ctx := context.Background()
		r := startSync(t, k, "1s")
		id, ref := r.newTicket(t, "reconcile")
		untilRT(t, "the creation sent", func() bool {
			c, err := r.in.Admin.Connector(ctx, syncConnector)
			return err == nil && c.Pending == 0
		})
		fetcher, ok := k.person.(connector.Fetcher)
		if !ok {
			t.Fatalf("the %s kind has no Fetch", k.kind)
		}
		cur := r.peerCursor(t)

		// Drift: the poller and the sender stop; the peer's changes are
		// made and the poll cursor moved past them; helpmesh's reply and
		// priority are queued and their items lost.
		if _, err := r.in.App.Connectors.SetPaused(ctx, syncConnector, true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second) // a poll under way ends
		theirs := "peer reply the poller never saw"
		r.push(t, ref, connector.Change{Kind: connector.KindMessage, Body: theirs})
		r.push(t, ref, connector.Change{Kind: connector.KindStatus, Status: "in_progress"})
		ours := "helpmesh reply whose item was lost"
		if _, err := r.staff.Reply(ctx, id, ours); err != nil {
			t.Fatal(err)
		}
		prio := "very_urgent"
		if _, err := r.staff.UpdateTicket(ctx, id, client.TicketUpdate{Priority: &prio}); err != nil {
			t.Fatal(err)
		}
		untilRT(t, "the reply and the priority queued", func() bool {
			c, err := r.in.Admin.Connector(ctx, syncConnector)
			return err == nil && c.Pending == 2
		})
		if _, err := r.in.App.DB.W.ExecContext(ctx, `DELETE FROM connector_items WHERE ticket_id = $1`, id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // Redmine's clock has seconds
		past := r.peerCursor(t)
		if _, err := r.in.App.DB.W.ExecContext(ctx, `UPDATE connectors SET poll_cursor = $1 WHERE name = $2`, past, syncConnector); err != nil {
			t.Fatal(err)
		}
		if _, err := r.in.App.Connectors.SetPaused(ctx, syncConnector, false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // polls: they see nothing of the drift
		if n := countBodies(t, r.staff, id, theirs)[theirs]; n != 0 {
			t.Fatalf("the poller saw the peer's reply past its cursor (%d)", n)
		}

		// A requester may not reconcile; an unknown connector is a 404.
		if _, err := r.requester.Reconcile(ctx, syncConnector); apiStatus(err) != 403 {
			t.Errorf("a requester reconciling: %v, want 403", err)
		}
		if _, err := r.in.Admin.Reconcile(ctx, "no-such"); apiStatus(err) != 404 {
			t.Errorf("reconciling no connector: %v, want 404", err)
		}

		// A pass reads the ticket's whole history on the peer: RT on a
		// loaded machine answers in seconds per request, longer than the
		// API client waits, so RT's first pass is run on the engine (the
		// API's answer is checked with Redmine and on the second pass).
		reconcile := func() (*client.Reconciliation, error) { return r.in.Admin.Reconcile(ctx, syncConnector) }
		if k.kind == connector.RT5 {
			reconcile = func() (*client.Reconciliation, error) {
				res, err := r.in.App.Connectors.Reconcile(ctx, syncConnector)
				return &client.Reconciliation{At: res.At, Checked: res.Checked, Repaired: res.Repaired, Failed: res.Failed, Error: res.Error}, err
			}
		}
		res, err := reconcile()
		if err != nil {
			t.Fatal(err)
		}
		// In: the reply and the status; out: the reply and the priority.
		if res.Checked != 1 || res.Repaired != 4 || res.Failed != 0 || res.At == nil {
			t.Errorf("the first pass: %+v, want 1 checked, 4 repaired, 0 failed", res)
		}
		agree := func() bool {
			tk, err := r.staff.Ticket(ctx, id)
			if err != nil || tk.Status != "in_progress" || tk.Priority != prio {
				return false
			}
			rt, err := fetcher.Fetch(ctx, ref)
			return err == nil && rt.Priority == prio &&
				countBodies(t, r.staff, id, theirs)[theirs] == 1 &&
				countChanges(r.onPeer(t, cur, ref), ours)[ours] == 1
		}
		untilRT(t, "both sides agreeing", agree)

		// A second pass changes nothing.
		res, err = reconcile()
		if err != nil {
			t.Fatal(err)
		}
		if res.Checked != 1 || res.Repaired != 0 || res.Failed != 0 {
			t.Errorf("the second pass: %+v, want 1 checked, nothing repaired", res)
		}
		time.Sleep(2 * time.Second) // polls and sends: nothing twice
		if !agree() {
			t.Error("after the second pass the sides no longer agree (a message twice?)")
		}
		c, err := r.in.Admin.Connector(ctx, syncConnector)
		if err != nil {
			t.Fatal(err)
		}
		if c.Reconciliation == nil || c.Reconciliation.At == nil || c.Reconciliation.Checked != 1 || c.Reconciliation.Repaired != 0 {
			t.Errorf("the connector's summary: %+v", c.Reconciliation)
		}
		log, err := r.in.App.Connectors.SyncLog(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []struct{ dir, what, result string }{
			{"in", "message", "ok (repaired by reconciliation)"},
			{"in", "status in_progress", "ok (repaired by reconciliation)"},
			{"out", "message", "queued again by reconciliation"},
			{"out", "priority " + prio, "queued by reconciliation"},
		} {
			if !slices.ContainsFunc(log, func(e connector.SyncEntry) bool {
				return e.Direction == want.dir && e.What == want.what && strings.HasPrefix(e.Result, want.result)
			}) {
				t.Errorf("the sync log lacks %s %q %q: %+v", want.dir, want.what, want.result, log)
			}
		}
	})
}

// apiStatus is the HTTP status of an API error (0 for none).
func apiStatus(err error) int {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}
