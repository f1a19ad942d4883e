package apptest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
)

// call sends a request through cl and returns the status (200..299 for
// success, the error's status otherwise).
func call(t *testing.T, cl *client.Client, method, path string, body, out any) int {
	t.Helper()
	err := cl.Do(context.Background(), method, path, body, out)
	if err == nil {
		return 200
	}
	if s := client.StatusOf(err); s != 0 {
		return s
	}
	t.Fatalf("%s %s: %v", method, path, err)
	return 0
}

func wantStatus(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Errorf("%s: status %d, want %d", what, got, want)
	}
}

// TestWholeAPI walks every route of DESIGN.md (and the others Routes()
// serves) through the client on both engines.
func TestWholeAPI(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		ctx := context.Background()
		admin := in.Admin

		// Unauthenticated routes.
		for _, p := range []string{"/healthz", "/metrics", "/api/v1/openapi.json"} {
			r := in.Do(t, "GET", p, "", "", nil)
			wantStatus(t, "GET "+p, r.Status, 200)
		}
		if r := in.Do(t, "GET", "/healthz", "", "", nil); !bytes.Contains(r.Body, []byte(`"ok"`)) || !bytes.Contains(r.Body, []byte(string(e))) {
			t.Errorf("healthz: %s", r.Body)
		}
		var doc struct {
			OpenAPI string         `json:"openapi"`
			Paths   map[string]any `json:"paths"`
		}
		if err := json.Unmarshal(in.Do(t, "GET", "/api/v1/openapi.json", "", "", nil).Body, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") || len(doc.Paths) < 20 {
			t.Errorf("openapi.json: %v %q %d paths", err, doc.OpenAPI, len(doc.Paths))
		}

		// me
		me, err := admin.Me(ctx)
		if err != nil || me.Email != "admin@localhost" || me.Role != "admin" || me.Via != "token" {
			t.Fatalf("me: %+v %v", me, err)
		}

		// users
		ann, err := admin.CreateUser(ctx, client.NewUser{Email: "Ann@Example.org", Name: "Ann Example", Password: "a long password here"})
		if err != nil || ann.ID == 0 || ann.Email != "ann@example.org" || ann.Role != "user" {
			t.Fatalf("create user: %+v %v", ann, err)
		}
		wantStatus(t, "duplicate user", call(t, admin, "POST", "/api/v1/users", client.NewUser{Email: "ann@example.org", Name: "x"}, nil), 409)
		var users struct {
			Items      []client.User `json:"items"`
			NextCursor string        `json:"next_cursor"`
		}
		wantStatus(t, "GET users", call(t, admin, "GET", "/api/v1/users?limit=1", nil, &users), 200)
		if len(users.Items) != 1 || users.NextCursor == "" {
			t.Errorf("users page 1: %+v", users)
		}
		wantStatus(t, "GET users page 2", call(t, admin, "GET", "/api/v1/users?limit=1&cursor="+users.NextCursor, nil, &users), 200)
		if len(users.Items) != 1 || users.Items[0].ID != ann.ID {
			t.Errorf("users page 2: %+v", users)
		}
		var got client.User
		wantStatus(t, "GET user", call(t, admin, "GET", fmt.Sprintf("/api/v1/users/%d", ann.ID), nil, &got), 200)
		if got.Email != ann.Email {
			t.Errorf("GET user: %+v", got)
		}

		// tokens
		tok, err := admin.CreateToken(ctx, ann.ID, client.NewToken{Name: "laptop"})
		if err != nil || !strings.HasPrefix(tok.Token, "hm_") || tok.Scope != "write" {
			t.Fatalf("create token: %+v %v", tok, err)
		}
		annC := in.Client(tok.Token)
		if me, err := annC.Me(ctx); err != nil || me.ID != ann.ID || len(me.Units) != 0 {
			t.Fatalf("ann's me: %+v %v", me, err)
		}
		wantStatus(t, "ann lists users", call(t, annC, "GET", "/api/v1/users", nil, nil), 403)
		wantStatus(t, "ann creates a user", call(t, annC, "POST", "/api/v1/users", client.NewUser{Email: "x@example.org", Name: "x"}, nil), 403)
		wantStatus(t, "ann reads herself", call(t, annC, "GET", fmt.Sprintf("/api/v1/users/%d", ann.ID), nil, nil), 200)
		wantStatus(t, "ann reads admin", call(t, annC, "GET", fmt.Sprintf("/api/v1/users/%d", me.ID), nil, nil), 404)
		var own client.Token
		wantStatus(t, "ann makes her own token", call(t, annC, "POST", fmt.Sprintf("/api/v1/users/%d/tokens", ann.ID), client.NewToken{Scope: "read"}, &own), 200)
		wantStatus(t, "ann makes admin a token", call(t, annC, "POST", fmt.Sprintf("/api/v1/users/%d/tokens", me.ID), client.NewToken{}, nil), 404)
		var toks struct{ Items []client.Token }
		wantStatus(t, "list tokens", call(t, annC, "GET", fmt.Sprintf("/api/v1/users/%d/tokens", ann.ID), nil, &toks), 200)
		if len(toks.Items) != 2 || slices.ContainsFunc(toks.Items, func(x client.Token) bool { return x.Token != "" }) {
			t.Errorf("token list: %+v", toks.Items)
		}
		readC := in.Client(own.Token)
		wantStatus(t, "read token reads", call(t, readC, "GET", "/api/v1/me", nil, nil), 200)
		wantStatus(t, "read token writes", call(t, readC, "POST", "/api/v1/tickets", client.NewTicket{Subject: "s", Body: "b"}, nil), 403)
		if err := annC.RevokeToken(ctx, ann.ID, own.ID); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		wantStatus(t, "revoked token", call(t, readC, "GET", "/api/v1/me", nil, nil), 401)
		wantStatus(t, "revoke again", call(t, annC, "DELETE", fmt.Sprintf("/api/v1/users/%d/tokens/%d", ann.ID, own.ID), nil, nil), 404)
		soon := time.Now().Add(1500 * time.Millisecond)
		var short client.Token
		wantStatus(t, "short-lived token", call(t, admin, "POST", fmt.Sprintf("/api/v1/users/%d/tokens", ann.ID), client.NewToken{ExpiresAt: &soon}, &short), 200)
		wantStatus(t, "token before expiry", call(t, in.Client(short.Token), "GET", "/api/v1/me", nil, nil), 200)
		past := time.Now().Add(-time.Hour)
		wantStatus(t, "token expiring in the past", call(t, admin, "POST", fmt.Sprintf("/api/v1/users/%d/tokens", ann.ID), client.NewToken{ExpiresAt: &past}, nil), 400)

		// units
		ops, err := admin.CreateUnit(ctx, client.Unit{Slug: "ops", Name: "Operations", Email: "ops@example.org", CommentEmail: "ops-comment@example.org"})
		if err != nil || ops.ID == 0 || ops.Slug != "ops" || ops.Email != "ops@example.org" {
			t.Fatalf("create unit: %+v %v", ops, err)
		}
		in.NewUnit(t, "triage", true)
		wantStatus(t, "second handler team", call(t, admin, "POST", "/api/v1/units", client.Unit{Slug: "triage2", Name: "T2", Handler: true}, nil), 409)
		wantStatus(t, "duplicate unit", call(t, admin, "POST", "/api/v1/units", client.Unit{Slug: "ops", Name: "again"}, nil), 409)
		wantStatus(t, "ann creates a unit", call(t, annC, "POST", "/api/v1/units", client.Unit{Slug: "mine", Name: "x"}, nil), 403)
		units, err := annC.Units(ctx)
		if err != nil || len(units) != 2 || units[0].Slug != "ops" || units[1].Slug != "triage" || !units[1].Handler {
			t.Errorf("units: %+v %v", units, err)
		}
		var u client.Unit
		wantStatus(t, "GET unit", call(t, annC, "GET", "/api/v1/units/ops", nil, &u), 200)
		wantStatus(t, "GET no unit", call(t, annC, "GET", "/api/v1/units/nope", nil, nil), 404)
		wantStatus(t, "PATCH unit", call(t, admin, "PATCH", "/api/v1/units/ops", map[string]any{"name": "Ops team", "qos_level": "advanced"}, &u), 200)
		if u.Name != "Ops team" || u.QoSLevel != "advanced" || u.Email != "ops@example.org" {
			t.Errorf("patched unit: %+v", u)
		}
		wantStatus(t, "ann patches unit", call(t, annC, "PATCH", "/api/v1/units/ops", map[string]any{"name": "mine"}, nil), 403)
		staff, staffC := in.NewUser(t, "staff@example.org", "user")
		boss, bossC := in.NewUser(t, "boss@example.org", "user")
		m, err := admin.AddMember(ctx, "ops", staff.ID, "member")
		if err != nil || m.UserID != staff.ID || m.Role != "member" || m.Email != "staff@example.org" {
			t.Fatalf("add member: %+v %v", m, err)
		}
		in.AddMember(t, "ops", boss.ID, "admin")
		wantStatus(t, "unit admin patches name", call(t, bossC, "PATCH", "/api/v1/units/ops", map[string]any{"name": "Ops"}, nil), 200)
		wantStatus(t, "unit admin sets handler flag", call(t, bossC, "PATCH", "/api/v1/units/ops", map[string]any{"handler": true}, nil), 403)
		wantStatus(t, "unit admin changes mode", call(t, bossC, "PATCH", "/api/v1/units/ops", map[string]any{"mode": "external"}, nil), 403)
		wantStatus(t, "unit admin sends the mode unchanged", call(t, bossC, "PATCH", "/api/v1/units/ops", map[string]any{"name": "Ops", "mode": "direct"}, nil), 200)
		wantStatus(t, "unit admin changes slug", call(t, bossC, "PATCH", "/api/v1/units/ops", map[string]any{"slug": "x"}, nil), 400)
		wantStatus(t, "member adds member", call(t, staffC, "POST", "/api/v1/units/ops/members", client.Member{UserID: ann.ID, Role: "member"}, nil), 403)
		wantStatus(t, "unit admin adds member", call(t, bossC, "POST", "/api/v1/units/ops/members", client.Member{UserID: ann.ID}, nil), 200)
		var members struct{ Items []client.Member }
		wantStatus(t, "member lists members", call(t, staffC, "GET", "/api/v1/units/ops/members", nil, &members), 200)
		if len(members.Items) != 3 {
			t.Errorf("members: %+v", members.Items)
		}
		wantStatus(t, "remove member", call(t, bossC, "DELETE", fmt.Sprintf("/api/v1/units/ops/members/%d", ann.ID), nil, nil), 200)
		wantStatus(t, "remove member again", call(t, bossC, "DELETE", fmt.Sprintf("/api/v1/units/ops/members/%d", ann.ID), nil, nil), 404)
		wantStatus(t, "non-member lists members", call(t, annC, "GET", "/api/v1/units/ops/members", nil, nil), 403)
		if me, _ := staffC.Me(ctx); len(me.Units) != 1 || me.Units[0].Slug != "ops" || me.Units[0].Role != "member" {
			t.Errorf("staff's me: %+v", me)
		}

		// services
		svc, err := admin.CreateService(ctx, client.Service{Slug: "storage", Name: "Storage", Unit: "ops"})
		if err != nil || svc.ID == 0 || svc.Unit != "ops" || svc.Mode != "direct" {
			t.Fatalf("create service: %+v %v", svc, err)
		}
		wantStatus(t, "service of no unit", call(t, admin, "POST", "/api/v1/services", client.Service{Slug: "x", Name: "x", Unit: "nope"}, nil), 400)
		wantStatus(t, "ann creates a service", call(t, annC, "POST", "/api/v1/services", client.Service{Slug: "x", Name: "x", Unit: "ops"}, nil), 403)
		if ss, err := annC.Services(ctx); err != nil || len(ss) != 1 || ss[0].Slug != "storage" {
			t.Errorf("services: %+v %v", ss, err)
		}
		var sv client.Service
		wantStatus(t, "GET service", call(t, annC, "GET", "/api/v1/services/storage", nil, &sv), 200)
		wantStatus(t, "PATCH service", call(t, admin, "PATCH", "/api/v1/services/storage", map[string]any{"description": "Disks", "mode": "redirect"}, &sv), 200)
		if sv.Description != "Disks" || sv.Mode != "redirect" || sv.Unit != "ops" {
			t.Errorf("patched service: %+v", sv)
		}
		wantStatus(t, "ann patches service", call(t, annC, "PATCH", "/api/v1/services/storage", map[string]any{"name": "x"}, nil), 403)

		// tickets: routing
		byService, err := annC.CreateTicket(ctx, client.NewTicket{Subject: "Disk full", Body: "help", Service: "storage", Priority: "urgent", Type: "service_request"})
		if err != nil {
			t.Fatal(err)
		}
		if byService.Status != "assigned" || deref(byService.Unit) != "ops" || deref(byService.Service) != "storage" ||
			byService.Priority != "urgent" || byService.Type != "service_request" || byService.Kind != "user" ||
			byService.Requester.ID != ann.ID || byService.Requester.Email != "ann@example.org" || byService.Assignee != nil ||
			byService.CreatedAt.IsZero() || byService.UpdatedAt.IsZero() {
			t.Errorf("ticket by service: %+v", byService)
		}
		byNothing, err := annC.CreateTicket(ctx, client.NewTicket{Subject: "Something", Body: "help"})
		if err != nil || byNothing.Status != "new" || deref(byNothing.Unit) != "triage" || byNothing.Service != nil ||
			byNothing.Priority != "less_urgent" || byNothing.Type != "incident" {
			t.Errorf("ticket without service: %+v %v", byNothing, err)
		}
		byUnit, err := annC.CreateTicket(ctx, client.NewTicket{Subject: "Direct", Body: "help", Unit: "ops"})
		if err != nil || byUnit.Status != "assigned" || deref(byUnit.Unit) != "ops" {
			t.Errorf("ticket by unit: %+v %v", byUnit, err)
		}
		r := in.Do(t, "POST", "/api/v1/tickets", tok.Token, "application/json", strings.NewReader(`{"subject":"loc","body":"b"}`))
		if r.Status != 201 || !strings.HasPrefix(r.Header.Get("Location"), "/api/v1/tickets/") {
			t.Errorf("create: %d Location %q", r.Status, r.Header.Get("Location"))
		}

		// PATCH: triage moves the ticket to ops: new -> assigned; assign
		tk, err := admin.UpdateTicket(ctx, byNothing.ID, client.TicketUpdate{Unit: client.S("ops")})
		if err != nil || tk.Status != "assigned" || deref(tk.Unit) != "ops" {
			t.Errorf("set unit: %+v %v", tk, err)
		}
		tk, err = staffC.UpdateTicket(ctx, byService.ID, client.TicketUpdate{Assignee: &staff.ID, Status: client.S("in_progress")})
		if err != nil || tk.Assignee == nil || tk.Assignee.ID != staff.ID || tk.Status != "in_progress" {
			t.Errorf("assign: %+v %v", tk, err)
		}
		if _, err := staffC.UpdateTicket(ctx, byService.ID, client.TicketUpdate{Assignee: &ann.ID}); client.StatusOf(err) != 400 {
			t.Errorf("assign to a non-member: %v, want 400", err)
		}
		if _, err := staffC.UpdateTicket(ctx, byService.ID, client.TicketUpdate{Status: client.S("new")}); client.StatusOf(err) != 400 {
			t.Errorf("in_progress -> new: %v, want 400", err)
		}

		// list filters and pagination
		list := func(o client.ListOptions) []int64 {
			t.Helper()
			p, err := admin.Tickets(ctx, o)
			if err != nil {
				t.Fatalf("list %+v: %v", o, err)
			}
			var ids []int64
			for _, x := range p.Items {
				ids = append(ids, x.ID)
			}
			return ids
		}
		if ids := list(client.ListOptions{Status: "in_progress"}); !slices.Equal(ids, []int64{byService.ID}) {
			t.Errorf("status filter: %v", ids)
		}
		if ids := list(client.ListOptions{Service: "storage"}); !slices.Equal(ids, []int64{byService.ID}) {
			t.Errorf("service filter: %v", ids)
		}
		if ids := list(client.ListOptions{Unit: "ops"}); len(ids) != 3 {
			t.Errorf("unit filter: %v", ids)
		}
		if ids := list(client.ListOptions{Assignee: strconv.FormatInt(staff.ID, 10)}); !slices.Equal(ids, []int64{byService.ID}) {
			t.Errorf("assignee filter: %v", ids)
		}
		if ids := list(client.ListOptions{Assignee: "staff@example.org"}); !slices.Equal(ids, []int64{byService.ID}) {
			t.Errorf("assignee by email: %v", ids)
		}
		if ids := list(client.ListOptions{Requester: "ann@example.org", Assignee: "none"}); len(ids) != 3 || slices.Contains(ids, byService.ID) {
			t.Errorf("requester + unassigned: %v", ids)
		}
		if ids := list(client.ListOptions{Requester: "me"}); len(ids) != 0 {
			t.Errorf("admin's own tickets: %v", ids)
		}
		if ids := list(client.ListOptions{Q: "disk"}); !slices.Equal(ids, []int64{byService.ID}) {
			t.Errorf("search: %v", ids)
		}
		p1, err := admin.Tickets(ctx, client.ListOptions{Limit: 3})
		if err != nil || len(p1.Items) != 3 || p1.NextCursor == "" {
			t.Fatalf("page 1: %+v %v", p1, err)
		}
		p2, err := admin.Tickets(ctx, client.ListOptions{Limit: 3, Cursor: p1.NextCursor})
		if err != nil || len(p2.Items) != 1 || p2.Items[0].ID != byService.ID {
			t.Errorf("page 2: %+v %v", p2, err)
		}

		// messages, history
		msg, err := staffC.Reply(ctx, byService.ID, "Have you tried turning it off and on again?")
		if err != nil || msg.ID == 0 || msg.Author.ID != staff.ID || msg.Internal || msg.Source != "api" || msg.TicketID != byService.ID {
			t.Errorf("reply: %+v %v", msg, err)
		}
		ms, err := annC.Messages(ctx, byService.ID)
		if err != nil || len(ms) != 2 || ms[0].Body != "help" || ms[1].ID != msg.ID {
			t.Errorf("messages: %+v %v", ms, err)
		}
		hs, err := annC.History(ctx, byService.ID)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, h := range hs {
			actions = append(actions, h.Action+":"+h.Field)
			if h.At.IsZero() || h.Actor == "" || h.Source != "api" {
				t.Errorf("history entry: %+v", h)
			}
		}
		if want := []string{"created:", "changed:status", "changed:assignee", "replied:"}; !slices.Equal(actions, want) {
			t.Errorf("history: %v, want %v", actions, want)
		}

		// watchers
		if err := annC.AddWatcher(ctx, byService.ID, "Colleague@Example.org"); err != nil {
			t.Errorf("add watcher: %v", err)
		}
		if tk, _ := annC.Ticket(ctx, byService.ID); !slices.Equal(tk.Watchers, []string{"colleague@example.org"}) {
			t.Errorf("watchers: %v", tk.Watchers)
		}
		wantStatus(t, "remove watcher", call(t, annC, "DELETE", fmt.Sprintf("/api/v1/tickets/%d/watchers/%s", byService.ID, url.PathEscape("colleague@example.org")), nil, nil), 200)
		wantStatus(t, "remove watcher again", call(t, annC, "DELETE", fmt.Sprintf("/api/v1/tickets/%d/watchers/colleague@example.org", byService.ID), nil, nil), 404)

		// relations
		rel, err := staffC.Relate(ctx, byService.ID, byUnit.ID, "related")
		if err != nil || rel.ID == 0 || rel.Other != byUnit.ID || rel.Kind != "related" {
			t.Errorf("relate: %+v %v", rel, err)
		}
		if _, err := staffC.Relate(ctx, byService.ID, byUnit.ID, "related"); client.StatusOf(err) != 409 {
			t.Errorf("relate twice: %v, want 409", err)
		}
		if _, err := annC.Relate(ctx, byService.ID, byUnit.ID, "duplicate_of"); client.StatusOf(err) != 403 {
			t.Errorf("requester relates: %v, want 403", err)
		}
		var rels struct{ Items []client.Relation }
		wantStatus(t, "list relations", call(t, annC, "GET", fmt.Sprintf("/api/v1/tickets/%d/relations", byService.ID), nil, &rels), 200)
		if len(rels.Items) != 1 || rels.Items[0].Other != byUnit.ID {
			t.Errorf("relations: %+v", rels.Items)
		}

		// attachments: safe content type and disposition
		am, err := annC.AddMessage(ctx, byService.ID, "see attached", false, []client.File{
			{Name: "../../etc/évil\".html", ContentType: "text/html", Content: strings.NewReader("<script>alert(1)</script>")},
			{Name: "log.txt", ContentType: "text/plain", Content: strings.NewReader("line 1\n")},
		})
		if err != nil || len(am.Attachments) != 2 {
			t.Fatalf("attach: %+v %v", am, err)
		}
		if a := am.Attachments[0]; a.Filename != "évil\".html" || a.Size != 25 || a.URL != fmt.Sprintf("/api/v1/attachments/%d", a.ID) {
			t.Errorf("attachment: %+v", a)
		}
		r = in.Do(t, "GET", am.Attachments[0].URL, tok.Token, "", nil)
		if r.Status != 200 || r.Header.Get("Content-Type") != "application/octet-stream" ||
			!strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment;") ||
			r.Header.Get("X-Content-Type-Options") != "nosniff" || string(r.Body) != "<script>alert(1)</script>" {
			t.Errorf("download html: %d %v %q", r.Status, r.Header, r.Body)
		}
		r = in.Do(t, "GET", am.Attachments[1].URL, tok.Token, "", nil)
		if r.Status != 200 || r.Header.Get("Content-Type") != "text/plain; charset=utf-8" || string(r.Body) != "line 1\n" {
			t.Errorf("download text: %d %v %q", r.Status, r.Header, r.Body)
		}

		// outbox (admin only)
		wantStatus(t, "outbox", call(t, admin, "GET", "/api/v1/outbox", nil, nil), 200)
		wantStatus(t, "quarantine", call(t, admin, "GET", "/api/v1/outbox/quarantine", nil, nil), 200)
		wantStatus(t, "outbox as user", call(t, annC, "GET", "/api/v1/outbox", nil, nil), 403)
		wantStatus(t, "quarantine as user", call(t, annC, "GET", "/api/v1/outbox/quarantine", nil, nil), 403)

		// the short-lived token has expired by now
		time.Sleep(time.Until(soon) + 50*time.Millisecond)
		wantStatus(t, "expired token", call(t, in.Client(short.Token), "GET", "/api/v1/me", nil, nil), 401)
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestWorkflowEndToEnd: the GGUS rules through the API.
func TestWorkflowEndToEnd(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		ctx := context.Background()
		in.NewUnit(t, "ops", false)
		req, reqC := in.NewUser(t, "req@example.org", "user")
		staff, staffC := in.NewUser(t, "staff@example.org", "user")
		in.AddMember(t, "ops", staff.ID, "member")
		_ = req
		tk, err := reqC.CreateTicket(ctx, client.NewTicket{Subject: "s", Body: "b", Unit: "ops"})
		if err != nil {
			t.Fatal(err)
		}
		step := func(cl *client.Client, status string, want int) {
			t.Helper()
			_, err := cl.UpdateTicket(ctx, tk.ID, client.TicketUpdate{Status: client.S(status)})
			if got := expect(err == nil, 200, client.StatusOf(err)); got != want {
				t.Errorf("-> %s: %v, want %d", status, err, want)
			}
		}
		step(staffC, "waiting_for_reply", 200)
		if _, err := staffC.Reply(ctx, tk.ID, "staff answer"); err != nil {
			t.Fatal(err)
		}
		if got, _ := reqC.Ticket(ctx, tk.ID); got.Status != "waiting_for_reply" {
			t.Errorf("staff reply changed status to %s", got.Status)
		}
		if _, err := reqC.Reply(ctx, tk.ID, "requester answer"); err != nil {
			t.Fatal(err)
		}
		if got, _ := reqC.Ticket(ctx, tk.ID); got.Status != "in_progress" {
			t.Errorf("requester reply: status %s, want in_progress", got.Status)
		}
		step(reqC, "solved", 403)
		step(staffC, "solved", 200)
		if got, _ := reqC.Ticket(ctx, tk.ID); got.SolvedAt == nil {
			t.Errorf("solved_at not set")
		}
		step(staffC, "verified", 403)
		step(reqC, "reopened", 200)
		step(staffC, "solved", 200)
		step(reqC, "verified", 200)
		step(staffC, "reopened", 409)
		step(reqC, "reopened", 409)
		if _, err := reqC.Reply(ctx, tk.ID, "late"); client.StatusOf(err) != 409 {
			t.Errorf("reply to verified: %v, want 409", err)
		}
		if _, err := staffC.UpdateTicket(ctx, tk.ID, client.TicketUpdate{Priority: client.S("urgent")}); client.StatusOf(err) != 409 {
			t.Errorf("change verified: %v, want 409", err)
		}
		if err := reqC.AddWatcher(ctx, tk.ID, "x@example.org"); client.StatusOf(err) != 409 {
			t.Errorf("watch verified: %v, want 409", err)
		}
	})
}
