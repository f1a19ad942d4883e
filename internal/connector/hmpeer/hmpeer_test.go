package hmpeer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/connector/hmpeer"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/tmf621"
)

// newPeer returns a Peer talking to srv through an outbound client that
// allows loopback, with the given timeout.
func newPeer(t *testing.T, srv *httptest.Server, timeout time.Duration) *hmpeer.Peer {
	t.Helper()
	pol, err := outbound.NewPolicy([]string{"127.0.0.0/8", "::1/128"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := hmpeer.New(hmpeer.Options{URL: srv.URL + "/", Token: "tok", Unit: "grid", Instance: "a.example", Client: pol.Client(timeout)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type seen struct {
	method, path, query, auth, key string
	body                           map[string]any
}

// recorder answers every request with code and answer, recording it.
func recorder(t *testing.T, code int, answer string) (*httptest.Server, *[]seen) {
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, auth: r.Header.Get("Authorization"), key: r.Header.Get("Idempotency-Key")}
		b, _ := io.ReadAll(r.Body)
		if len(b) > 0 {
			if err := json.Unmarshal(b, &s.body); err != nil {
				t.Errorf("the request body is not JSON: %v", err)
			}
		}
		got = append(got, s)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func TestCreatePostsATroubleTicket(t *testing.T) {
	srv, got := recorder(t, http.StatusCreated, `{"id":"77","@type":"TroubleTicket","name":"Disk full","status":"acknowledged"}`)
	p := newPeer(t, srv, time.Second)
	ref, err := p.Create(context.Background(), connector.Ticket{
		Subject: "Disk full", Body: "the disk is full", Requester: connector.Person{Email: "ann@uni.example", Name: "Ann"},
		Status: "assigned", Priority: "urgent", LocalID: 12,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ref.RemoteID != "77" || ref.RemoteURL != srv.URL+"/tickets/77" {
		t.Errorf("ref = %+v", ref)
	}
	s := (*got)[0]
	if s.method != "POST" || s.path != "/federation/v1/troubleTicket" || s.auth != "Bearer tok" || s.key != "hm:a.example/12" {
		t.Errorf("request = %+v", s)
	}
	b := s.body
	if b["name"] != "Disk full" || b["description"] != "the disk is full" || b["priority"] != "urgent" || b["status"] != "acknowledged" {
		t.Errorf("body = %v", b)
	}
	party := b["relatedParty"].([]any)[0].(map[string]any)
	ext := b["externalIdentifier"].([]any)[0].(map[string]any)
	if party["role"] != "requester" || party["email"] != "ann@uni.example" || ext["id"] != "12" || ext["owner"] != "hm:a.example" {
		t.Errorf("party = %v, externalIdentifier = %v", party, ext)
	}
}

func TestPushNotesAndFields(t *testing.T) {
	srv, got := recorder(t, http.StatusOK, `{}`)
	p := newPeer(t, srv, time.Second)
	ref := connector.Ref{RemoteID: "77"}
	ctx := context.Background()
	for _, c := range []connector.Change{
		{Kind: connector.KindMessage, Body: "public", RemoteID: "12/5", Author: connector.Person{Email: "bob@a.example"}},
		{Kind: connector.KindNote, Body: "internal", Attachments: []connector.Attachment{{Filename: "log.txt", Data: []byte("abc")}}},
		{Kind: connector.KindStatus, Status: "solved"},
		{Kind: connector.KindPriority, Priority: "top_priority"},
		{Kind: connector.KindMessage, Body: "big", Attachments: []connector.Attachment{
			{Filename: "small.txt", ContentType: "text/plain", Data: []byte("ok")},
			{Filename: "huge.bin", Data: make([]byte, tmf621.MaxNoteFiles)}}},
	} {
		if err := p.Push(ctx, ref, c); err != nil {
			t.Fatalf("%s: %v", c.Kind, err)
		}
	}
	r := *got
	if r[0].method != "POST" || r[0].path != "/federation/v1/troubleTicket/77/note" || r[0].body["visibility"] != "public" ||
		r[0].body["text"] != "public" || r[0].body["origin"] != "hm:a.example/12/5" || r[0].key != "hm:a.example/12/5" {
		t.Errorf("message: %+v", r[0])
	}
	if r[1].body["visibility"] != "internal" || r[1].body["@type"] != tmf621.NoteType || r[1].body["text"] != "internal" ||
		fmt.Sprint(r[1].body["attachment"]) != "[map[content:YWJj name:log.txt size:3]]" {
		t.Errorf("note with a file: %+v", r[1])
	}
	if a := r[4].body["attachment"].([]any); len(a) != 1 || a[0].(map[string]any)["name"] != "small.txt" ||
		!strings.Contains(r[4].body["text"].(string), "too large to transfer: huge.bin") {
		t.Errorf("a file over the bounds is named, not carried: text %q, %d attachments", r[4].body["text"], len(a))
	}
	chars := r[2].body["troubleTicketCharacteristic"].([]any)[0].(map[string]any)
	if r[2].method != "PATCH" || r[2].path != "/federation/v1/troubleTicket/77" || r[2].body["status"] != "resolved" ||
		chars["name"] != tmf621.CharStatus || chars["value"] != "solved" {
		t.Errorf("status: %+v", r[2])
	}
	if r[3].method != "POST" || r[3].path != "/federation/v1/troubleTicket/77/note" || r[3].body["visibility"] != "internal" ||
		!strings.Contains(r[3].body["text"].(string), "asks for the priority top_priority") {
		t.Errorf("priority: %+v", r[3])
	}
	if err := p.Push(ctx, ref, connector.Change{Kind: "attachment"}); !errors.Is(err, connector.ErrPermanent) {
		t.Errorf("an unknown kind: %v", err)
	}
}

func TestPollSkipsEchoesAndOtherTickets(t *testing.T) {
	page := `{"items":[
	 {"id":"5","type":"ticket.message","at":"2026-12-05T10:00:00Z","ticketId":"77","note":{"text":"hello","visibility":"public","author":{"name":"Bea","email":"bea@b.example"}}},
	 {"id":"6","type":"ticket.note","at":"2026-12-05T10:00:01Z","ticketId":"77","note":{"text":"ours","visibility":"internal"},"echo":true},
	 {"id":"7","type":"ticket.message","at":"2026-12-05T10:00:02Z","ticketId":"99","note":{"text":"not linked"}},
	 {"id":"8","type":"ticket.solved","at":"2026-12-05T10:00:03Z","ticketId":"77","status":"solved","priority":"urgent","changed":["status","priority"]},
	 {"id":"9","type":"ticket.note","at":"2026-12-05T10:00:04Z","ticketId":"77","note":{"text":"secret","visibility":"internal"}}
	],"next_cursor":"9"}`
	srv, got := recorder(t, http.StatusOK, page)
	p := newPeer(t, srv, time.Second)
	ctx := context.Background()
	refs := []connector.Ref{{RemoteID: "77", RemoteURL: "u"}}
	changes, next, err := p.Poll(ctx, "", refs)
	if err != nil || len(changes) != 0 || next != "9" || (*got)[0].query != "after=now&limit=100" {
		t.Fatalf("first poll: %v %q %v %+v", changes, next, err, (*got)[0])
	}
	changes, next, err = p.Poll(ctx, "4", refs)
	if err != nil || next != "9" || (*got)[1].query != "after=4&limit=100" {
		t.Fatalf("poll: %q %v", next, err)
	}
	var kinds []string
	for _, c := range changes {
		kinds = append(kinds, string(c.Kind)+":"+c.RemoteID+":"+c.Body+c.Status+c.Priority)
		if c.Ticket.RemoteID != "77" {
			t.Errorf("change of ticket %q", c.Ticket.RemoteID)
		}
	}
	want := "message:5:hello status:8/status:solved priority:8/priority:urgent note:9:secret"
	if strings.Join(kinds, " ") != want {
		t.Errorf("changes = %v, want %s", kinds, want)
	}
	if changes[0].Author.Email != "bea@b.example" {
		t.Errorf("author = %+v", changes[0].Author)
	}
}

func TestFaultsAreRetriedOrPermanent(t *testing.T) {
	ctx := context.Background()
	ticket := connector.Ticket{Subject: "s", Body: "b", LocalID: 1, Requester: connector.Person{Email: "a@b.c"}}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a redirect was followed")
	}))
	defer other.Close()
	for _, tc := range []struct {
		name      string
		code      int
		answer    string
		header    string
		permanent bool
	}{
		{"500", 500, `{"error":{}}`, "", false},
		{"503", 503, ``, "", false},
		{"429", 429, ``, "", false},
		{"401", 401, `{}`, "", true},
		{"404", 404, `{}`, "", true},
		{"garbage", 201, `<html>hello</html>`, "", true},
		{"no id", 201, `{"name":"x"}`, "", true},
		{"truncated", 201, `{"id":"1"`, "", true},
		{"redirect", 307, ``, other.URL + "/federation/v1/troubleTicket", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("Location", tc.header)
				}
				w.WriteHeader(tc.code)
				_, _ = io.WriteString(w, tc.answer)
			}))
			defer srv.Close()
			_, err := newPeer(t, srv, time.Second).Create(ctx, ticket)
			if err == nil || errors.Is(err, connector.ErrPermanent) != tc.permanent {
				t.Errorf("err = %v, permanent want %v", err, tc.permanent)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		var calls atomic.Int32
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			<-release
		}))
		defer srv.Close()
		defer close(release)
		_, _, err := newPeer(t, srv, 200*time.Millisecond).Poll(ctx, "1", nil)
		if err == nil || errors.Is(err, connector.ErrPermanent) {
			t.Errorf("err = %v, want a retryable error", err)
		}
	})
	t.Run("refused address", func(t *testing.T) {
		pol, _ := outbound.NewPolicy(nil) // loopback not allowed
		p, err := hmpeer.New(hmpeer.Options{URL: "http://127.0.0.1:9", Token: "t", Client: pol.Client(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Create(ctx, ticket); !errors.Is(err, connector.ErrPermanent) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestNewChecksOptions(t *testing.T) {
	c := &http.Client{}
	for _, o := range []hmpeer.Options{
		{URL: "ftp://x", Token: "t", Client: c},
		{URL: "http://", Token: "t", Client: c},
		{URL: "http://u:p@x", Token: "t", Client: c},
		{URL: "http://x", Client: c},
		{URL: "http://x", Token: "t"},
	} {
		if _, err := hmpeer.New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
