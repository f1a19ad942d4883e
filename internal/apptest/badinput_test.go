package apptest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
)

// maxBody is the body limit of the bad-input instance.
const maxBody = 8 << 10

// TestBadInput sends malformed, mistyped, out-of-range and oversized input
// to every endpoint that takes input: each answer is the expected 4xx with
// the error envelope, never a 500.
func TestBadInput(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e, func(c *config.Config) {
			c.MaxBodyBytes = maxBody
			c.MaxUploadBytes = 2 << 10
			c.MailFrom = "desk@example.org"
		})
		ctx := context.Background()
		in.NewUnit(t, "ops", false)
		if _, err := in.Admin.CreateUnit(ctx, client.Unit{Slug: "mailers", Name: "Mailers", Email: "mailers@example.org", CommentEmail: "mailers-comment@example.org"}); err != nil {
			t.Fatal(err)
		}
		in.NewService(t, "svc", "ops")
		if _, err := in.Admin.CreateUnit(ctx, client.Unit{Slug: "relay", Name: "Relay", Email: "relay@example.net", CommentEmail: "relay-comment@example.net"}); err != nil {
			t.Fatal(err)
		}
		u, uc := in.NewUser(t, "user@example.org", "user")
		tk, err := uc.CreateTicket(ctx, client.NewTicket{Subject: "s", Body: "b"})
		if err != nil {
			t.Fatal(err)
		}
		tok := in.AdminToken
		ticket := fmt.Sprintf("/api/v1/tickets/%d", tk.ID)
		userPath := fmt.Sprintf("/api/v1/users/%d", u.ID)
		long := func(n int) string { return strings.Repeat("é", n) }
		js := func(v any) string {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		big := js(map[string]string{"subject": "s", "body": strings.Repeat("x", maxBody)})

		// Generic cases for every JSON endpoint.
		jsonEndpoints := []struct{ method, path string }{
			{"POST", "/api/v1/users"},
			{"POST", userPath + "/tokens"},
			{"POST", "/api/v1/units"},
			{"PATCH", "/api/v1/units/ops"},
			{"POST", "/api/v1/units/ops/members"},
			{"POST", "/api/v1/services"},
			{"PATCH", "/api/v1/services/svc"},
			{"POST", "/api/v1/tickets"},
			{"PATCH", ticket},
			{"POST", ticket + "/messages"},
			{"POST", ticket + "/watchers"},
			{"POST", ticket + "/relations"},
		}
		type tc struct {
			name, method, path, ct, body string
			want                         int
		}
		var cases []tc
		for _, ep := range jsonEndpoints {
			for _, g := range []struct {
				name, ct, body string
				want           int
			}{
				{"malformed", "application/json", `{"subject": `, 400},
				{"garbage", "application/json", `not json`, 400},
				{"array", "application/json", `[1, 2]`, 400},
				{"string", "application/json", `"x"`, 400},
				{"null", "application/json", `null`, 400},
				{"unknown field", "application/json", `{"bogus_field": 1}`, 400},
				{"two objects", "application/json", `{} {}`, 400},
				{"wrong content type", "text/plain", `{}`, 415},
				{"too large", "application/json", big, 413},
			} {
				cases = append(cases, tc{ep.method + " " + ep.path + " " + g.name, ep.method, ep.path, g.ct, g.body, g.want})
			}
			if ep.path != userPath+"/tokens" { // an empty body asks for a default token
				cases = append(cases, tc{ep.method + " " + ep.path + " empty", ep.method, ep.path, "application/json", "", 400})
			}
		}
		add := func(name, method, path, body string, want int) {
			cases = append(cases, tc{name, method, path, "application/json", body, want})
		}
		// users
		add("user: email missing", "POST", "/api/v1/users", `{"name":"x"}`, 400)
		add("user: certificate subject not a DN", "POST", "/api/v1/users", `{"email":"dn@example.org","name":"x","certificate_dns":["Jane Doe"]}`, 400)
		add("user: certificate subject unterminated quote", "POST", "/api/v1/users", `{"email":"dn@example.org","name":"x","certificate_dns":["CN=\"Jane"]}`, 400)
		add("user: email invalid", "POST", "/api/v1/users", `{"email":"not an address","name":"x"}`, 400)
		add("user: email with display name", "POST", "/api/v1/users", `{"email":"X <x@example.org>","name":"x"}`, 400)
		add("user: email too long", "POST", "/api/v1/users", js(map[string]string{"email": strings.Repeat("a", 250) + "@example.org", "name": "x"}), 400)
		add("user: name empty", "POST", "/api/v1/users", `{"email":"x@example.org","name":"  "}`, 400)
		add("user: name too long", "POST", "/api/v1/users", js(map[string]string{"email": "x@example.org", "name": long(201)}), 400)
		add("user: name NUL", "POST", "/api/v1/users", `{"email":"x@example.org","name":"a\u0000b"}`, 400)
		add("user: name newline", "POST", "/api/v1/users", `{"email":"x@example.org","name":"a\nb"}`, 400)
		add("user: name tab", "POST", "/api/v1/users", `{"email":"x@example.org","name":"a\tb"}`, 400)
		add("user: name C1 control", "POST", "/api/v1/users", `{"email":"x@example.org","name":"a\u0085b"}`, 400)
		add("user: role", "POST", "/api/v1/users", `{"email":"x@example.org","name":"x","role":"root"}`, 400)
		add("user: role type", "POST", "/api/v1/users", `{"email":"x@example.org","name":"x","role":1}`, 400)
		add("user: short password", "POST", "/api/v1/users", `{"email":"x@example.org","name":"x","password":"short"}`, 400)
		add("user: team NUL", "POST", "/api/v1/users", `{"email":"x@example.org","name":"x","team":"a\u0000"}`, 400)
		add("user: certificate dn empty", "POST", "/api/v1/users", `{"email":"x@example.org","name":"x","certificate_dns":[""]}`, 400)
		add("user: certificate_dns type", "POST", "/api/v1/users", `{"email":"x@example.org","name":"x","certificate_dns":"CN=x"}`, 400)
		// tokens
		add("token: scope", "POST", userPath+"/tokens", `{"scope":"all"}`, 400)
		add("token: expires type", "POST", userPath+"/tokens", `{"expires_at":"tomorrow"}`, 400)
		add("token: expired", "POST", userPath+"/tokens", js(map[string]any{"expires_at": time.Now().Add(-time.Minute)}), 400)
		add("token: name too long", "POST", userPath+"/tokens", js(map[string]string{"name": strings.Repeat("n", 201)}), 400)
		add("token: name NUL", "POST", userPath+"/tokens", `{"name":"a\u0000b"}`, 400)
		add("token: no such user", "POST", "/api/v1/users/999999/tokens", `{}`, 404)
		// units
		add("unit: slug missing", "POST", "/api/v1/units", `{"name":"x"}`, 400)
		add("unit: slug upper", "POST", "/api/v1/units", `{"slug":"Ops2","name":"x"}`, 400)
		add("unit: slug SQL", "POST", "/api/v1/units", `{"slug":"x'; drop table units;--","name":"x"}`, 400)
		add("unit: slug too long", "POST", "/api/v1/units", js(map[string]string{"slug": strings.Repeat("a", 65), "name": "x"}), 400)
		add("unit: name missing", "POST", "/api/v1/units", `{"slug":"u2"}`, 400)
		add("unit: name too long", "POST", "/api/v1/units", js(map[string]string{"slug": "u2", "name": long(201)}), 400)
		add("unit: email", "POST", "/api/v1/units", `{"slug":"u2","name":"x","email":"nope"}`, 400)
		add("unit: same addresses", "POST", "/api/v1/units", `{"slug":"u2","name":"x","email":"a@example.org","comment_email":"a@example.org"}`, 400)
		add("unit: qos", "POST", "/api/v1/units", `{"slug":"u2","name":"x","qos_level":"platinum"}`, 400)
		add("unit: mode", "POST", "/api/v1/units", `{"slug":"u2","name":"x","mode":"fax"}`, 400)
		add("unit: handler type", "POST", "/api/v1/units", `{"slug":"u2","name":"x","handler":"yes"}`, 400)
		add("unit: duplicate", "POST", "/api/v1/units", `{"slug":"ops","name":"x"}`, 409)
		add("unit patch: mode", "PATCH", "/api/v1/units/ops", `{"mode":"fax"}`, 400)
		add("unit: name CR LF", "POST", "/api/v1/units", `{"slug":"u2","name":"Storage\r\nBcc: x@evil.example"}`, 400)
		add("unit: name control", "POST", "/api/v1/units", `{"slug":"u2","name":"Storage\u0007\u001b[31m"}`, 400)
		add("unit patch: name newline", "PATCH", "/api/v1/units/ops", `{"name":"a\nb"}`, 400)
		add("unit: another unit's address", "POST", "/api/v1/units", `{"slug":"u2","name":"x","email":"MAILERS-comment@example.org"}`, 409)
		add("unit patch: another unit's address", "PATCH", "/api/v1/units/ops", `{"comment_email":"mailers@example.org"}`, 409)
		add("unit patch: the helpdesk's address", "PATCH", "/api/v1/units/ops", `{"email":"Desk@example.org"}`, 400)
		add("unit patch: name empty", "PATCH", "/api/v1/units/ops", `{"name":""}`, 400)
		add("unit patch: no unit", "PATCH", "/api/v1/units/nope", `{"name":"x"}`, 404)
		add("unit patch: bad slug", "PATCH", "/api/v1/units/NOPE", `{"name":"x"}`, 400)
		// members
		add("member: user_id missing", "POST", "/api/v1/units/ops/members", `{"role":"member"}`, 400)
		add("member: user_id string", "POST", "/api/v1/units/ops/members", `{"user_id":"1"}`, 400)
		add("member: no such user", "POST", "/api/v1/units/ops/members", `{"user_id":999999}`, 400)
		add("member: role", "POST", "/api/v1/units/ops/members", js(map[string]any{"user_id": u.ID, "role": "owner"}), 400)
		add("member: no unit", "POST", "/api/v1/units/nope/members", js(map[string]any{"user_id": u.ID}), 404)
		// services
		add("service: unit missing", "POST", "/api/v1/services", `{"slug":"s2","name":"x"}`, 400)
		add("service: no such unit", "POST", "/api/v1/services", `{"slug":"s2","name":"x","unit":"nope"}`, 400)
		add("service: bad slug", "POST", "/api/v1/services", `{"slug":"s 2","name":"x","unit":"ops"}`, 400)
		add("service: mode", "POST", "/api/v1/services", `{"slug":"s2","name":"x","unit":"ops","mode":"fax"}`, 400)
		add("service: description too long", "POST", "/api/v1/services", js(map[string]string{"slug": "s2", "name": "x", "unit": "ops", "description": strings.Repeat("d", 5001)}), 400)
		add("service: name CR", "POST", "/api/v1/services", `{"slug":"s2","name":"a\rb","unit":"ops"}`, 400)
		add("service patch: name LF", "PATCH", "/api/v1/services/svc", `{"name":"a\nb"}`, 400)
		add("service: duplicate", "POST", "/api/v1/services", `{"slug":"svc","name":"x","unit":"ops"}`, 409)
		add("service patch: unit", "PATCH", "/api/v1/services/svc", `{"unit":"nope"}`, 400)
		add("service patch: no service", "PATCH", "/api/v1/services/nope", `{"name":"x"}`, 404)
		// tickets
		add("ticket: subject missing", "POST", "/api/v1/tickets", `{"body":"b"}`, 400)
		add("ticket: subject blank", "POST", "/api/v1/tickets", `{"subject":"   ","body":"b"}`, 400)
		add("ticket: subject too long", "POST", "/api/v1/tickets", js(map[string]string{"subject": long(251), "body": "b"}), 400)
		add("ticket: subject newline", "POST", "/api/v1/tickets", `{"subject":"a\r\nBcc: x","body":"b"}`, 400)
		add("ticket: subject NUL", "POST", "/api/v1/tickets", `{"subject":"a\u0000","body":"b"}`, 400)
		add("ticket: body missing", "POST", "/api/v1/tickets", `{"subject":"s"}`, 400)
		add("ticket: body NUL", "POST", "/api/v1/tickets", `{"subject":"s","body":"a\u0000b"}`, 400)
		add("ticket: subject number", "POST", "/api/v1/tickets", `{"subject":5,"body":"b"}`, 400)
		add("ticket: body object", "POST", "/api/v1/tickets", `{"subject":"s","body":{}}`, 400)
		add("ticket: priority", "POST", "/api/v1/tickets", `{"subject":"s","body":"b","priority":"critical"}`, 400)
		add("ticket: type", "POST", "/api/v1/tickets", `{"subject":"s","body":"b","type":"question"}`, 400)
		add("ticket: kind", "POST", "/api/v1/tickets", `{"subject":"s","body":"b","kind":"vip"}`, 400)
		add("ticket: service", "POST", "/api/v1/tickets", `{"subject":"s","body":"b","service":"nope"}`, 400)
		add("ticket: service slug", "POST", "/api/v1/tickets", `{"subject":"s","body":"b","service":"No Pe"}`, 400)
		add("ticket: unit", "POST", "/api/v1/tickets", `{"subject":"s","body":"b","unit":"nope"}`, 400)
		add("ticket: watcher", "POST", "/api/v1/tickets", `{"subject":"s","body":"b","watchers":["not an address"]}`, 400)
		add("ticket: watchers type", "POST", "/api/v1/tickets", `{"subject":"s","body":"b","watchers":"a@example.org"}`, 400)
		add("patch: status", "PATCH", ticket, `{"status":"done"}`, 400)
		add("patch: status type", "PATCH", ticket, `{"status":1}`, 400)
		add("patch: transition", "PATCH", ticket, `{"status":"verified"}`, 400)
		add("patch: priority", "PATCH", ticket, `{"priority":"meh"}`, 400)
		add("patch: type", "PATCH", ticket, `{"type":"meh"}`, 400)
		add("patch: unit", "PATCH", ticket, `{"unit":"nope"}`, 400)
		add("patch: service", "PATCH", ticket, `{"service":"nope"}`, 400)
		add("patch: assignee string", "PATCH", ticket, `{"assignee":"bob"}`, 400)
		add("patch: assignee negative", "PATCH", ticket, `{"assignee":-1}`, 400)
		add("patch: assignee nobody", "PATCH", ticket, `{"assignee":999999}`, 400)
		add("patch: assignee not staff", "PATCH", ticket, js(map[string]any{"assignee": u.ID}), 400)
		add("patch: unknown", "PATCH", ticket, `{"subject":"x"}`, 400)
		add("patch: no ticket", "PATCH", "/api/v1/tickets/999999", `{"priority":"urgent"}`, 404)
		add("message: body empty", "POST", ticket+"/messages", `{"body":""}`, 400)
		add("message: internal type", "POST", ticket+"/messages", `{"body":"b","internal":"yes"}`, 400)
		add("message: body NUL", "POST", ticket+"/messages", `{"body":"\u0000"}`, 400)
		add("message: no ticket", "POST", "/api/v1/tickets/999999/messages", `{"body":"b"}`, 404)
		add("watcher: bad", "POST", ticket+"/watchers", `{"email":"nope"}`, 400)
		add("watcher: missing", "POST", ticket+"/watchers", `{}`, 400)
		// Our own addresses never watch a ticket: it would mail itself.
		desk := in.App.Config.MailFrom // the helpdesk's own address
		if desk == "" {
			desk = "helpdesk@" + in.App.Config.Domain()
		}
		for _, own := range []string{"relay@example.net", "Relay-Comment@example.net", "relay+t1-x@example.net", desk} {
			add("watcher: own address "+own, "POST", ticket+"/watchers", js(map[string]string{"email": own}), 400)
			add("ticket: own address watcher "+own, "POST", "/api/v1/tickets", js(map[string]any{"subject": "s", "body": "b", "watchers": []string{own}}), 400)
		}
		many := make([]string, 51)
		for i := range many {
			many[i] = fmt.Sprintf("w%d@example.org", i)
		}
		add("ticket: 51 watchers", "POST", "/api/v1/tickets", js(map[string]any{"subject": "s", "body": "b", "watchers": many}), 400)
		add("relation: kind", "POST", ticket+"/relations", js(map[string]any{"kind": "cousin_of", "other": tk.ID + 1}), 400)
		add("relation: self", "POST", ticket+"/relations", js(map[string]any{"kind": "related", "other": tk.ID}), 400)
		add("relation: no other", "POST", ticket+"/relations", `{"kind":"related","other":999999}`, 400)
		add("relation: other missing", "POST", ticket+"/relations", `{"kind":"related"}`, 400)
		add("relation: other string", "POST", ticket+"/relations", `{"kind":"related","other":"2"}`, 400)

		// Paths, ids and query strings.
		get := func(name, method, path string, want int) { cases = append(cases, tc{name, method, path, "", "", want}) }
		for _, p := range []string{"abc", "0", "-1", "1.5", "99999999999999999999", "%20"} {
			get("ticket id "+p, "GET", "/api/v1/tickets/"+p, 400)
			get("messages id "+p, "GET", "/api/v1/tickets/"+p+"/messages", 400)
			get("history id "+p, "GET", "/api/v1/tickets/"+p+"/history", 400)
			get("relations id "+p, "GET", "/api/v1/tickets/"+p+"/relations", 400)
			get("user id "+p, "GET", "/api/v1/users/"+p, 400)
			get("attachment id "+p, "GET", "/api/v1/attachments/"+p, 400)
			get("revoke token id "+p, "DELETE", userPath+"/tokens/"+p, 400)
			get("remove member id "+p, "DELETE", "/api/v1/units/ops/members/"+p, 400)
		}
		get("no ticket", "GET", "/api/v1/tickets/999999", 404)
		get("no attachment", "GET", "/api/v1/attachments/999999", 404)
		get("no user", "GET", "/api/v1/users/999999", 404)
		get("no service", "GET", "/api/v1/services/nope", 404)
		get("bad service slug", "GET", "/api/v1/services/NO_PE", 400)
		get("remove watcher bad email", "DELETE", ticket+"/watchers/nope", 400)
		get("remove watcher not watching", "DELETE", ticket+"/watchers/a@example.org", 404)
		get("no endpoint", "GET", "/api/v1/nope", 404)
		get("wrong method", "PUT", ticket, 405)
		get("wrong method on list", "DELETE", "/api/v1/tickets", 405)
		for _, q := range []string{"bogus=1", "limit=0", "limit=201", "limit=abc", "cursor=abc", "cursor=dDA", "cursor=%00",
			"status=done", "status=new,,", "unit=NOPE", "unit=nope", "service=nope", "service=A%20B", "requester=abc", "requester=-3",
			"assignee=x", "q=" + strings.Repeat("a", 1001)} {
			get("list "+q, "GET", "/api/v1/tickets?"+q, 400)
		}
		for _, q := range []string{"limit=0", "limit=1001", "cursor=zz"} {
			get("users "+q, "GET", "/api/v1/users?"+q, 400)
		}
		for _, q := range []string{"q=%27%3B%20DROP%20TABLE%20tickets%3B--", "q=%22%20OR%20*", "q=NEAR(a%20b)", "q=a%00b", "q=%F0%9F%98%80",
			"requester=nobody@example.org", "assignee=none", "status=new,assigned"} {
			get("list ok "+q, "GET", "/api/v1/tickets?"+q, 200)
		}

		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var body io.Reader
				if c.body != "" {
					body = strings.NewReader(c.body)
				}
				r := in.Do(t, c.method, c.path, tok, c.ct, body)
				checkError(t, r, c.want)
			})
		}

		// A body over the limit without a Content-Length (chunked).
		t.Run("chunked too large", func(t *testing.T) {
			r := in.Do(t, "POST", "/api/v1/tickets", tok, "application/json", io.MultiReader(strings.NewReader(big)))
			checkError(t, r, 413)
		})
		// Multipart messages.
		multipartBody := func(fields map[string]string, file string, size int) (string, io.Reader) {
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			for k, v := range fields {
				_ = mw.WriteField(k, v)
			}
			if file != "" {
				w, _ := mw.CreateFormFile("file", file)
				_, _ = w.Write(bytes.Repeat([]byte("x"), size))
			}
			_ = mw.Close()
			return mw.FormDataContentType(), &b
		}
		for _, m := range []struct {
			name   string
			fields map[string]string
			file   string
			size   int
			want   int
		}{
			{"no body", map[string]string{}, "", 0, 400},
			{"internal bogus", map[string]string{"body": "b", "internal": "perhaps"}, "", 0, 400},
			{"unknown field", map[string]string{"body": "b", "subject": "x"}, "", 0, 400},
			{"file over upload limit", map[string]string{"body": "b"}, "a.bin", 3 << 10, 413},
			{"body over request limit", map[string]string{"body": strings.Repeat("b", maxBody)}, "", 0, 413},
		} {
			t.Run("multipart "+m.name, func(t *testing.T) {
				ct, body := multipartBody(m.fields, m.file, m.size)
				checkError(t, in.Do(t, "POST", ticket+"/messages", tok, ct, body), m.want)
			})
		}
		t.Run("multipart broken", func(t *testing.T) {
			r := in.Do(t, "POST", ticket+"/messages", tok, "multipart/form-data; boundary=xyz", strings.NewReader("--xyz\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nhello"))
			checkError(t, r, 400)
		})
		t.Run("multipart on a ticket one cannot see", func(t *testing.T) {
			other, _ := in.NewUser(t, "other@example.org", "user")
			otk, err := in.Admin.CreateToken(ctx, other.ID, client.NewToken{})
			if err != nil {
				t.Fatal(err)
			}
			ct, body := multipartBody(map[string]string{"body": "b"}, "a.txt", 10)
			checkError(t, in.Do(t, "POST", ticket+"/messages", otk.Token, ct, body), 404)
		})

		// A refused upload stores nothing: files before an unknown field,
		// or one file too many.
		t.Run("multipart refused leaves no blobs", func(t *testing.T) {
			before := blobFiles(t, in)
			files := func(n int, extra string) (string, io.Reader) {
				var b bytes.Buffer
				mw := multipart.NewWriter(&b)
				_ = mw.WriteField("body", "b")
				for i := range n {
					w, _ := mw.CreateFormFile("file", fmt.Sprintf("f%d.txt", i))
					fmt.Fprintf(w, "orphan %d %s", i, t.Name())
				}
				if extra != "" {
					_ = mw.WriteField(extra, "x")
				}
				_ = mw.Close()
				return mw.FormDataContentType(), &b
			}
			ct, body := files(3, "subject")
			checkError(t, in.Do(t, "POST", ticket+"/messages", tok, ct, body), 400)
			ct, body = files(21, "")
			checkError(t, in.Do(t, "POST", ticket+"/messages", tok, ct, body), 400)
			if after := blobFiles(t, in); after != before {
				t.Errorf("refused uploads left %d blob files", after-before)
			}
		})

		// The watcher cap counts the ticket's total, however they came.
		t.Run("watchers past the cap", func(t *testing.T) {
			capped, err := uc.CreateTicket(ctx, client.NewTicket{Subject: "s", Body: "b", Watchers: many[:50]})
			if err != nil {
				t.Fatal(err)
			}
			path := fmt.Sprintf("/api/v1/tickets/%d/watchers", capped.ID)
			checkError(t, in.Do(t, "POST", path, tok, "application/json", strings.NewReader(`{"email":"one-more@example.org"}`)), 400)
		})

		// Credentials.
		revoked, err := in.Admin.CreateToken(ctx, u.ID, client.NewToken{})
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Admin.RevokeToken(ctx, u.ID, revoked.ID); err != nil {
			t.Fatal(err)
		}
		for _, a := range []struct{ name, header string }{
			{"none", ""},
			{"empty bearer", "Bearer "},
			{"basic", "Basic YWRtaW46YWRtaW4="},
			{"no scheme", tok},
			{"unknown token", "Bearer hm_" + strings.Repeat("A", 43)},
			{"revoked token", "Bearer " + revoked.Token},
			{"huge token", "Bearer " + strings.Repeat("x", 600)},
			{"token with SQL", "Bearer ' OR 1=1 --"},
		} {
			for _, p := range []string{"/api/v1/me", "/api/v1/tickets", ticket, "/api/v1/units"} {
				t.Run("auth "+a.name+" "+p, func(t *testing.T) {
					req := rawRequest(t, in, "GET", p, a.header)
					checkError(t, req, 401)
					if req.Header.Get("WWW-Authenticate") == "" {
						t.Errorf("401 without WWW-Authenticate")
					}
				})
			}
		}
	})
}

func newRequest(method, url, authz string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, nil)
	if err == nil && authz != "" {
		req.Header.Set("Authorization", authz)
	}
	return req, err
}

// rawRequest sends a GET with an exact Authorization header (or none).
func rawRequest(t *testing.T, in *apptest.Instance, method, path, authz string) apptest.Response {
	t.Helper()
	req, err := newRequest(method, in.URL+path, authz)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := in.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apptest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// checkError checks the status and the error envelope of r.
func checkError(t *testing.T, r apptest.Response, want int) {
	t.Helper()
	if r.Status != want {
		t.Errorf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	if r.Status >= 500 {
		t.Errorf("a 5xx for bad input: %s", r.Body)
	}
	if want < 400 {
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	var env struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &env); err != nil || env.Error == nil || env.Error.Code == "" || env.Error.Message == "" {
		t.Errorf("no error envelope: %v %s", err, r.Body)
	}
	if bytes.Contains(r.Body, []byte("goroutine")) || bytes.Contains(r.Body, []byte(".go:")) {
		t.Errorf("stack trace in answer: %s", r.Body)
	}
}

// blobFiles counts the files under the instance's blob directory, the
// temporary ones included.
func blobFiles(t *testing.T, in *apptest.Instance) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(in.App.Config.DataDir, "blobs"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
