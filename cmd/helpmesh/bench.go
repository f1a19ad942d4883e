package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// benchOps are the operations the load command knows, in the order it runs them.
var benchOps = []string{"create", "reply", "get", "list", "search"}

// Bounds of the load command, so that a typo cannot start an endless run.
const (
	benchMaxClients  = 512
	benchMaxDuration = 10 * time.Minute
	benchMaxPrepare  = 100_000
	benchMaxSeed     = 10_000_000
)

type benchFlags struct {
	url, token string
	clients    int
	duration   time.Duration
	ops        string
	prepare    int
	maxOps     int
	seed       int
	seedBatch  int
	as         string
	pid        int
	progress   bool
	webhook    bool
	rng        uint64
}

const benchUsage = "helpmesh bench --url URL --token TOKEN [--clients 8] [--duration 10s] [--ops create,reply,get,list,search] | helpmesh bench --seed N [--data DIR | --db DSN]"

// bench is the load command. With --url it drives a running server over
// HTTP and prints, per operation, ops/s, p50, p95, p99 and errors. With
// --seed N it loads N tickets straight into the database (bulk
// transactions through the ticket store), for the search and memory
// targets; both may be given, seeding first.
func bench(ctx context.Context, e env, args []string) error {
	var f benchFlags
	cfg, rest, err := load(e, "bench", args, func(fs *flag.FlagSet) {
		fs.StringVar(&f.url, "url", "", "base URL of a running server on loopback, e.g. http://127.0.0.1:8080")
		fs.StringVar(&f.token, "token", "", "an administrator's API token (or HELPMESH_BENCH_TOKEN)")
		fs.IntVar(&f.clients, "clients", 8, "concurrent clients per operation (1-512)")
		fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long each operation runs (at most 10m)")
		fs.StringVar(&f.ops, "ops", strings.Join(benchOps, ","), "operations to run, comma-separated: "+strings.Join(benchOps, ", "))
		fs.IntVar(&f.prepare, "prepare", 200, "tickets to create over HTTP before the run, for get, reply, list and search")
		fs.IntVar(&f.maxOps, "max-ops", 1_000_000, "stop an operation after this many requests even if time is left")
		fs.IntVar(&f.seed, "seed", 0, "first load this many tickets directly into the database of --data/--db (bulk)")
		fs.IntVar(&f.seedBatch, "seed-batch", 1000, "tickets per transaction when seeding")
		fs.StringVar(&f.as, "as", "requester", "who runs the operations: requester (a fresh user) or admin (the --token)")
		fs.IntVar(&f.pid, "pid", 0, "process id of the server: print its resident memory (from /proc) after the run")
		fs.BoolVar(&f.progress, "progress", true, "print a progress line every second on stderr")
		fs.BoolVar(&f.webhook, "webhook", false, "subscribe a webhook to every event, delivered to a receiver in this process (the server needs HELPMESH_OUTBOUND_ALLOW=127.0.0.0/8)")
		fs.Uint64Var(&f.rng, "rand", 1, "random seed of the generated text and of the choices")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, rest)
	}
	if f.token == "" {
		f.token = e.getenv("HELPMESH_BENCH_TOKEN")
	}
	if err := f.check(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if f.seed > 0 {
		a, err := openApp(ctx, e, cfg)
		if err != nil {
			return err
		}
		err = seedTickets(ctx, e.stdout, a.DB, f.seed, f.seedBatch, f.rng)
		a.Close()
		if err != nil {
			return err
		}
	}
	if f.url == "" {
		return nil
	}
	return runBench(ctx, e, f)
}

func (f *benchFlags) check() error {
	if f.url == "" && f.seed == 0 {
		return errors.New("give --url (load a running server) or --seed N (fill the database), or both")
	}
	if f.url != "" {
		if f.token == "" {
			return errors.New("--token is required with --url")
		}
		if err := loopbackURL(f.url); err != nil {
			return err
		}
	}
	switch {
	case f.clients < 1 || f.clients > benchMaxClients:
		return fmt.Errorf("--clients must be from 1 to %d", benchMaxClients)
	case f.duration <= 0 || f.duration > benchMaxDuration:
		return fmt.Errorf("--duration must be positive and at most %s", benchMaxDuration)
	case f.prepare < 1 || f.prepare > benchMaxPrepare:
		return fmt.Errorf("--prepare must be from 1 to %d", benchMaxPrepare)
	case f.maxOps < 1:
		return errors.New("--max-ops must be positive")
	case f.seed < 0 || f.seed > benchMaxSeed:
		return fmt.Errorf("--seed must be from 0 to %d", benchMaxSeed)
	case f.seedBatch < 1 || f.seedBatch > 100_000:
		return errors.New("--seed-batch must be from 1 to 100000")
	case f.as != "requester" && f.as != "admin":
		return errors.New("--as must be requester or admin")
	}
	for op := range strings.SplitSeq(f.ops, ",") {
		if !slices.Contains(benchOps, strings.TrimSpace(op)) {
			return fmt.Errorf("unknown operation %q in --ops (known: %s)", op, strings.Join(benchOps, ", "))
		}
	}
	return nil
}

// loopbackURL accepts only http(s) URLs whose host is a loopback address:
// the load command must not be pointed at somebody else's server.
func loopbackURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q is not an http:// or https:// URL", s)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--url must point to a loopback address (127.0.0.1, ::1 or localhost), not %q", host)
	}
	return nil
}

// benchEnv is what the operations share: the clients and the prepared data.
type benchEnv struct {
	clients []*client.Client // act for the operations: client w uses clients[w % len]
	tokens  []string         // the bearer token of each client
	base    string           // the server's URL, without a trailing slash
	service string
	tickets [][]int64 // the prepared tickets of each client
}

func runBench(ctx context.Context, e env, f benchFlags) error {
	// The load command shares the machine with the server: collect garbage
	// less often (its heap is small) to leave the processor to the server.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * f.clients,
		MaxIdleConnsPerHost: 2 * f.clients,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	admin := client.New(f.url, f.token, hc)
	b, err := prepareBench(ctx, e, admin, f)
	if err != nil {
		return err
	}
	if f.webhook {
		stop, err := benchWebhook(ctx, admin, e.stdout)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Fprintf(e.stdout, "helpmesh bench: %s, %d clients, %s per operation, as %s, %d prepared tickets\n",
		f.url, f.clients, f.duration, f.as, b.prepared())
	for op := range strings.SplitSeq(f.ops, ",") {
		op = strings.TrimSpace(op)
		lag := watchLag(ctx, hc, f.url)
		var cpu0 time.Duration
		if f.pid > 0 {
			if cpu0, err = processCPU(f.pid); err != nil {
				return err
			}
		}
		r := b.run(ctx, e.stderr, op, f)
		fmt.Fprintln(e.stdout, r)
		if l := lag(); l != "" {
			fmt.Fprintln(e.stdout, "  "+l)
		}
		if f.pid > 0 && r.n > 0 {
			cpu1, err := processCPU(f.pid)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "  server CPU %.0f µs per operation (the requests and, once they ended, the followers' and webhooks' catching up)\n",
				float64((cpu1-cpu0).Microseconds())/float64(r.n))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if f.pid > 0 {
		rss, hwm, err := processMemory(f.pid)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "server pid %d: resident memory %.1f MiB (peak %.1f MiB)\n", f.pid, rss, hwm)
	}
	return nil
}

// prepareBench creates what the operations need: a unit and a service, the
// acting user, and f.prepare tickets.
func prepareBench(ctx context.Context, e env, admin *client.Client, f benchFlags) (*benchEnv, error) {
	me, err := admin.Me(ctx)
	if err != nil {
		return nil, fmt.Errorf("check the token: %w", err)
	}
	if me.Role != "admin" {
		return nil, fmt.Errorf("the token belongs to %s, who is not an administrator", me.Email)
	}
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	un, err := admin.CreateUnit(ctx, client.Unit{Slug: "bench-" + suffix, Name: "Bench unit " + suffix})
	if err != nil {
		return nil, fmt.Errorf("create the bench unit: %w", err)
	}
	sv, err := admin.CreateService(ctx, client.Service{Slug: "bench-" + suffix, Name: "Bench service " + suffix, Unit: un.Slug})
	if err != nil {
		return nil, fmt.Errorf("create the bench service: %w", err)
	}
	b := &benchEnv{clients: []*client.Client{admin}, tokens: []string{f.token}, base: strings.TrimRight(f.url, "/"), service: sv.Slug}
	if f.as == "requester" {
		// One requester per client, as in real traffic (and so that no
		// per-recipient limit of one address is what is measured).
		b.clients, b.tokens = nil, nil
		for i := range f.clients {
			u, err := admin.CreateUser(ctx, client.NewUser{Email: fmt.Sprintf("bench-%s-%d@example.org", suffix, i), Name: fmt.Sprintf("Bench requester %s %d", suffix, i)})
			if err != nil {
				return nil, fmt.Errorf("create a bench requester: %w", err)
			}
			tok, err := admin.CreateToken(ctx, u.ID, client.NewToken{Name: "bench"})
			if err != nil {
				return nil, fmt.Errorf("create a bench requester's token: %w", err)
			}
			b.clients = append(b.clients, admin.WithToken(tok.Token))
			b.tokens = append(b.tokens, tok.Token)
		}
	}
	// Prepare the tickets, each client its own, all clients at once.
	b.tickets = make([][]int64, len(b.clients))
	per := max(1, f.prepare/len(b.clients))
	var wg sync.WaitGroup
	errs := make([]error, len(b.clients))
	for w, c := range b.clients {
		wg.Go(func() {
			tg := newTextGen(f.rng + uint64(w) + 1)
			for range per {
				t, err := c.CreateTicket(ctx, client.NewTicket{Subject: tg.subject(), Body: tg.body(), Service: b.service})
				if err != nil {
					errs[w] = err
					return
				}
				b.tickets[w] = append(b.tickets[w], t.ID)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("prepare tickets: %w", err)
	}
	return b, nil
}

func (b *benchEnv) prepared() int {
	n := 0
	for _, ts := range b.tickets {
		n += len(ts)
	}
	return n
}

// benchResult is the outcome of one operation.
type benchResult struct {
	op       string
	n        int // successful requests
	errors   int
	elapsed  time.Duration
	lat      []time.Duration // sorted latencies of successful requests
	firstErr error
}

func (r benchResult) quantile(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(r.lat)))) - 1
	return r.lat[max(0, min(i, len(r.lat)-1))]
}

func (r benchResult) String() string {
	rate := 0.0
	if r.elapsed > 0 {
		rate = float64(r.n) / r.elapsed.Seconds()
	}
	s := fmt.Sprintf("%-7s %9.1f ops/s  p50 %7s  p95 %7s  p99 %7s  errors %d  (n=%d)", r.op, rate,
		fmtDur(r.quantile(.50)), fmtDur(r.quantile(.95)), fmtDur(r.quantile(.99)), r.errors, r.n)
	if r.firstErr != nil {
		s += "  first error: " + r.firstErr.Error()
	}
	return s
}

func fmtDur(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
}

// run drives op with f.clients clients for f.duration (or f.maxOps
// requests) and prints a progress line every second.
func (b *benchEnv) run(ctx context.Context, progress io.Writer, op string, f benchFlags) benchResult {
	ctx, cancel := context.WithTimeout(ctx, f.duration)
	defer cancel()
	var done, failed atomic.Int64
	var mu sync.Mutex
	res := benchResult{op: op}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range f.clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(f.rng, uint64(w)))
			tg := newTextGen(f.rng*7919 + uint64(w))
			bc := &benchConn{base: b.base}
			defer bc.close()
			lat := make([]time.Duration, 0, 4096)
			var firstErr error
			errs := 0
			for ctx.Err() == nil {
				if done.Add(1) > int64(f.maxOps) {
					break
				}
				t0 := time.Now()
				err := b.do(ctx, bc, op, w, rng, tg)
				d := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
						break // cut off by the deadline: not an error of the server
					}
					errs++
					failed.Add(1)
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				lat = append(lat, d)
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errors += errs
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			mu.Unlock()
		})
	}
	stop := make(chan struct{})
	var pwg sync.WaitGroup
	if f.progress {
		pwg.Go(func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					fmt.Fprint(progress, "\r\033[K")
					return
				case now := <-tick.C:
					el := now.Sub(start)
					n := min(done.Load(), int64(f.maxOps))
					fmt.Fprintf(progress, "\r\033[K%s: %s/%s  %d requests  %.0f/s  errors %d",
						op, el.Truncate(time.Second), f.duration, n, float64(n)/el.Seconds(), failed.Load())
				}
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	close(stop)
	pwg.Wait()
	res.n = len(res.lat)
	slices.Sort(res.lat)
	return res
}

// do runs one request of op on bc.
// Client w acts as requester w and works on its own tickets. The requests
// are those of client/, but the answer is only checked for its status and
// read to the end, not decoded: the load command shares the machine with
// the server, and what it measures is the server.
func (b *benchEnv) do(ctx context.Context, bc *benchConn, op string, w int, rng *rand.Rand, tg *textGen) error {
	tok := b.tokens[w%len(b.tokens)]
	ts := b.tickets[w%len(b.tickets)]
	pick := func() string { return strconv.FormatInt(ts[rng.IntN(len(ts))], 10) }
	switch op {
	case "create":
		body, err := json.Marshal(client.NewTicket{Subject: tg.subject(), Body: tg.body(), Service: b.service})
		if err != nil {
			return err
		}
		return bc.send(ctx, tok, http.MethodPost, "/api/v1/tickets", body, http.StatusCreated)
	case "reply":
		body, err := json.Marshal(map[string]string{"body": tg.body()})
		if err != nil {
			return err
		}
		return bc.send(ctx, tok, http.MethodPost, "/api/v1/tickets/"+pick()+"/messages", body, http.StatusCreated)
	case "get":
		return bc.send(ctx, tok, http.MethodGet, "/api/v1/tickets/"+pick(), nil, http.StatusOK)
	case "list":
		return bc.send(ctx, tok, http.MethodGet, "/api/v1/tickets?limit=50", nil, http.StatusOK)
	case "search":
		return bc.send(ctx, tok, http.MethodGet, "/api/v1/tickets?limit=50&q="+url.QueryEscape(tg.query()), nil, http.StatusOK)
	}
	return fmt.Errorf("unknown operation %q", op)
}

// benchConn is one client's keep-alive connection to the server. Requests
// are written to it and answers read from it directly, as a load generator
// such as wrk does, without http.Transport's connection pool and its two
// goroutines per connection: the load command shares the processors with
// the server, and what it measures is the server.
type benchConn struct {
	base string // http://host:port
	c    net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

func (bc *benchConn) close() {
	if bc.c != nil {
		bc.c.Close()
		bc.c = nil
	}
}

// send makes one request and checks its status; the answer is read to the
// end (so that the connection is reused) and dropped. A request cut off by
// ctx's deadline ends with an error.
func (bc *benchConn) send(ctx context.Context, token, method, path string, body []byte, want int) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, bc.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bc.c == nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", req.URL.Host)
		if err != nil {
			return err
		}
		bc.c, bc.r, bc.w = c, bufio.NewReader(c), bufio.NewWriter(c)
	}
	dl, hasDL := ctx.Deadline()
	if hasDL {
		bc.c.SetDeadline(dl)
	}
	// fail drops the connection; an error after ctx's deadline is that
	// deadline, not a failure of the server.
	fail := func(err error) error {
		bc.close()
		if hasDL && !time.Now().Before(dl) {
			err = context.DeadlineExceeded
		}
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	resp, err := bc.roundTrip(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		bc.close()
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fail(err)
	}
	if resp.Close {
		bc.close()
	}
	return nil
}

func (bc *benchConn) roundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Write(bc.w); err != nil {
		return nil, err
	}
	if err := bc.w.Flush(); err != nil {
		return nil, err
	}
	return http.ReadResponse(bc.r, req)
}

// clockTicks is the unit of the times in /proc/PID/stat (USER_HZ, 100 on
// Linux).
const clockTicks = 100

// processCPU reads the processor time (user and system) a process has
// used, from /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("server CPU: %w", err)
	}
	// The command name (field 2) may hold spaces: count from its ")".
	i := strings.LastIndexByte(string(b), ')')
	fields := strings.Fields(string(b[i+1:]))
	if i < 0 || len(fields) < 13 {
		return 0, fmt.Errorf("server CPU: /proc/%d/stat has an unexpected form", pid)
	}
	var ticks int64
	for _, f := range fields[11:13] { // utime and stime, fields 14 and 15
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("server CPU: /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// processMemory reads the resident set size and its peak, in MiB, from
// /proc/PID/status.
func processMemory(pid int) (rss, hwm float64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("server memory: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("server memory: %s: %w", line, err)
		}
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	return rss, hwm, nil
}

// textGen writes ticket text from a vocabulary with a Zipf distribution:
// a few words occur in most tickets, most words in very few, so that a
// search meets both common and rare terms.
type textGen struct {
	rng  *rand.Rand
	zipf *rand.Zipf
}

// benchVocabulary is the number of distinct words of the generated text.
const benchVocabulary = 20_000

func newTextGen(seed uint64) *textGen {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	return &textGen{rng: rng, zipf: rand.NewZipf(rng, 1.1, 2, benchVocabulary-1)}
}

// syllables make pronounceable words; word(i) is the same for every run.
var syllables = []string{"ka", "ro", "mi", "te", "su", "na", "lo", "pe", "di", "va", "zo", "gu", "be", "fi", "ha", "ny"}

func benchWord(i uint64) string {
	var sb strings.Builder
	sb.WriteString(syllables[i%uint64(len(syllables))])
	i /= uint64(len(syllables))
	for i > 0 {
		sb.WriteString(syllables[i%uint64(len(syllables))])
		i /= uint64(len(syllables))
	}
	if sb.Len() < 4 {
		sb.WriteString("x")
	}
	return sb.String()
}

func (g *textGen) words(n int) string {
	ws := make([]string, n)
	for i := range ws {
		ws[i] = benchWord(g.zipf.Uint64())
	}
	return strings.Join(ws, " ")
}

func (g *textGen) subject() string { return g.words(4 + g.rng.IntN(6)) }
func (g *textGen) body() string    { return g.words(20 + g.rng.IntN(60)) }

// query is one or two words: mostly one, from the same distribution as the
// text, so both common and rare terms are searched for.
func (g *textGen) query() string {
	if g.rng.IntN(4) == 0 {
		return g.words(2)
	}
	return g.words(1)
}

// seedTickets loads n tickets into the database in transactions of batch
// tickets, through the ticket store, with no notifications. They belong to
// 1,000 requesters and 20 units and services, so that visibility filters
// and searches have realistic selectivity.
func seedTickets(ctx context.Context, out io.Writer, d *db.DB, n, batch int, seed uint64) error {
	s := &seedDB{db: d, users: user.NewStore(d), units: unit.NewStore(d), tickets: ticket.NewStore(d, ticket.Options{})}
	return s.seed(ctx, out, n, batch, seed)
}

// seedDB holds the stores the seeding uses (a ticket store without
// notifications).
type seedDB struct {
	db      *db.DB
	users   *user.Store
	units   *unit.Store
	tickets *ticket.Store
}

func (s *seedDB) seed(ctx context.Context, out io.Writer, n, batch int, seed uint64) error {
	start := time.Now()
	importer := auth.Importer("seed")
	var services []*unit.Service
	for i := range 20 {
		slug := fmt.Sprintf("seed-%02d", i)
		u, err := s.units.Unit(ctx, slug)
		if apperr.Is(err, apperr.NotFound) {
			u, err = s.units.CreateUnit(ctx, unit.Unit{Slug: slug, Name: "Seed unit " + strconv.Itoa(i)})
		}
		if err != nil {
			return fmt.Errorf("seed: unit %s: %w", slug, err)
		}
		sv, err := s.units.Service(ctx, slug)
		if apperr.Is(err, apperr.NotFound) {
			sv, err = s.units.CreateService(ctx, unit.Service{Slug: slug, Name: "Seed service " + strconv.Itoa(i), UnitSlug: u.Slug})
		}
		if err != nil {
			return fmt.Errorf("seed: service %s: %w", slug, err)
		}
		services = append(services, sv)
	}
	requesters := make([]int64, 1000)
	for i := range requesters {
		email := fmt.Sprintf("seed-%04d@example.org", i)
		u, err := s.users.GetByEmail(ctx, email)
		if apperr.Is(err, apperr.NotFound) {
			u, err = s.users.Create(ctx, user.NewUser{Email: email, Name: "Seed requester " + strconv.Itoa(i)})
		}
		if err != nil {
			return fmt.Errorf("seed: requester %s: %w", email, err)
		}
		requesters[i] = u.ID
	}
	tg := newTextGen(seed)
	for done := 0; done < n; {
		k := min(batch, n-done)
		nts := make([]ticket.NewTicket, k)
		for i := range nts {
			sv := services[tg.rng.IntN(len(services))]
			nts[i] = ticket.NewTicket{Subject: tg.subject(), Body: tg.body(), ServiceID: sv.ID, UnitID: sv.UnitID,
				RequesterID: requesters[tg.rng.IntN(len(requesters))], Priority: ticket.Priorities[tg.rng.IntN(len(ticket.Priorities))],
				Source: ticket.FromCLI}
		}
		if _, err := s.tickets.CreateMany(ctx, importer, nts); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		done += k
		if done%(20*batch) == 0 || done == n {
			el := time.Since(start)
			fmt.Fprintf(out, "seeded %d/%d tickets in %s (%.0f/s)\n", done, n, el.Truncate(time.Millisecond), float64(done)/el.Seconds())
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := s.tickets.Close(ctx); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if s.db.Engine == db.SQLite {
		// Merge the search index into one segment, as a long-running
		// instance's automatic merging would.
		t0 := time.Now()
		if _, err := s.db.W.ExecContext(ctx, `INSERT INTO search_fts (search_fts) VALUES ('optimize')`); err != nil {
			return fmt.Errorf("seed: optimize the search index: %w", err)
		}
		fmt.Fprintf(out, "optimized the search index in %s\n", time.Since(t0).Truncate(time.Millisecond))
	}
	return nil
}

// watchLag samples the event followers' lag in the server's /metrics every
// half second until the returned function is called, which stops it and
// says, per follower, the largest lag seen and the lag at the end (after
// waiting up to 10 s for the followers to catch up).
func watchLag(ctx context.Context, hc *http.Client, base string) func() string {
	ctx, cancel := context.WithCancel(ctx)
	peak := map[string]float64{}
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			lags, _ := followerLags(ctx, hc, base)
			mu.Lock()
			for k, v := range lags {
				peak[k] = max(peak[k], v)
			}
			mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() string {
		cancel()
		<-done
		var end map[string]float64
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			var err error
			end, err = followerLags(context.Background(), hc, base)
			total := 0.0
			for _, v := range end {
				total += v
			}
			if err != nil || total == 0 || time.Now().After(deadline) {
				break
			}
		}
		names := slices.Sorted(maps.Keys(peak))
		if len(names) == 0 {
			return ""
		}
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = fmt.Sprintf("%s max %.0f, end %.0f", n, peak[n], end[n])
		}
		return "follower lag (events): " + strings.Join(parts, "; ")
	}
}

// pendingDeliveries is followerLags' key for the webhook deliveries not yet
// made: the webhook worker trails its follower.
const pendingDeliveries = "webhook deliveries pending"

// followerLags reads helpmesh_event_follower_lag from the server's
// /metrics, by follower, and the pending webhook deliveries.
func followerLags(ctx context.Context, hc *http.Client, base string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(base, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	const prefix = `helpmesh_event_follower_lag{follower="`
	const pending = `helpmesh_webhook_deliveries{state="pending"} `
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), pending); ok {
			if v, err := strconv.ParseFloat(rest, 64); err == nil {
				out[pendingDeliveries] = v
			}
			continue
		}
		name, rest, ok := strings.Cut(strings.TrimPrefix(sc.Text(), prefix), `"} `)
		if !ok || !strings.HasPrefix(sc.Text(), prefix) {
			continue
		}
		if v, err := strconv.ParseFloat(rest, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}
