package ticket

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// BenchmarkSearch measures searches over a large SQLite store and reports
// their latency (p50, p95) for an administrator, for a requester whose
// tickets are the newest (as in `helpmesh bench`) and for one whose
// tickets are spread over the whole store, one search at a time and eight
// at once. The store is a copy of HELPMESH_BENCH_SEARCH_DATA (a data
// directory seeded by `helpmesh bench --seed 100000 --data DIR`) when set;
// otherwise HELPMESH_BENCH_SEARCH_TICKETS (default 20,000) tickets seeded
// here. Query words come from the vocabulary of `helpmesh bench`.
//
//	HELPMESH_BENCH_SEARCH_DATA=/tmp/sd go test ./internal/ticket -run '^$' -bench Search -benchtime 2000x
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	if src := os.Getenv("HELPMESH_BENCH_SEARCH_DATA"); src != "" {
		if out, err := exec.Command("cp", "-a", filepath.Join(src, "helpmesh.db"), dir).CombinedOutput(); err != nil {
			b.Fatalf("copy %s: %v: %s", src, err, out)
		}
		for _, x := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(filepath.Join(src, "helpmesh.db"+x)); err == nil {
				exec.Command("cp", "-a", filepath.Join(src, "helpmesh.db"+x), dir).Run()
			}
		}
	}
	d, err := db.Open(ctx, filepath.Join(dir, "helpmesh.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	s := NewStore(d, Options{})
	admin := &auth.Principal{UserID: 0, Role: auth.RoleAdmin}
	rng := rand.New(rand.NewPCG(3, 0x9e3779b97f4a7c15))
	zipf := rand.NewZipf(rng, 1.1, 2, 19_999)
	words := func(n int) string {
		ws := make([]string, n)
		for i := range ws {
			ws[i] = searchBenchWord(zipf.Uint64())
		}
		return strings.Join(ws, " ")
	}
	user := func(email string) int64 {
		var id int64
		if err := d.W.QueryRowContext(ctx, `INSERT INTO users (email, name, created_at, updated_at) VALUES ($1, $1, '2024-01-01', '2024-01-01') RETURNING id`, email).Scan(&id); err != nil {
			b.Fatal(err)
		}
		return id
	}
	var unitID int64
	if err := d.W.QueryRowContext(ctx, `INSERT INTO units (slug, name, created_at, updated_at) VALUES ('search-bench', 'Search bench', '2024-01-01', '2024-01-01') RETURNING id`).Scan(&unitID); err != nil {
		b.Fatal(err)
	}
	spreadID, newestID := user("spread@search.bench"), user("newest@search.bench")
	n, _ := s.Count(ctx)
	if n == 0 {
		n, _ = strconv.ParseInt(os.Getenv("HELPMESH_BENCH_SEARCH_TICKETS"), 10, 64)
		if n <= 0 {
			n = 20_000
		}
		others := []int64{user("a@search.bench"), user("b@search.bench"), user("c@search.bench")}
		for done := int64(0); done < n; done += 500 {
			nts := make([]NewTicket, 500)
			for i := range nts {
				nts[i] = NewTicket{Subject: words(4 + rng.IntN(6)), Body: words(20 + rng.IntN(60)), UnitID: unitID, RequesterID: others[rng.IntN(3)]}
				if rng.IntN(500) == 0 {
					nts[i].RequesterID = spreadID
				}
			}
			if _, err := s.CreateMany(ctx, admin, nts); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		// Give the spread requester every 500th ticket.
		if _, err := d.W.ExecContext(ctx, `UPDATE tickets SET requester_id = $1 WHERE id % 500 = 7`, spreadID); err != nil {
			b.Fatal(err)
		}
	}
	nts := make([]NewTicket, 200)
	for i := range nts {
		nts[i] = NewTicket{Subject: words(4 + rng.IntN(6)), Body: words(20 + rng.IntN(60)), UnitID: unitID, RequesterID: newestID}
	}
	if _, err := s.CreateMany(ctx, admin, nts); err != nil {
		b.Fatal(err)
	}
	user2 := func(id int64) *auth.Principal {
		return &auth.Principal{UserID: id, Role: auth.RoleUser, Units: map[int64]auth.UnitRole{}}
	}
	for _, who := range []struct {
		name string
		p    *auth.Principal
	}{{"admin", admin}, {"requester-newest", user2(newestID)}, {"requester-spread", user2(spreadID)}} {
		for _, par := range []int{1, 8} {
			b.Run(who.name+"/clients="+strconv.Itoa(par), func(b *testing.B) {
				lat := make(chan time.Duration, b.N+64)
				b.SetParallelism(max(1, par/2)) // GOMAXPROCS is 2 here
				if par == 1 {
					b.SetParallelism(1)
				}
				run := func(rng *rand.Rand, z *rand.Zipf) {
					q := searchBenchWord(z.Uint64())
					if rng.IntN(4) == 0 {
						q += " " + searchBenchWord(z.Uint64())
					}
					t0 := time.Now()
					if _, err := s.List(ctx, who.p, Filter{Query: q, Limit: 50}); err != nil {
						b.Error(err)
					}
					select {
					case lat <- time.Since(t0):
					default:
					}
				}
				if par == 1 {
					rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
					z := rand.NewZipf(rng, 1.1, 2, 19_999)
					for b.Loop() {
						run(rng, z)
					}
				} else {
					b.RunParallel(func(pb *testing.PB) {
						rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
						z := rand.NewZipf(rng, 1.1, 2, 19_999)
						for pb.Next() {
							run(rng, z)
						}
					})
				}
				close(lat)
				var ls []time.Duration
				for l := range lat {
					ls = append(ls, l)
				}
				slices.Sort(ls)
				if len(ls) > 0 {
					b.ReportMetric(float64(ls[len(ls)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(ls[len(ls)*95/100].Microseconds())/1000, "p95-ms")
				}
			})
		}
	}
}

// searchBenchWord is word i of the vocabulary of `helpmesh bench`.
func searchBenchWord(i uint64) string {
	syll := []string{"ka", "ro", "mi", "te", "su", "na", "lo", "pe", "di", "va", "zo", "gu", "be", "fi", "ha", "ny"}
	var sb strings.Builder
	sb.WriteString(syll[i%16])
	for i /= 16; i > 0; i /= 16 {
		sb.WriteString(syll[i%16])
	}
	if sb.Len() < 4 {
		sb.WriteString("x")
	}
	return sb.String()
}
