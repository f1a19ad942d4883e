package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/blob"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// fuzzAPI is the real API on a fresh SQLite database, with an
// administrator's token and one ticket.
type fuzzAPI struct {
	api    *API
	token  string
	ticket int64
}

func newFuzzAPI(tb testing.TB) *fuzzAPI {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	d, err := db.Open(ctx, filepath.Join(dir, "helpmesh.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	blobs, err := blob.NewDir(filepath.Join(dir, "blobs"))
	if err != nil {
		tb.Fatal(err)
	}
	users, units, tickets := user.NewStore(d), unit.NewStore(d), ticket.NewStore(d, ticket.Options{})
	admin, err := users.Create(ctx, user.NewUser{Email: "admin@example.org", Name: "Admin", Role: auth.RoleAdmin})
	if err != nil {
		tb.Fatal(err)
	}
	_, token, err := users.CreateToken(ctx, admin.ID, "fuzz", "write", nil)
	if err != nil {
		tb.Fatal(err)
	}
	u, err := units.CreateUnit(ctx, unit.Unit{Slug: "ops", Name: "Operations"})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := units.CreateService(ctx, unit.Service{Slug: "svc", Name: "Service", UnitSlug: u.Slug}); err != nil {
		tb.Fatal(err)
	}
	p, err := users.Principal(ctx, admin.ID)
	if err != nil {
		tb.Fatal(err)
	}
	t, err := tickets.Create(ctx, p, ticket.NewTicket{Subject: "fuzz target", Body: "first message", UnitID: u.ID})
	if err != nil {
		tb.Fatal(err)
	}
	a := New(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), DB: d, Users: users, Units: units, Tickets: tickets,
		Blobs: blobs, MaxBody: 1 << 20, MaxUpload: 256 << 10})
	return &fuzzAPI{api: a, token: token, ticket: t.ID}
}

// send runs one request through the real handler and fails on a 5xx: bad
// input must always be a 4xx (a panic in a handler is answered 500 too).
func (f *fuzzAPI) send(t *testing.T, method, path, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	f.api.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s %s with %q (%s): %d %s", method, path, body, contentType, rec.Code, rec.Body.String())
	}
	if rec.Code >= 400 && !bytes.Contains(rec.Body.Bytes(), []byte(`"error":{"code":`)) {
		t.Fatalf("%s %s: %d without the error envelope: %s", method, path, rec.Code, rec.Body.String())
	}
	return rec
}

var jsonSeeds = []string{
	`{"subject":"printer","body":"on fire"}`,
	`{"subject":"x","body":"y","service":"svc","priority":"urgent","type":"service_request","kind":"team"}`,
	`{"subject":"x","body":"y","unit":"ops","watchers":["a@example.org"]}`,
	`{"subject":"x","body":"y","service":"svc","kind":"alarm"}`, `{"subject":"x","body":"y","kind":"alarm"}`,
	`{"subject":"x","body":"y","watchers":["helpdesk@localhost","a+t1-x@example.org"]}`,
	`{"status":"in_progress","priority":"top_priority","assignee":null}`,
	`{"status":"solved"}`, `{"assignee":1}`, `{"assignee":-1}`, `{"unit":"OPS"}`, `{"service":"nope"}`,
	`{"body":"hello","internal":true}`, `{"body":"<script>alert(1)</script>'; DROP TABLE tickets;--"}`,
	`{"subject":"` + "\u202e\u0000" + `","body":"x"}`, `{"subject":1}`, `[]`, `null`, `{}`, `{"a":1}`, `{"body":"x"}{"body":"y"}`,
	`{"subject":"\ud800","body":"x"}`, `{"status":{"$ne":1}}`, `{"watchers":[null]}`, `{"subject":"x","body":"` + string(bytes.Repeat([]byte("a"), 300)) + `"}`,
	"", "{", `{"subject":"x","body":"y"`, "\xff\xfe",
}

func FuzzCreateTicket(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`{"subject":"x","body":"y"}`), "")
	f.Add([]byte(`subject=x`), "application/x-www-form-urlencoded")
	fa := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		rec := fa.send(t, http.MethodPost, "/api/v1/tickets", contentType, body)
		if rec.Code != http.StatusCreated && rec.Code/100 != 4 {
			t.Fatalf("unexpected status %d", rec.Code)
		}
	})
}

func FuzzUpdateTicket(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s), "1")
	}
	f.Add([]byte(`{"status":"assigned"}`), "0")
	f.Add([]byte(`{"status":"assigned"}`), "99999999999999999999")
	f.Add([]byte(`{"status":"assigned"}`), "-1")
	fa := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte, id string) {
		path := "/api/v1/tickets/" + strconv.FormatInt(fa.ticket, 10)
		if id != "1" {
			path = "/api/v1/tickets/" + urlPathSegment(id)
		}
		fa.send(t, http.MethodPatch, path, "application/json", body)
	})
}

func FuzzAddMessageJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	fa := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fa.send(t, http.MethodPost, "/api/v1/tickets/"+strconv.FormatInt(fa.ticket, 10)+"/messages", "application/json", body)
	})
}

func FuzzAddMessageMultipart(f *testing.F) {
	const b = "XyZ"
	seeds := []string{
		"--XyZ\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nhello\r\n--XyZ--\r\n",
		"--XyZ\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nhi\r\n--XyZ\r\nContent-Disposition: form-data; name=\"internal\"\r\n\r\ntrue\r\n--XyZ\r\n" +
			"Content-Disposition: form-data; name=\"file\"; filename=\"../../etc/passwd\"\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n--XyZ--\r\n",
		"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\u202egnp.exe\"\r\n\r\nMZ\r\n--XyZ--\r\n",
		"--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--XyZ--\r\n",
		"--XyZ\r\nContent-Disposition: form-data; name=\"internal\"\r\n\r\nmaybe\r\n--XyZ--\r\n",
		"--XyZ\r\n\r\n\r\n--XyZ--", "--XyZ", "", "garbage",
	}
	for _, s := range seeds {
		f.Add([]byte(s), b)
	}
	f.Add([]byte(seeds[0]), "")
	f.Add([]byte(seeds[0]), `"quoted;boundary"`)
	fa := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		ct := "multipart/form-data; boundary=" + boundary
		fa.send(t, http.MethodPost, "/api/v1/tickets/"+strconv.FormatInt(fa.ticket, 10)+"/messages", ct, body)
	})
}

// urlPathSegment escapes s so that it stays one path segment.
func urlPathSegment(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' {
			b = append(b, c)
		} else {
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
		}
	}
	if len(b) == 0 {
		return "%20"
	}
	return string(b)
}
