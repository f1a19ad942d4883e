package status

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/unit"
)

// slowSource counts the renderings (one Services call each) and, while
// gate is set, holds each rendering until gate is closed.
type slowSource struct {
	*fakeSource
	renders atomic.Int64
	mu      sync.Mutex
	gate    chan struct{}
}

func (s *slowSource) Services(ctx context.Context) ([]*unit.Service, error) {
	s.renders.Add(1)
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return s.fakeSource.Services(ctx)
}

func (s *slowSource) hold() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = make(chan struct{})
	return s.gate
}

func (s *slowSource) release(gate chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(gate)
	s.gate = nil
}

func unresolvedJSON(t *testing.T, p *Page) string {
	t.Helper()
	d, ok, err := p.Document(context.Background(), "incidents/unresolved.json")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	return string(d.Body)
}

// TestReadersDoNotWaitForRenderings: after Expire (a change from the
// event stream) readers are served the previous rendering while the next
// one is on its way, and see the change once it is done.
func TestReadersDoNotWaitForRenderings(t *testing.T) {
	src := &slowSource{fakeSource: testSource()}
	p := New(Options{Services: src, Incidents: src, Coalesce: time.Millisecond})
	if !strings.Contains(unresolvedJSON(t, p), "Disks") {
		t.Fatal("first rendering")
	}
	gate := src.hold()
	src.incidents[0].Title = "Renamed"
	p.Expire()
	done := make(chan string)
	go func() { done <- unresolvedJSON(t, p) }()
	select {
	case body := <-done:
		if strings.Contains(body, "Renamed") {
			t.Error("served a rendering that is not finished")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a reader waited for the rendering")
	}
	src.release(gate)
	waitFor(t, func() bool { return strings.Contains(unresolvedJSON(t, p), "Renamed") })
}

// TestBurstOfChangesIsCoalesced: 40 writers invalidating while a
// rendering is on its way cost one more rendering, not 40, and each of
// them sees its change when Invalidate returns.
func TestBurstOfChangesIsCoalesced(t *testing.T) {
	src := &slowSource{fakeSource: testSource()}
	p := New(Options{Services: src, Incidents: src, Coalesce: 20 * time.Millisecond})
	unresolvedJSON(t, p)
	before := src.renders.Load()
	gen0 := p.gen.Load()
	gate := src.hold()
	var wg sync.WaitGroup
	wg.Go(p.Invalidate) // renders, held at the gate
	waitFor(t, func() bool { return src.renders.Load() == before+1 })
	for range 40 {
		wg.Go(p.Invalidate)
	}
	waitFor(t, func() bool { return p.gen.Load() == gen0+41 })
	src.release(gate)
	wg.Wait()
	if n := src.renders.Load() - before; n != 2 {
		t.Errorf("%d renderings for 41 changes, want 2", n)
	}
	if r := p.cur.Load(); r.gen != p.gen.Load() {
		t.Errorf("the page does not cover the last change: %d < %d", r.gen, p.gen.Load())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
