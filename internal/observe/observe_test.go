package observe

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		12345678 * time.Nanosecond:    "12.3ms",
		1234567 * time.Nanosecond:     "1.23ms",
		456789 * time.Nanosecond:      "457µs",
		1234567890 * time.Nanosecond:  "1.23s",
		83456789012 * time.Nanosecond: "1m23.5s",
		512 * time.Nanosecond:         "512ns",
		0:                             "0s",
	} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%d) = %q, want %q", d, got, want)
		}
	}
}

// TestLogHandlerDurations: text and JSON both write a duration as
// "12.3ms", inside groups too, never JSON's nanoseconds.
func TestLogHandlerDurations(t *testing.T) {
	var text, js bytes.Buffer
	for _, l := range []*slog.Logger{NewLogger(&text, "text", "info"), NewLogger(&js, "json", "info")} {
		l.Info("done", "took", 12345678*time.Nanosecond, slog.Group("step", "wait", 1500*time.Millisecond))
		l.Debug("hidden at info")
	}
	if got := text.String(); !strings.Contains(got, "took=12.3ms") || !strings.Contains(got, "step.wait=1.5s") || strings.Contains(got, "hidden") {
		t.Errorf("text: %s", got)
	}
	var rec struct {
		Took string
		Step struct{ Wait string }
	}
	if err := json.Unmarshal(js.Bytes(), &rec); err != nil {
		t.Fatalf("json: %v: %s", err, js.String())
	}
	if rec.Took != "12.3ms" || rec.Step.Wait != "1.5s" {
		t.Errorf("json: %s", js.String())
	}
}

// TestHTTPRoutes: the route label is the pattern of the innermost mux
// that tells it (SetRoute), else the outer mux's pattern, never the raw
// path; the method of a request with an unknown one is "other"; the debug
// request log has the route, status, size, duration and client; the
// writer still flushes.
func TestHTTPRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	o := NewHTTP(reg, NewLogger(&logs, "json", "debug"))
	inner := http.NewServeMux()
	inner.HandleFunc("GET /pages/{id}", func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).Flush()
		_, _ = w.Write([]byte("hello"))
	})
	innerH := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, p := inner.Handler(r)
		SetRoute(r, p)
		// A copy of the request, as middleware makes: the route still
		// reaches the observer.
		inner.ServeHTTP(w, r.WithContext(r.Context()))
	})
	outer := http.NewServeMux()
	outer.Handle("/pages/", innerH)
	outer.HandleFunc("POST /form", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusUnprocessableEntity) })
	srv := httptest.NewServer(o.Wrap(outer))
	defer srv.Close()
	do := func(method, path string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		// Read to the end: the last chunk of a flushed response is written
		// after the handler chain (and the observer) returned, so the
		// request is recorded by then.
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	do("GET", "/pages/1")
	do("GET", "/pages/2")
	do("POST", "/form")
	do("PURGE", "/pages/3")
	do("GET", "/nothing/here/42")
	for _, c := range []struct {
		route, method, class string
		want                 float64
	}{
		{"/pages/{id}", "GET", "2xx", 2},
		{"/form", "POST", "4xx", 1},
		{"/pages/", "other", "4xx", 1}, // the inner mux has no pattern for PURGE: the outer's
		{"unmatched", "GET", "4xx", 1},
	} {
		key := c.route + " " + c.method + " " + c.class
		if got := series(t, reg, "helpmesh_http_requests_total")[key]; got != c.want {
			t.Errorf("requests{%s} = %v, want %v", key, got, c.want)
		}
	}
	if n := len(series(t, reg, "helpmesh_http_requests_total")); n != 4 {
		t.Errorf("%d request series, want 4 (no raw paths)", n)
	}
	if n := len(series(t, reg, "helpmesh_http_request_duration_seconds")); n != 4 {
		t.Errorf("%d duration series, want 4", n)
	}
	var first struct {
		Msg, Method, Route, Client string
		Status                     int
		Bytes                      int64
		Duration                   string
		DurationMS                 float64 `json:"duration_ms"`
	}
	line, _, _ := strings.Cut(logs.String(), "\n")
	if err := json.Unmarshal([]byte(line), &first); err != nil {
		t.Fatalf("request log: %v: %s", err, line)
	}
	if first.Msg != "request" || first.Method != "GET" || first.Route != "/pages/{id}" || first.Status != 200 || first.Bytes != 5 ||
		first.Client != "127.0.0.1" || !strings.HasSuffix(first.Duration, "s") || first.DurationMS <= 0 {
		t.Errorf("request log: %s", line)
	}
}

// series gathers the metric family name from reg: the value (a counter's,
// a histogram's count) by its label values joined with spaces.
func series(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			byName := map[string]string{}
			for _, l := range m.GetLabel() {
				byName[l.GetName()] = l.GetValue()
			}
			key := byName["route"] + " " + byName["method"]
			if c, ok := byName["class"]; ok {
				key += " " + c
			}
			if m.GetCounter() != nil {
				out[key] = m.GetCounter().GetValue()
			} else {
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}
