package apptest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/mail"
)

// TestMetricsFamilies (issue 16.16): after a few web pages and API calls,
// /metrics (behind HELPMESH_METRICS_TOKEN: 401 without it) has the
// requests of web and API routes by ServeMux pattern, method and status
// class (never the raw path), their durations, the mail (outbox by state,
// the oldest waiting mail, quarantine, batched notices), the jobs and the
// Go runtime.
func TestMetricsFamilies(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		const token = "metrics-secret-0123456789"
		in := apptest.Start(t, e, func(c *config.Config) { c.MetricsToken = token })
		ctx := context.Background()
		in.NewUnit(t, "compute", false)
		in.NewService(t, "cloud", "compute")
		_, ann := in.NewUser(t, "ann@example.org", "user")
		tk, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "VM does not boot", Body: "Since this morning.", Service: "cloud"})
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/login", "/login", "/no/such/page/12345"} {
			if r := in.Do(t, "GET", path, "", "", nil); r.Status >= 500 {
				t.Fatalf("GET %s: %d", path, r.Status)
			}
		}
		if _, err := ann.Ticket(ctx, tk.ID); err != nil {
			t.Fatal(err)
		}
		// A mail in the outbox (held: no relay) and one in quarantine (no
		// usable sender).
		if err := in.App.Mail.SendText(ctx, "someone@example.org", "Hello", "A mail for the outbox."); err != nil {
			t.Fatal(err)
		}
		if _, err := in.App.Mail.Deliver(ctx, mail.Envelope{Source: "smtp", Rcpts: []string{"helpdesk@" + in.App.Config.Domain()}}, []byte("Subject: no sender\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if r := in.Do(t, "GET", "/metrics", "", "", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("/metrics without the token: %d", r.Status)
		}
		r := in.Do(t, "GET", "/metrics", token, "", nil)
		if r.Status != 200 {
			t.Fatalf("/metrics: %d", r.Status)
		}
		m := string(r.Body)
		for _, want := range []string{
			`helpmesh_http_requests_total{class="2xx",method="GET",route="/login"} 2`,
			`helpmesh_http_requests_total{class="4xx",method="GET",route="/"} 1`, // the web's page for unknown addresses
			`helpmesh_http_requests_total{class="2xx",method="POST",route="/api/v1/tickets"} 1`,
			`helpmesh_http_requests_total{class="2xx",method="GET",route="/api/v1/tickets/{id}"} 1`,
			`helpmesh_http_request_duration_seconds_bucket{method="GET",route="/login",le="+Inf"} 2`,
			`helpmesh_http_request_duration_seconds_count{method="GET",route="/api/v1/tickets/{id}"} 1`,
			`helpmesh_mail_outbox{state="sent"}`, `helpmesh_mail_outbox{state="failed"}`, `helpmesh_mail_outbox{state="held"}`,
			"helpmesh_outbox_oldest_age_seconds ", "helpmesh_mail_quarantine 1", "helpmesh_mail_batch_gathering 0",
			`helpmesh_outbox_backlog{state="held"}`, "helpmesh_jobs_pending ", "helpmesh_jobs_failed 0",
			"go_goroutines ", "go_memstats_heap_alloc_bytes ", "go_gc_duration_seconds", "process_resident_memory_bytes ",
		} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if age, ok := metricValue(m, "helpmesh_outbox_oldest_age_seconds"); !ok || age <= 0 {
			t.Errorf("the oldest waiting mail's age: %v %v", age, ok)
		}
		if strings.Contains(m, "12345") || strings.Contains(m, fmt.Sprintf(`route="/api/v1/tickets/%d"`, tk.ID)) {
			t.Error("/metrics has a raw path as a route")
		}
	})
}

// TestOperatorLogs (issue 16.16), with the JSON log at debug: the request
// log (method, route pattern, status, duration in human units and in ms,
// bytes, client), a password sign-in and a refused one (the address tried,
// never the password), and the new ticket with its unit, service and
// source.
func TestOperatorLogs(t *testing.T) {
	in := apptest.Start(t, apptest.SQLite, func(c *config.Config) { c.LogFormat, c.LogLevel = "json", "debug" })
	ctx := context.Background()
	in.NewUnit(t, "compute", false)
	svc := in.NewService(t, "cloud", "compute")
	const pw = "a long enough password"
	if _, err := in.Admin.CreateUser(ctx, client.NewUser{Email: "ann@example.org", Name: "Ann", Password: pw}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, in)
	_, page := b.get("/login")
	m := formTokenRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no form token on /login")
	}
	res, err := b.hc.PostForm(in.URL+"/login", map[string][]string{"csrf": {m[1]}, "email": {"ann@example.org"}, "password": {"not-my-password-xyz"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	b.signIn("ann@example.org", pw)
	tk, err := in.Admin.CreateTicket(ctx, client.NewTicket{Subject: "Quota", Body: "More quota, please.", Service: "cloud"})
	if err != nil {
		t.Fatal(err)
	}
	find := func(match func(rec map[string]any) bool) map[string]any {
		t.Helper()
		for range 100 {
			for line := range strings.SplitSeq(in.Logs(), "\n") {
				var rec map[string]any
				if json.Unmarshal([]byte(line), &rec) == nil && match(rec) {
					return rec
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	}
	req := find(func(rec map[string]any) bool {
		return rec["msg"] == "request" && rec["route"] == "/login" && rec["method"] == "POST"
	})
	if req == nil || req["status"] != float64(401) || req["client"] != "127.0.0.1" || req["bytes"].(float64) <= 0 ||
		!strings.HasSuffix(req["duration"].(string), "s") || req["duration_ms"].(float64) <= 0 {
		t.Errorf("request log: %v", req)
	}
	refused := find(func(rec map[string]any) bool { return rec["msg"] == "sign-in refused" })
	if refused == nil || refused["level"] != "INFO" || refused["email"] != "ann@example.org" || refused["via"] != "password" {
		t.Errorf("refused sign-in: %v", refused)
	}
	signed := find(func(rec map[string]any) bool { return rec["msg"] == "signed in" })
	if signed == nil || signed["level"] != "INFO" || signed["email"] != "ann@example.org" || signed["via"] != "password" || signed["client"] != "127.0.0.1" {
		t.Errorf("sign-in: %v", signed)
	}
	created := find(func(rec map[string]any) bool { return rec["msg"] == "ticket created" })
	if created == nil || created["ticket"] != float64(tk.ID) || created["unit"] != "compute" || created["service_id"] != float64(svc.ID) || created["source"] != "api" {
		t.Errorf("new ticket: %v", created)
	}
	if strings.Contains(in.Logs(), "not-my-password-xyz") || strings.Contains(in.Logs(), pw) {
		t.Error("a password is in the log")
	}
}

// metricValue is the value of the sample named series (name and labels as
// written) in a Prometheus text exposition.
func metricValue(exposition, series string) (float64, bool) {
	for line := range strings.SplitSeq(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}
