package statusweb

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/benchseed"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/incident"
	"github.com/helpmesh/helpmesh/internal/status"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// seed writes services services and incidents incidents over the last
// year (the newest 1 % unresolved), each over one to three services.
func seed(b *testing.B, d *db.DB, services, incidents int) *unit.Store {
	ctx := context.Background()
	units := unit.NewStore(d)
	u, err := units.CreateUnit(ctx, unit.Unit{Slug: "ops", Name: "Operations"})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]int64, services)
	for i := range ids {
		sv, err := units.CreateService(ctx, unit.Service{Slug: fmt.Sprintf("svc-%03d", i), Name: fmt.Sprintf("Service %03d", i), UnitID: u.ID, UnitSlug: "ops"})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = sv.ID
	}
	if err := benchseed.Incidents(ctx, d, ids, incidents, 365*24*time.Hour, time.Now().UTC()); err != nil {
		b.Fatal(err)
	}
	return units
}

// BenchmarkStatusPage: with 100 services and 10,000 incidents, /status and
// /api/v2/summary.json at 8 concurrent clients over HTTP; "cold" renders
// again at every request (as after each change event).
func BenchmarkStatusPage(b *testing.B) {
	d := dbtest.Open(b, filepath.Join(b.TempDir(), "bench.db"))
	units := seed(b, d, 100, 10000)
	incs := incident.NewStore(d, incident.Options{Services: units})
	page := status.New(status.Options{Services: units, Incidents: incs, URL: "http://bench/status"})
	srv := httptest.NewServer(Handler{Page: page})
	b.Cleanup(srv.Close)
	b.Run("status", func(b *testing.B) { benchPath(b, srv, "/status", 8, nil) })
	b.Run("summary", func(b *testing.B) { benchPath(b, srv, "/api/v2/summary.json", 8, nil) })
	b.Run("cold-summary", func(b *testing.B) { benchPath(b, srv, "/api/v2/summary.json", 1, page.Invalidate) })
}

func benchPath(b *testing.B, srv *httptest.Server, path string, clients int, before func()) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var mu sync.Mutex
	var times []time.Duration
	var size int
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range work {
				if before != nil {
					before()
				}
				t0 := time.Now()
				resp, err := client.Get(srv.URL + path)
				if err != nil {
					b.Error(err)
					return
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				dt := time.Since(t0)
				if resp.StatusCode != 200 {
					b.Errorf("GET %s: %d", path, resp.StatusCode)
				}
				mu.Lock()
				times = append(times, dt)
				size = int(n)
				mu.Unlock()
			}
		})
	}
	b.ResetTimer()
	for b.Loop() {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	b.StopTimer()
	slices.Sort(times)
	pct := func(p float64) float64 { return float64(times[int(float64(len(times)-1)*p)].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(float64(size)/1024, "KB")
	b.ReportMetric(0, "ns/op")
}
