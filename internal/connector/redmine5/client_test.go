package redmine5

// Faults of a peer, with httptest servers: garbage, 5xx, timeouts,
// redirects to another host.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/outbound"
)

func isPermanent(err error) bool { return errors.Is(err, connector.ErrPermanent) }

// fakeClient is a client of the server at url with a short timeout.
func fakeClient(t *testing.T, url string) *Client {
	t.Helper()
	c, err := New(connector.Config{URL: url, Token: "k", Project: "p", TrackerID: 1, Client: loopbackClient(t, 500*time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFaultsOfThePeer(t *testing.T) {
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		w.Write([]byte(`{"user":{"id":1}}`))
	}))
	defer other.Close()

	for _, tc := range []struct {
		name      string
		handler   http.HandlerFunc
		permanent bool
	}{
		{"garbage", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>Welcome</html>")) }, true},
		{"json of another shape", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"user":"admin"}`)) }, true},
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) }, false},
		{"503", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "later", http.StatusServiceUnavailable) }, false},
		{"429", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "slow down", http.StatusTooManyRequests) }, false},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		}, false},
		{"401", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "", http.StatusUnauthorized) }, true},
		{"422", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(`{"errors":["Status is invalid"]}`))
		}, true},
		{"422 of a concurrent update", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(`{"errors":[]}`))
		}, false},
		{"409", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "", http.StatusConflict) }, false},
		{"redirect to another host", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := fakeClient(t, srv.URL)
			ctx := context.Background()
			checks := map[string]error{}
			_, checks["Create"] = c.Create(ctx, connector.Ticket{Subject: "s", Body: "b"})
			checks["Push"] = c.Push(ctx, connector.Ref{RemoteID: "1"}, connector.Change{Kind: connector.KindMessage, Body: "b"})
			_, _, checks["Poll"] = c.Poll(ctx, "", nil)
			_, _, _, checks["Tickets"] = c.Tickets(ctx, "")
			for op, err := range checks {
				if err == nil {
					t.Errorf("%s: no error", op)
				} else if isPermanent(err) != tc.permanent {
					t.Errorf("%s: %v; permanent=%v, want %v", op, err, isPermanent(err), tc.permanent)
				}
			}
		})
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("the other host got %d requests, want none", n)
	}
}

func TestRedirectOnSameHostIsFollowed(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/old/issue_statuses.json", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/issue_statuses.json", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/issue_statuses.json", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Redmine-API-Key") != "k" {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"issue_statuses":[]}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := fakeClient(t, srv.URL)
	var st statusList
	if _, err := c.getJSON(context.Background(), "/old/issue_statuses.json", nil, &st); err != nil {
		t.Fatalf("same-host redirect: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	hc := loopbackClient(t, time.Second)
	for name, cfg := range map[string]connector.Config{
		"no client":   {URL: "http://127.0.0.1:1", Token: "k", Project: "p"},
		"ftp":         {URL: "ftp://127.0.0.1", Token: "k", Project: "p", Client: hc},
		"no host":     {URL: "http://", Token: "k", Project: "p", Client: hc},
		"user in URL": {URL: "http://u:p@127.0.0.1", Token: "k", Project: "p", Client: hc},
		"no key":      {URL: "http://127.0.0.1", Project: "p", Client: hc},
		"no project":  {URL: "http://127.0.0.1", Token: "k", Client: hc},
		"bad project": {URL: "http://127.0.0.1", Token: "k", Project: "../users/1", Client: hc},
		"upper case":  {URL: "http://127.0.0.1", Token: "k", Project: "Ops", Client: hc},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestPushRefusesBadRef(t *testing.T) {
	c := fakeClient(t, "http://127.0.0.1:1")
	for _, id := range []string{"", "abc", "-3", "0", "1/../2"} {
		if err := c.Push(context.Background(), connector.Ref{RemoteID: id}, connector.Change{Kind: connector.KindMessage, Body: "x"}); !isPermanent(err) {
			t.Errorf("ref %q: %v, want ErrPermanent", id, err)
		}
	}
}

func FuzzDecodeIssue(f *testing.F) {
	f.Add([]byte(`{"issue":{"id":7,"subject":"s","status":{"id":1,"name":"New"},"journals":[{"id":3,"user":{"id":2,"name":"A"},"notes":"n","private_notes":true,"created_on":"2026-12-05T21:31:24Z","details":[{"property":"attr","name":"status_id","old_value":"1","new_value":"2"},{"property":"attachment","name":"5","new_value":"f.txt"}]}],"attachments":[{"id":5,"filename":"f.txt","filesize":3}]}}`))
	f.Add([]byte(`{"issue":null}`))
	f.Add([]byte(`{"issue":{"id":1,"journals":[{"id":0}]}}`))
	f.Add([]byte(`<html>`))
	f.Add([]byte(`{"issue":{"id":1,"created_on":"yesterday"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		is, err := decodeIssue(data)
		if err != nil {
			if !isPermanent(err) {
				t.Fatalf("decode error %v does not wrap ErrPermanent", err)
			}
			return
		}
		if is == nil || is.ID <= 0 {
			t.Fatalf("decoded an issue without an id: %+v", is)
		}
		for _, j := range is.Journals {
			if j.ID <= 0 {
				t.Fatalf("journal without an id: %+v", j)
			}
			for _, d := range j.Details {
				_ = detailValue(d.NewValue)
			}
		}
	})
}

func TestAddressNotAllowedIsPermanent(t *testing.T) {
	p, err := outbound.NewPolicy(nil) // loopback not allowed
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	c, err := New(connector.Config{URL: srv.URL, Token: "k", Project: "p", Client: p.Client(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Poll(context.Background(), "", nil); !isPermanent(err) || !errors.Is(err, outbound.ErrRefused) {
		t.Errorf("loopback without HELPMESH_OUTBOUND_ALLOW: %v, want ErrRefused and ErrPermanent", err)
	}
}

// TestPollSkipsIssueDeletedMeanwhile: an issue listed as updated but gone
// when read (404) is skipped; the others' journals still come.
func TestPollSkipsIssueDeletedMeanwhile(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second)
	answers := map[string]string{
		"/users/current.json":                 `{"user":{"id":1}}`,
		"/projects/p.json":                    `{"project":{"id":3,"name":"p"}}`,
		"/issue_statuses.json":                `{"issue_statuses":[{"id":1,"name":"New"},{"id":3,"name":"Resolved"}]}`,
		"/enumerations/issue_priorities.json": `{"issue_priorities":[{"id":2,"name":"Normal"}]}`,
		"/issues.json":                        `{"issues":[{"id":5},{"id":6}],"total_count":2}`,
		"/issues/6.json": `{"issue":{"id":6,"journals":[{"id":9,"user":{"id":2,"name":"Bo"},"notes":"",
			"created_on":"` + start.Add(5*time.Second).Format(time.RFC3339) + `",
			"details":[{"property":"attr","name":"status_id","old_value":"1","new_value":"3"}]}]}}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(a))
	}))
	defer srv.Close()
	c := fakeClient(t, srv.URL)
	ctx := context.Background()
	_, cursor, err := c.Poll(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	refs := []connector.Ref{{RemoteID: "5"}, {RemoteID: "6"}}
	changes, _, err := c.Poll(ctx, cursor, refs)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if len(changes) != 1 || changes[0].Kind != connector.KindStatus || changes[0].Status != "solved" || changes[0].Ticket.RemoteID != "6" {
		t.Errorf("changes = %+v, want issue 6 solved", changes)
	}
}
