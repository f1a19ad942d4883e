package rt5

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/outbound"
)

func isPermanent(err error) bool { return err != nil && errors.Is(err, connector.ErrPermanent) }

// fakeClient is a client of the httptest server srv, through the outbound
// policy (loopback allowed) with the given timeout.
func fakeClient(t *testing.T, srv *httptest.Server, timeout time.Duration) *Client {
	t.Helper()
	pol, err := outbound.NewPolicy([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(connector.Config{URL: srv.URL, Token: "tok", Queue: "q", Client: pol.Client(timeout)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewValidatesConfig(t *testing.T) {
	hc := &http.Client{}
	for name, cfg := range map[string]connector.Config{
		"no url":    {Token: "t", Queue: "q", Client: hc},
		"ftp":       {URL: "ftp://rt.example.org", Token: "t", Queue: "q", Client: hc},
		"user info": {URL: "https://u:p@rt.example.org", Token: "t", Queue: "q", Client: hc},
		"query":     {URL: "https://rt.example.org/?a=b", Token: "t", Queue: "q", Client: hc},
		"no token":  {URL: "https://rt.example.org", Queue: "q", Client: hc},
		"no queue":  {URL: "https://rt.example.org", Token: "t", Client: hc},
		"no client": {URL: "https://rt.example.org", Token: "t", Queue: "q"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewPeer(connector.Config{URL: "https://rt.example.org/rt/", Token: "t", Queue: "q", Client: hc}); err != nil {
		t.Fatal(err)
	}
}

func TestFaultsAreClassified(t *testing.T) {
	var other atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { other.Add(1) }))
	defer elsewhere.Close()
	cases := []struct {
		name      string
		handler   http.HandlerFunc
		permanent bool
		contains  string
	}{
		{"garbage", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>oops")) }, true, "not the expected JSON"},
		{"wrong shape", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"id": "abc", "items": 7}`)) }, true, "not the expected JSON"},
		{"500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, false, "answered 500"},
		{"503", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, false, "answered 503"},
		{"429", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(429) }, false, "answered 429"},
		{"401", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"message":"Unauthorized"}`))
		}, true, "Unauthorized"},
		{"404", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, true, "answered 404"},
		{"redirect elsewhere", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/", http.StatusFound)
		}, true, "redirect to " + elsewhere.URL},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
		}, false, "Timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := fakeClient(t, srv, 300*time.Millisecond)
			_, _, err := c.Poll(context.Background(), "5", []connector.Ref{{RemoteID: "1"}})
			if err == nil {
				t.Fatal("no error")
			}
			if isPermanent(err) != tc.permanent {
				t.Fatalf("permanent = %v, want %v: %v", isPermanent(err), tc.permanent, err)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("error %q does not say %q", err, tc.contains)
			}
		})
	}
	if other.Load() != 0 {
		t.Fatal("the client followed a redirect to another host")
	}
}

func TestRefusedAddressIsPermanent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	pol, _ := outbound.NewPolicy(nil) // loopback not allowed
	c, err := New(connector.Config{URL: srv.URL, Token: "t", Queue: "q", Client: pol.Client(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), connector.Ticket{Subject: "s"}); !isPermanent(err) || !errors.Is(err, outbound.ErrRefused) {
		t.Fatalf("%v", err)
	}
}

// TestPushSendsTokenAndMapping plays an RT that opens no session at the
// login (a proxy in front of REST2 only): the client sends the token.
func TestPushSendsTokenAndMapping(t *testing.T) {
	var got []map[string]any
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == loginPath {
			_, _ = w.Write([]byte("RT/5.0.3 200 Ok\n"))
			return
		}
		if r.Header.Get("Authorization") != "token tok" || strings.Contains(r.UserAgent(), "Mozilla") {
			w.WriteHeader(401)
			return
		}
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		got = append(got, m)
		paths = append(paths, r.Method+" "+r.URL.Path)
		if r.Method == "PUT" {
			_, _ = w.Write([]byte(`["Ticket 7: changed"]`))
			return
		}
		w.WriteHeader(201)
	}))
	defer srv.Close()
	c := fakeClient(t, srv, time.Second)
	ref := connector.Ref{RemoteID: "7"}
	ctx := context.Background()
	for _, ch := range []connector.Change{
		{Kind: connector.KindMessage, Body: "hi"},
		{Kind: connector.KindNote, Body: "psst"},
		{Kind: connector.KindStatus, Status: "on_hold"},
		{Kind: connector.KindPriority, Priority: "less_urgent"},
	} {
		if err := c.Push(ctx, ref, ch); err != nil {
			t.Fatal(err)
		}
	}
	want := "POST /REST/2.0/ticket/7/correspond|POST /REST/2.0/ticket/7/comment|PUT /REST/2.0/ticket/7|PUT /REST/2.0/ticket/7"
	if strings.Join(paths, "|") != want {
		t.Fatalf("paths %q", paths)
	}
	if got[2]["Status"] != "stalled" || got[3]["Priority"] != float64(25) {
		t.Fatalf("bodies %+v", got)
	}
	for _, bad := range []connector.Change{{Kind: "owner"}, {Kind: connector.KindStatus, Status: "nope"}, {Kind: connector.KindPriority, Priority: "low"}} {
		if err := c.Push(ctx, ref, bad); !isPermanent(err) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if err := c.Push(ctx, connector.Ref{RemoteID: "../users"}, connector.Change{Kind: connector.KindNote}); !isPermanent(err) {
		t.Errorf("bad ref: %v", err)
	}
	if _, _, err := c.Poll(ctx, "not-a-number", nil); !isPermanent(err) {
		t.Errorf("bad cursor: %v", err)
	}
}

func TestHTMLText(t *testing.T) {
	got := htmlText("<p>Hello <b>you</b> &amp; me</p><p>line<br>two</p>")
	if got != "Hello you & me\nline\ntwo" {
		t.Fatalf("%q", got)
	}
}

func TestPriorityRoundTrip(t *testing.T) {
	for hm, n := range rtPriority {
		if fromRTPriority(n) != hm {
			t.Errorf("%s -> %d -> %s", hm, n, fromRTPriority(n))
		}
	}
	for hm, rt := range rtStatus {
		if back := hmStatus[rt]; back == "" {
			t.Errorf("%s -> %s has no way back", hm, rt)
		}
	}
}

func FuzzDecodeResponses(f *testing.F) {
	f.Add([]byte(`{"items":[{"id":"40","Type":"Correspond","Created":"2026-12-05T21:43:29Z","Creator":{"id":"root"},"ObjectType":"RT::Ticket","ObjectId":"1"}],"page":1,"pages":1,"total":1}`))
	f.Add([]byte(`{"items":[{"id":9}]}`))
	f.Add([]byte(`{"id":9,"Content":"AAEC\n","Filename":"b.bin","Priority":"50","Requestor":[{"id":"helpmesh"}]}`))
	f.Add([]byte(`{"items":[{"id":"-1"}]}`))
	f.Add([]byte(`{"Created":"yesterday"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if p, err := decodeTxnPage(raw); err == nil {
			for _, tx := range p.Items {
				if tx.ID <= 0 {
					t.Fatalf("accepted id %d", tx.ID)
				}
			}
		}
		var a attachment
		if json.Unmarshal(raw, &a) == nil {
			_, _ = a.data()
		}
		var tk ticket
		_ = json.Unmarshal(raw, &tk)
		var tp page[ticket]
		_ = json.Unmarshal(raw, &tp)
		_ = errorMessage(raw)
		_ = htmlText(string(raw))
	})
}
