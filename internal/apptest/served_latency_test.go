package apptest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/benchseed"
)

// perfEnv, set to anything, makes TestServedLatency measure with issue
// 17's data set (100 services, 10,000 incidents over two years, 100,000
// tickets) and many requests; without it the test is a quick check that
// runs in CI:
//
//	HELPMESH_PERF=1 go test -count=1 -v -run TestServedLatency/sqlite ./internal/apptest/
const perfEnv = "HELPMESH_PERF"

// perfSize is a data set and how many requests are measured a page.
type perfSize struct {
	services, incidents, tickets int
	// requests for each public document, formRequests for the form.
	requests, formRequests int
}

var (
	smokeSize = perfSize{services: 10, incidents: 200, tickets: 2000, requests: 400, formRequests: 200}
	issueSize = perfSize{services: 100, incidents: 10_000, tickets: 100_000, requests: 20_000, formRequests: 4_000}
)

// perfClients is how many clients ask at once (issue 17: 8).
const perfClients = 8

// The service the form is measured with: it has an active known error
// and an open incident.
const (
	perfService    = "svc-007"
	perfKnownError = "Jobs on svc-007 cannot stage in files"
	perfWorkaround = "Retry with --no-cache until the fix is deployed."
	perfIncident   = "Storage of svc-007 is slow"
)

// TestServedLatency measures, through the whole HTTP stack as served (a
// real instance on a loopback port: forwarded headers, sessions, CSRF,
// security headers, metrics), the latency of /status, /api/v2/summary.json
// and the new-ticket form of a service with an active known error and an
// open incident (signed in as a requester), at 8 concurrent clients, and
// of summary.json while incidents are written 20 times a second. It
// checks what each page says, ETag/304, and that a new incident is on the
// page at once (its figure is printed). With HELPMESH_PERF set it uses issue 17's data
// set and prints p50/p95/p99, requests/s and CPU time a request (client
// and server share the process, so both are counted).
func TestServedLatency(t *testing.T) {
	size, full := smokeSize, os.Getenv(perfEnv) != ""
	if full {
		size = issueSize
	}
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		const password = "a long enough password"
		requester := seedServed(t, in, size, password)
		b := newBrowser(t, in)
		b.signIn(requester, password)
		session := cookieHeader(t, b, in.URL)

		checkServed(t, in, size, session)

		form := "/tickets/new?service=" + perfService
		var lines []string
		for _, m := range []struct {
			name, path, cookie string
			n                  int
			during             func(stop <-chan struct{})
		}{
			{name: "/status", path: "/status", n: size.requests},
			{name: "/api/v2/summary.json", path: "/api/v2/summary.json", n: size.requests},
			{name: "new-ticket form", path: form, cookie: session, n: size.formRequests},
			{name: "summary.json, 20 writes/s", path: "/api/v2/summary.json", n: size.requests, during: writeBurst(t, in)},
		} {
			t.Logf("measuring %s", m.name)
			measureServed(t, in.URL+m.path, m.cookie, perfClients, perfClients*10, nil) // warm up
			r := measureServed(t, in.URL+m.path, m.cookie, perfClients, m.n, m.during)
			lines = append(lines, fmt.Sprintf("%-26s %7d req  p50 %6.2f ms  p95 %6.2f ms  p99 %6.2f ms  %7.0f req/s  CPU %5.0f µs/req  %6d B",
				m.name, r.requests, ms(r.p50), ms(r.p95), ms(r.p99), r.perSecond, float64(r.cpu.Microseconds())/float64(r.requests), r.bytes))
		}
		// Issue 17 asks for about a second; the bound leaves room for a
		// loaded CI machine, the figure is printed.
		fresh := newIncidentVisible(t, in, "Freshness probe", 5*time.Second)
		lines = append(lines, fmt.Sprintf("a new incident was on summary.json %s after its POST was sent", fresh.Round(time.Millisecond)))
		t.Logf("%s, %d services, %d incidents, %d tickets, %d clients:\n%s", e, size.services, size.incidents, size.tickets, perfClients, strings.Join(lines, "\n"))
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// seedServed creates the services through the API, writes the incidents
// and tickets in bulk, then, through the API, a known error and an open
// incident on perfService. It returns the requester's email.
func seedServed(t *testing.T, in *apptest.Instance, size perfSize, password string) string {
	t.Helper()
	ctx := context.Background()
	t0 := time.Now()
	unit := in.NewUnit(t, "ops", false)
	ids := make([]int64, size.services)
	svcs := make([]benchseed.Service, size.services)
	for i := range ids {
		sv := in.NewService(t, fmt.Sprintf("svc-%03d", i), "ops")
		ids[i], svcs[i] = sv.ID, benchseed.Service{ID: sv.ID, UnitID: unit.ID}
	}
	const email = "rita@example.org"
	req, err := in.Admin.CreateUser(ctx, client.NewUser{Email: email, Name: "Rita", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	d := in.App.DB
	now := time.Now().UTC()
	if err := benchseed.Incidents(ctx, d, ids, size.incidents, 2*365*24*time.Hour, now); err != nil {
		t.Fatal(err)
	}
	t.Logf("incidents seeded after %s", time.Since(t0))
	if err := benchseed.Tickets(ctx, d, req.ID, svcs, size.tickets, now); err != nil {
		t.Fatal(err)
	}
	t.Logf("tickets seeded after %s", time.Since(t0))
	var ke struct{ ID int64 }
	if err := in.Admin.Do(ctx, "POST", "/api/v1/known-errors", map[string]any{"title": perfKnownError, "symptom": "Stage-in stops at 0 %.",
		"workaround": perfWorkaround, "services": []string{perfService}}, &ke); err != nil {
		t.Fatal(err)
	}
	// Its impact: 200 linked tickets.
	if _, err := d.W.ExecContext(ctx, `INSERT INTO known_error_tickets (known_error_id, ticket_id, created_at)
		SELECT $1, id, $2 FROM tickets WHERE service_id = $3 ORDER BY id LIMIT 200`, ke.ID, now, ids[7]); err != nil {
		t.Fatal(err)
	}
	if err := in.Admin.Do(ctx, "POST", "/api/v1/incidents", map[string]any{"title": perfIncident, "impact": "minor", "body": "Looking.",
		"components": []map[string]string{{"service": perfService, "status": "degraded_performance"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := benchseed.Analyze(ctx, d); err != nil {
		t.Fatal(err)
	}
	in.App.Status.Invalidate()
	t.Logf("seeded %d services, %d incidents, %d tickets in %s", size.services, size.incidents, size.tickets, time.Since(t0).Round(time.Millisecond))
	return email
}

// cookieHeader is the Cookie header of the signed-in browser b.
func cookieHeader(t *testing.T, b *browser, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, c := range b.hc.Jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	if len(parts) == 0 {
		t.Fatal("no session cookie")
	}
	return strings.Join(parts, "; ")
}

// checkServed checks what the measured pages say, and ETag/304.
func checkServed(t *testing.T, in *apptest.Instance, size perfSize, session string) {
	t.Helper()
	var sum struct {
		Components []struct{ ID, Status string }
		Incidents  []struct{ Name string }
		Status     struct{ Indicator string }
	}
	r := in.Do(t, "GET", "/api/v2/summary.json", "", "", nil)
	if r.Status != 200 {
		t.Fatalf("summary.json: %d", r.Status)
	}
	if err := json.Unmarshal(r.Body, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Components) != size.services || sum.Status.Indicator == "none" ||
		!slices.ContainsFunc(sum.Incidents, func(i struct{ Name string }) bool { return i.Name == perfIncident }) {
		t.Errorf("summary.json: %d components (want %d), indicator %q, incidents %v", len(sum.Components), size.services, sum.Status.Indicator, sum.Incidents)
	}
	page := in.Do(t, "GET", "/status", "", "", nil)
	if page.Status != 200 || !strings.Contains(string(page.Body), perfIncident) || page.Header.Get("ETag") == "" {
		t.Errorf("/status: %d, ETag %q, names the open incident: %v", page.Status, page.Header.Get("ETag"), strings.Contains(string(page.Body), perfIncident))
	}
	req, _ := http.NewRequest("GET", in.URL+"/status", nil)
	req.Header.Set("If-None-Match", page.Header.Get("ETag"))
	if res, err := in.HTTP.Do(req); err != nil || res.StatusCode != http.StatusNotModified {
		t.Errorf("/status with its ETag: %v %v, want 304", res, err)
	} else {
		res.Body.Close()
	}
	body := formPage(t, in, session, perfService)
	if !strings.Contains(body, perfKnownError) || !strings.Contains(body, perfWorkaround) || !strings.Contains(body, `name="csrf"`) ||
		!strings.Contains(body, `value="`+perfService+`" checked>`) || strings.Count(body, "checked>") != 3 { // the service, the type, the priority
		t.Errorf("new-ticket form of %s: shows the known error: %v; checked: %d", perfService, strings.Contains(body, perfKnownError), strings.Count(body, "checked>"))
	}
	if body := formPage(t, in, session, "no-such-service"); !strings.Contains(body, `id="svc-none" name="service" value="" >`) ||
		strings.Count(body, "checked>") != 2 { // the type, the priority
		t.Errorf("new-ticket form of an unknown service: %d checked", strings.Count(body, "checked>"))
	}
	// The form's kept list of services gives way at once to a new known
	// error.
	const title = "Logins to svc-003 time out"
	if err := in.Admin.Do(context.Background(), "POST", "/api/v1/known-errors", map[string]any{"title": title, "symptom": "Timeouts.",
		"workaround": "Wait.", "services": []string{"svc-003"}}, nil); err != nil {
		t.Fatal(err)
	}
	if body := formPage(t, in, session, "svc-003"); !strings.Contains(body, title) {
		t.Error("the form does not show a known error just created")
	}
}

// formPage returns the new-ticket form with service chosen.
func formPage(t *testing.T, in *apptest.Instance, session, service string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", in.URL+"/tickets/new?service="+url.QueryEscape(service), nil)
	req.Header.Set("Cookie", session)
	res, err := in.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("new-ticket form of %s: %d", service, res.StatusCode)
	}
	return string(body)
}

// newIncidentVisible creates an incident through the API and returns how
// long summary.json took to name it; it fails the test after within.
func newIncidentVisible(t *testing.T, in *apptest.Instance, title string, within time.Duration) time.Duration {
	t.Helper()
	ctx := context.Background()
	t0 := time.Now()
	if err := in.Admin.Do(ctx, "POST", "/api/v1/incidents", map[string]any{"title": title, "impact": "major", "body": "Down.",
		"components": []map[string]string{{"service": "svc-001", "status": "major_outage"}}}, nil); err != nil {
		t.Fatal(err)
	}
	for {
		r := in.Do(t, "GET", "/api/v2/summary.json", "", "", nil)
		if r.Status == 200 && strings.Contains(string(r.Body), title) {
			return time.Since(t0)
		}
		if time.Since(t0) > within {
			t.Errorf("the new incident %q was not on summary.json within %s", title, within)
			return time.Since(t0)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// writeBurst returns a writer that, until stop, adds an update to an open
// incident every 50 ms through the API (each one invalidates the status
// page).
func writeBurst(t *testing.T, in *apptest.Instance) func(stop <-chan struct{}) {
	return func(stop <-chan struct{}) {
		ctx := context.Background()
		var inc struct{ ID int64 }
		if err := in.Admin.Do(ctx, "POST", "/api/v1/incidents", map[string]any{"title": "Write burst", "impact": "minor", "body": "Start.",
			"components": []map[string]string{{"service": "svc-002", "status": "partial_outage"}}}, &inc); err != nil {
			t.Error(err)
			return
		}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			st := []string{"degraded_performance", "partial_outage"}[i%2]
			if err := in.Admin.Do(ctx, "POST", fmt.Sprintf("/api/v1/incidents/%d/updates", inc.ID), map[string]any{"status": "identified",
				"body": fmt.Sprintf("Update %d.", i), "components": []map[string]string{{"service": "svc-002", "status": st}}}, nil); err != nil {
				t.Error(err)
				return
			}
		}
	}
}

// servedLatency is one measurement.
type servedLatency struct {
	requests      int
	p50, p95, p99 time.Duration
	perSecond     float64
	cpu           time.Duration // of the whole process
	bytes         int           // of the last response
}

// measureServed sends n GET requests to u from clients clients at once
// (gzip accepted, cookie sent when not empty), with during running
// meanwhile when set, and fails the test on any answer but 200.
func measureServed(t *testing.T, u, cookie string, clients, n int, during func(stop <-chan struct{})) servedLatency {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}, Timeout: time.Minute}
	defer hc.CloseIdleConnections()
	var next atomic.Int64
	var bytes atomic.Int64
	times := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var duringDone sync.WaitGroup
	if during != nil {
		duringDone.Go(func() { during(stop) })
	}
	cpu0 := processCPU()
	t0 := time.Now()
	for c := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest("GET", u, nil)
				req.Header.Set("Accept-Encoding", "gzip")
				if cookie != "" {
					req.Header.Set("Cookie", cookie)
				}
				s := time.Now()
				res, err := hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				k, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				times[c] = append(times[c], time.Since(s))
				if res.StatusCode != 200 {
					t.Errorf("GET %s: %d", u, res.StatusCode)
					return
				}
				bytes.Store(k)
			}
		})
	}
	wg.Wait()
	wall := time.Since(t0)
	cpu := processCPU() - cpu0
	close(stop)
	duringDone.Wait()
	all := slices.Concat(times...)
	if len(all) == 0 {
		t.Fatalf("GET %s: no answer", u)
	}
	slices.Sort(all)
	at := func(p float64) time.Duration { return all[int(float64(len(all)-1)*p)] }
	return servedLatency{requests: len(all), p50: at(0.50), p95: at(0.95), p99: at(0.99), perSecond: float64(len(all)) / wall.Seconds(),
		cpu: cpu, bytes: int(bytes.Load())}
}

// processCPU is the user and system CPU time the process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
