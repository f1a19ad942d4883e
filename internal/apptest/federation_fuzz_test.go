package apptest_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
)

// FuzzFederationRequests sends any body to the routes of /federation/v1/
// that take one, as a registered peer, on a whole instance: the answer is
// a 2xx or a 4xx, never a 5xx.
func FuzzFederationRequests(f *testing.F) {
	for _, s := range []string{
		`{"name":"x","description":"y","relatedParty":[{"role":"requester","email":"a@b.example"}]}`,
		`{"name":"x","description":"y","relatedParty":[{"email":"a@b"}],"troubleTicketCharacteristic":[{"name":"helpmesh.unit","value":"grid"},{"name":"helpmesh.ticketType","value":"bogus"}]}`,
		`{"troubleTicketCharacteristic":[{"name":"helpmesh.status","value":"solved"}]}`,
		`{"status":"closed"}`, `{"priority":"urgent"}`, `{"text":"hello","visibility":"internal","origin":"hm:a/1/2"}`,
		`{"text":"files","attachment":[{"name":"a.txt","mimeType":"text/plain","size":3,"content":"YWJj"}]}`,
		`{"text":"files","attachment":[{"name":"a.png","mimeType":"image/png","size":3,"content":"!!!"}]}`,
		`{"text":"files","attachment":[{"name":"","size":-1}]}`,
		`{"name":"x","description":"y","relatedParty":[{"email":"a@b.example"}],"attachment":[{"name":"b","size":9,"content":"YWJj"}]}`,
		`{"callback":"http://127.0.0.1:1/cb"}`, `{"callback":"javascript:alert(1)"}`, `{}`, `[]`, `null`, `{"name":`, "\x00",
	} {
		for route := range 4 {
			f.Add(uint8(route), []byte(s))
		}
	}
	in := apptest.Start(f, apptest.SQLite, func(cfg *config.Config) { cfg.OutboundAllow = []string{"127.0.0.0/8"} })
	ctx := context.Background()
	in.NewUnit(f, "grid", false)
	u, err := in.Admin.CreateUser(ctx, client.NewUser{Email: "peer@a.example", Name: "peer"})
	if err != nil {
		f.Fatal(err)
	}
	tok, err := in.Admin.CreateToken(ctx, u.ID, client.NewToken{Name: "federation"})
	if err != nil {
		f.Fatal(err)
	}
	if err := in.Admin.Do(ctx, "POST", "/federation/v1/peers", map[string]any{"user_id": u.ID, "name": "a"}, nil); err != nil {
		f.Fatal(err)
	}
	r := in.Do(f, "POST", "/federation/v1/troubleTicket", tok.Token, "application/json",
		bytes.NewReader([]byte(`{"name":"x","description":"y","relatedParty":[{"email":"a@b.example"}]}`)))
	if r.Status != http.StatusCreated {
		f.Fatalf("create: %d %s", r.Status, r.Body)
	}
	id := "1"
	if i := bytes.Index(r.Body, []byte(`"id":"`)); i >= 0 {
		rest := r.Body[i+6:]
		id = string(rest[:bytes.IndexByte(rest, '"')])
	}
	if _, err := strconv.Atoi(id); err != nil {
		f.Fatalf("the created ticket's id %q", id)
	}
	routes := []struct{ method, path string }{
		{"POST", "/federation/v1/troubleTicket"},
		{"PATCH", "/federation/v1/troubleTicket/" + id},
		{"POST", "/federation/v1/troubleTicket/" + id + "/note"},
		{"POST", "/federation/v1/hub"},
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := routes[int(route)%len(routes)]
		resp := in.Do(t, rt.method, rt.path, tok.Token, "application/json", bytes.NewReader(body))
		if resp.Status >= 500 {
			t.Fatalf("%s %s with %q: %d %s", rt.method, rt.path, body, resp.Status, resp.Body)
		}
	})
}
