package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
)

func TestContentDisposition(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a.txt", `attachment; filename="a.txt"; filename*=UTF-8''a.txt`},
		{`we"ird\name.txt`, `attachment; filename="we_ird_name.txt"; filename*=UTF-8''we%22ird%5Cname.txt`},
		{"résumé.pdf", `attachment; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`},
		{"a b;c.txt", `attachment; filename="a b;c.txt"; filename*=UTF-8''a%20b%3Bc.txt`},
	} {
		got := ContentDisposition(c.in)
		if got != c.want {
			t.Errorf("ContentDisposition(%q) = %s, want %s", c.in, got, c.want)
		}
		if strings.ContainsAny(got, "\r\n") {
			t.Errorf("header injection in %q", got)
		}
	}
}

func TestCursors(t *testing.T) {
	for _, id := range []int64{1, 42, 1 << 40, 9223372036854775807} {
		got, err := decodeCursor(encodeCursor(id))
		if err != nil || got != id {
			t.Errorf("round trip %d: %d %v", id, got, err)
		}
	}
	for _, bad := range []string{"", "x", "dA", "dDA", "dC0x", "!!!", "dGFiYw", encodeCursor(0)[:2] + "==", "dDk5OTk5OTk5OTk5OTk5OTk5OTk5OTk"} {
		if _, err := decodeCursor(bad); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("decodeCursor(%q): %v", bad, err)
		}
	}
}

func TestDecode(t *testing.T) {
	type req struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
		Flag  bool   `json:"flag"`
		List  []int  `json:"list"`
	}
	for _, c := range []struct {
		name, ct, body string
		kind           apperr.Kind
		msg            string
	}{
		{"ok", "application/json", `{"name":"x","count":2}`, "", ""},
		{"ok with charset", "application/json; charset=utf-8", ` {"name":"x"} `, "", ""},
		{"ok without content type", "", `{}`, "", ""},
		{"empty", "application/json", ``, apperr.Invalid, "empty"},
		{"spaces only", "application/json", "  \n", apperr.Invalid, "empty"},
		{"null", "application/json", `null`, apperr.Invalid, "JSON object"},
		{"array", "application/json", `[]`, apperr.Invalid, "JSON object"},
		{"number", "application/json", `12`, apperr.Invalid, "JSON object"},
		{"truncated", "application/json", `{"name":`, apperr.Invalid, "ends too early"},
		{"syntax", "application/json", `{"name" "x"}`, apperr.Invalid, "malformed JSON"},
		{"unknown field", "application/json", `{"nam":"x"}`, apperr.Invalid, `unknown field "nam"`},
		{"wrong type string", "application/json", `{"name":1}`, apperr.Invalid, "must be a JSON string"},
		{"wrong type number", "application/json", `{"count":"1"}`, apperr.Invalid, "must be a JSON number"},
		{"wrong type bool", "application/json", `{"flag":"true"}`, apperr.Invalid, "must be a JSON boolean"},
		{"wrong type array", "application/json", `{"list":{}}`, apperr.Invalid, "must be a JSON array"},
		{"number overflow", "application/json", `{"count":1e100}`, apperr.Invalid, "count"},
		{"trailing", "application/json", `{} x`, apperr.Invalid, "exactly one JSON object"},
		{"two objects", "application/json", `{}{}`, apperr.Invalid, "exactly one JSON object"},
		{"form", "application/x-www-form-urlencoded", `name=x`, "unsupported_media_type", "Content-Type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
			if c.ct != "" {
				r.Header.Set("Content-Type", c.ct)
			}
			var v req
			err := decode(r, &v)
			if c.kind == "" {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				return
			}
			if apperr.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("decode: %v, want %s containing %q", err, c.kind, c.msg)
			}
		})
	}
	// Over the body limit: the MaxBytesError comes through (413).
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"name":"`+strings.Repeat("x", 100)+`"}`))
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 20)
	var v req
	var mbe *http.MaxBytesError
	if err := decode(r, &v); !errors.As(err, &mbe) {
		t.Errorf("over the limit: %v", err)
	}
}

func TestQueryIntAndPathID(t *testing.T) {
	for _, c := range []struct {
		q    string
		want int
		ok   bool
	}{{"", 50, true}, {"limit=1", 1, true}, {"limit=200", 200, true}, {"limit=0", 0, false}, {"limit=201", 0, false}, {"limit=x", 0, false}, {"limit=-5", 0, false}} {
		r := httptest.NewRequest("GET", "/?"+c.q, nil)
		got, err := queryInt(r, "limit", 50, 1, 200)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("queryInt(%q) = %d, %v", c.q, got, err)
		}
	}
	for _, c := range []struct {
		v  string
		ok bool
	}{{"1", true}, {"9223372036854775807", true}, {"0", false}, {"-1", false}, {"x", false}, {"1e3", false}, {"", false}, {"9223372036854775808", false}} {
		r := httptest.NewRequest("GET", "/", nil)
		r.SetPathValue("id", c.v)
		if _, err := pathID(r, "id"); (err == nil) != c.ok {
			t.Errorf("pathID(%q): %v", c.v, err)
		}
	}
}

func TestStatusOf(t *testing.T) {
	for k, want := range map[apperr.Kind]int{apperr.Invalid: 400, apperr.Unauthorized: 401, apperr.Forbidden: 403, apperr.NotFound: 404,
		"method_not_allowed": 405, apperr.Conflict: 409, apperr.TooLarge: 413, "unsupported_media_type": 415, apperr.RateLimited: 429, apperr.Internal: 500} {
		if got := statusOf(k); got != want {
			t.Errorf("statusOf(%s) = %d, want %d", k, got, want)
		}
	}
}

// TestWriteErrorClientGone: a request whose client went away is not logged
// as a failure of the server nor answered as one; a real failure still is.
func TestWriteErrorClientGone(t *testing.T) {
	var log bytes.Buffer
	a := &API{Deps: Deps{Log: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("POST", "/api/v1/tickets", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	a.writeError(w, r, fmt.Errorf("ticket: create: db: begin: %w", context.Canceled))
	if w.Code != statusClientClosed || log.Len() != 0 {
		t.Errorf("client gone: status %d, log %q", w.Code, log.String())
	}
	w = httptest.NewRecorder()
	a.writeError(w, httptest.NewRequest("GET", "/api/v1/tickets/1", nil), errors.New("disk on fire"))
	if w.Code != http.StatusInternalServerError || !strings.Contains(log.String(), "request failed") {
		t.Errorf("server failure: status %d, log %q", w.Code, log.String())
	}
}
