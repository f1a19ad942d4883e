package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/app"
	"github.com/helpmesh/helpmesh/internal/config"
)

// startServer runs a helpmesh instance on a fresh SQLite database in-process
// and returns its URL and bootstrap token.
func startServer(t testing.TB, dataDir string) (string, string) {
	t.Helper()
	const token = "bench-test-token-0123456789abcdef"
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.BootstrapToken = token
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	return "http://" + ln.Addr().String(), token
}

func TestBenchAgainstInProcessServer(t *testing.T) {
	dir := t.TempDir()
	url, token := startServer(t, filepath.Join(dir, "data"))
	var out, errOut bytes.Buffer
	getenv := func(string) string { return "" }
	code := run(context.Background(), []string{"bench", "--url", url, "--token", token, "--clients", "4",
		"--duration", "1s", "--prepare", "20"}, nil, &out, &errOut, getenv)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	t.Logf("\n%s", out.String())
	for _, op := range benchOps {
		var line string
		for l := range strings.SplitSeq(out.String(), "\n") {
			if strings.HasPrefix(l, op+" ") {
				line = l
			}
		}
		if line == "" {
			t.Fatalf("no line for %s in:\n%s", op, out.String())
		}
		for _, want := range []string{"ops/s", "p50", "p95", "p99", "errors 0"} {
			if !strings.Contains(line, want) {
				t.Errorf("%s line lacks %q: %s", op, want, line)
			}
		}
		if strings.Contains(line, "(n=0)") {
			t.Errorf("%s made no successful request: %s", op, line)
		}
	}
}

func TestBenchSeed(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	start := time.Now()
	code := run(context.Background(), []string{"bench", "--seed", "500", "--seed-batch", "200", "--data", dir}, nil, &out, &errOut,
		func(string) string { return "" })
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "seeded 500/500 tickets") {
		t.Errorf("unexpected output:\n%s", out.String())
	}
	t.Logf("seeded 500 tickets in %s", time.Since(start))
}

func TestBenchRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench"},
		{"bench", "--url", "http://example.org", "--token", "x"},
		{"bench", "--url", "http://10.0.0.1:8080", "--token", "x"},
		{"bench", "--url", "http://127.0.0.1:8080"},
		{"bench", "--url", "http://127.0.0.1:8080", "--token", "x", "--clients", "0"},
		{"bench", "--url", "http://127.0.0.1:8080", "--token", "x", "--duration", "1h"},
		{"bench", "--url", "http://127.0.0.1:8080", "--token", "x", "--ops", "create,drop"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, nil, &out, &errOut, func(string) string { return "" }); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %s)", args, code, errOut.String())
		}
	}
}

// BenchmarkHTTP drives an in-process server (the whole application, with
// its mail wiring) through the client, 8 clients per core; with
// -cpuprofile it shows where a request's time goes on both sides.
func BenchmarkHTTP(b *testing.B) {
	dir := b.TempDir()
	url, token := startServer(b, filepath.Join(dir, "data"))
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}
	hc := &http.Client{Transport: tr}
	admin := client.New(url, token, hc)
	f := benchFlags{url: url, token: token, clients: 8, prepare: 200, rng: 1, as: "requester"}
	var out bytes.Buffer
	be, err := prepareBench(context.Background(), env{stdout: &out, stderr: &out}, admin, f)
	if err != nil {
		b.Fatal(err)
	}
	for _, op := range benchOps {
		b.Run(op, func(b *testing.B) {
			b.SetParallelism(4)
			var seq atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				n := seq.Add(1)
				rng := rand.New(rand.NewPCG(n, 2))
				tg := newTextGen(n)
				bc := &benchConn{base: be.base}
				defer bc.close()
				for pb.Next() {
					if err := be.do(context.Background(), bc, op, int(n), rng, tg); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
