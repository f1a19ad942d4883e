package apptest_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/connector/connectortest"
)

// until waits up to 20 s for ok.
func until(t *testing.T, what string, ok func() bool) {
	t.Helper()
	untilWithin(t, what, 20*time.Second, 50*time.Millisecond, ok)
}

// untilWithin checks ok every step until it holds or d has passed.
func untilWithin(t *testing.T, what string, d, step time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(step)
	}
}

// TestConnectors: through the API an administrator adds a connector (bad
// kind, URL, private URL, missing fields are 400s; nobody else may), puts
// a service in the external mode through it (an unknown connector is a
// 400); a ticket of that service is then created on the peer (an
// in-memory kind), replies go out, the peer's replies come in with source
// "peer", the ticket's links show to those who see it, a dead item is
// retried, and /metrics shows the queues.
func TestConnectors(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		ctx := context.Background()
		closed := apptest.Start(t, e)
		_, err := closed.Admin.CreateConnector(ctx, client.Connector{Name: "rt", Kind: "rt5", URL: "http://127.0.0.1:8081", Token: "t", Queue: "q"})
		wantStatus(t, "a loopback peer without HELPMESH_OUTBOUND_ALLOW", client.StatusOf(err), http.StatusBadRequest)

		in := apptest.Start(t, e, func(cfg *config.Config) { cfg.OutboundAllow = []string{"127.0.0.0/8"} })
		peer := &connectortest.Peer{}
		in.App.Connectors.SetKind(connector.RT5, peer.Kind())
		in.NewUnit(t, "storage", false)
		in.NewService(t, "object-store", "storage")
		staffU, staff := in.NewUser(t, "sam@uni.example", "user")
		in.AddMember(t, "storage", staffU.ID, "member")
		_, ann := in.NewUser(t, "ann@uni.example", "user")
		_, bob := in.NewUser(t, "bob@uni.example", "user")

		good := client.Connector{Name: "rt", Kind: "rt5", URL: "http://127.0.0.1:8081/", Token: "s3cret-token", Queue: "General", PollInterval: "1s"}
		for what, c := range map[string]client.Connector{
			"bad kind":        {Name: "rt", Kind: "zammad", URL: good.URL, Token: "t"},
			"bad URL":         {Name: "rt", Kind: "rt5", URL: "not a url", Token: "t", Queue: "q"},
			"private URL":     {Name: "rt", Kind: "rt5", URL: "http://10.0.0.7/", Token: "t", Queue: "q"},
			"no token":        {Name: "rt", Kind: "rt5", URL: good.URL, Queue: "q"},
			"no queue (rt5)":  {Name: "rt", Kind: "rt5", URL: good.URL, Token: "t"},
			"bad name":        {Name: "R T", Kind: "rt5", URL: good.URL, Token: "t", Queue: "q"},
			"bad interval":    {Name: "rt", Kind: "rt5", URL: good.URL, Token: "t", Queue: "q", PollInterval: "soon"},
			"redmine project": {Name: "rm", Kind: "redmine5", URL: good.URL, Token: "t"},
		} {
			_, err := in.Admin.CreateConnector(ctx, c)
			wantStatus(t, what, client.StatusOf(err), http.StatusBadRequest)
		}
		_, err = ann.CreateConnector(ctx, good)
		wantStatus(t, "a connector by a user", client.StatusOf(err), http.StatusForbidden)
		resp := in.Do(t, "POST", "/api/v1/connectors", in.AdminToken, "application/json", strings.NewReader(`{"name":"rt","kind":"rt5","url":"http://127.0.0.1:8081/","token":"s3cret-token","queue":"General","poll_interval":"1s"}`))
		wantStatus(t, "create", resp.Status, http.StatusCreated)
		if strings.Contains(string(resp.Body), "s3cret-token") || !strings.Contains(string(resp.Body), `"state":"ok"`) {
			t.Fatalf("created: %s", resp.Body)
		}
		_, err = in.Admin.CreateConnector(ctx, good)
		wantStatus(t, "the same name twice", client.StatusOf(err), http.StatusConflict)
		_, err = ann.Connector(ctx, "rt")
		wantStatus(t, "a connector read by a user", client.StatusOf(err), http.StatusForbidden)
		_, err = in.Admin.Connector(ctx, "nope")
		wantStatus(t, "an unknown connector", client.StatusOf(err), http.StatusNotFound)
		for _, body := range []string{`{}`, `{"paused":"yes"}`, `{"paused":true,"url":"x"}`, `[]`} {
			resp := in.Do(t, "PATCH", "/api/v1/connectors/rt", in.AdminToken, "application/json", strings.NewReader(body))
			wantStatus(t, "PATCH "+body, resp.Status, http.StatusBadRequest)
		}
		resp = in.Do(t, "PATCH", "/api/v1/connectors/rt", in.AdminToken, "application/json", strings.NewReader(`{"paused":true}`))
		if resp.Status != http.StatusOK || !strings.Contains(string(resp.Body), `"state":"paused"`) {
			t.Fatalf("pause: %d %s", resp.Status, resp.Body)
		}
		in.Do(t, "PATCH", "/api/v1/connectors/rt", in.AdminToken, "application/json", strings.NewReader(`{"paused":false}`))

		_, err = in.Admin.SetServiceMode(ctx, "object-store", "external", "nope")
		wantStatus(t, "an unknown connector on a service", client.StatusOf(err), http.StatusBadRequest)
		_, err = staff.SetServiceMode(ctx, "object-store", "external", "rt")
		wantStatus(t, "a service changed by a unit member", client.StatusOf(err), http.StatusForbidden)
		sv, err := in.Admin.SetServiceMode(ctx, "object-store", "external", "rt")
		if err != nil || sv.Mode != "external" || sv.Connector != "rt" {
			t.Fatalf("service: %+v %v", sv, err)
		}
		err = in.Admin.Do(ctx, "DELETE", "/api/v1/connectors/rt", nil, nil)
		wantStatus(t, "deleting a connector a service names", client.StatusOf(err), http.StatusConflict)

		// A ticket of the service is created on the peer; a reply follows.
		tk, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "bucket gone", Body: "my bucket vanished", Service: "object-store"})
		if err != nil {
			t.Fatal(err)
		}
		until(t, "the ticket on the peer", func() bool { return len(peer.Created()) == 1 })
		if c := peer.Created()[0]; c.Subject != "bucket gone" || c.LocalID != tk.ID {
			t.Fatalf("created on the peer: %+v", c)
		}
		var links []client.Link
		until(t, "the link", func() bool { links, err = ann.Links(ctx, tk.ID); return err == nil && len(links) == 1 })
		if links[0].Connector != "rt" || links[0].RemoteID != "101" || links[0].State != "linked" || links[0].RemoteURL == "" {
			t.Fatalf("links: %+v", links)
		}
		_, err = bob.Links(ctx, tk.ID)
		wantStatus(t, "the links of another's ticket", client.StatusOf(err), http.StatusNotFound)
		resp = in.Do(t, "GET", "/api/v1/tickets/abc/links", in.AdminToken, "", nil)
		wantStatus(t, "links of a bad id", resp.Status, http.StatusBadRequest)

		if _, err := staff.AddMessage(ctx, tk.ID, "looking", false, nil); err != nil {
			t.Fatal(err)
		}
		until(t, "the reply on the peer", func() bool { return len(peer.Pushed()) == 1 })
		if p := peer.Pushed()[0]; p.Kind != connector.KindMessage || p.Body != "looking" {
			t.Fatalf("pushed: %+v", p)
		}

		// The peer answers: the reply arrives once, from the peer.
		peer.Add(connector.Change{Kind: connector.KindMessage, Body: "restored from backup", Ticket: connector.Ref{RemoteID: "101"}})
		until(t, "the peer's reply", func() bool {
			ms, err := ann.Messages(ctx, tk.ID)
			return err == nil && len(ms) == 3 && ms[2].Body == "restored from backup" && ms[2].Source == "peer"
		})

		// A dead item: retried by an administrator.
		peer.Set(func(p *connectortest.Peer) { p.Permanent = true })
		if _, err := staff.AddMessage(ctx, tk.ID, "is it back?", false, nil); err != nil {
			t.Fatal(err)
		}
		var c *client.Connector
		until(t, "a dead item", func() bool { c, err = in.Admin.Connector(ctx, "rt"); return err == nil && c.Dead == 1 })
		var dead struct {
			Items []struct {
				ID int64 `json:"id"`
			} `json:"items"`
		}
		if err := in.Admin.Do(ctx, "GET", "/api/v1/connectors/rt/items", nil, &dead); err != nil || len(dead.Items) != 1 {
			t.Fatalf("dead items: %+v %v", dead, err)
		}
		metrics := in.Do(t, "GET", "/metrics", "", "", nil)
		for _, want := range []string{`helpmesh_connector_dead{connector="rt"} 1`, `helpmesh_connector_pending{connector="rt"} 0`, `helpmesh_connector_state{connector="rt",state="ok"} 1`} {
			if !strings.Contains(string(metrics.Body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		item := "/api/v1/connectors/rt/items/" + strconv.FormatInt(dead.Items[0].ID, 10)
		resp = in.Do(t, "POST", item+"/retry", staffToken(t, in, "sam2@uni.example"), "", nil)
		wantStatus(t, "a retry by a user", resp.Status, http.StatusForbidden)
		resp = in.Do(t, "POST", "/api/v1/connectors/rt/items/99999/retry", in.AdminToken, "", nil)
		wantStatus(t, "retry of no item", resp.Status, http.StatusNotFound)
		peer.Set(func(p *connectortest.Peer) { p.Permanent = false })
		resp = in.Do(t, "POST", item+"/retry", in.AdminToken, "", nil)
		wantStatus(t, "retry", resp.Status, http.StatusCreated)
		until(t, "the retried item sent", func() bool { return len(peer.Pushed()) == 2 })
		// The item is marked sent just after the peer took it.
		until(t, "the retried item recorded as sent", func() bool {
			var c client.Connector
			return in.Admin.Do(ctx, "GET", "/api/v1/connectors/rt", nil, &c) == nil && c.Pending == 0 && c.Dead == 0
		})
		resp = in.Do(t, "POST", item+"/skip", in.AdminToken, "", io.NopCloser(strings.NewReader("")))
		wantStatus(t, "skip of an item already sent", resp.Status, http.StatusNotFound)
	})
}

// staffToken makes a user and returns their token.
func staffToken(t *testing.T, in *apptest.Instance, email string) string {
	t.Helper()
	u, err := in.Admin.CreateUser(context.Background(), client.NewUser{Email: email, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := in.Admin.CreateToken(context.Background(), u.ID, client.NewToken{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}
