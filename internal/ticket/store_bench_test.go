package ticket

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// benchStore is a store with a unit, a requester, a staff member and
// benchTickets tickets of Zipf-distributed text.
type benchStore struct {
	s                *Store
	requester, staff *auth.Principal
	ids              []int64
	unitID           int64
}

const benchTickets = 5000

// benchWord draws from a Zipf-ish vocabulary: word i with probability ~1/i^1.1.
func benchWord(z *rand.Zipf) string { return fmt.Sprintf("w%x", z.Uint64()) }

func newBenchStore(b *testing.B, d *db.DB) *benchStore {
	b.Helper()
	ctx := context.Background()
	if _, err := d.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	var reqID, staffID, unitID int64
	for _, q := range []struct {
		sql string
		id  *int64
	}{
		{`INSERT INTO users (email, name, created_at, updated_at) VALUES ('r@example.org', 'R', '2024-01-01', '2024-01-01') RETURNING id`, &reqID},
		{`INSERT INTO users (email, name, created_at, updated_at) VALUES ('s@example.org', 'S', '2024-01-01', '2024-01-01') RETURNING id`, &staffID},
		{`INSERT INTO units (slug, name, created_at, updated_at) VALUES ('ops', 'Ops', '2024-01-01', '2024-01-01') RETURNING id`, &unitID},
	} {
		if err := d.W.QueryRowContext(ctx, q.sql).Scan(q.id); err != nil {
			b.Fatal(err)
		}
	}
	bs := &benchStore{s: NewStore(d, Options{}), unitID: unitID,
		requester: &auth.Principal{UserID: reqID, Role: auth.RoleUser, Units: map[int64]auth.UnitRole{}},
		staff:     &auth.Principal{UserID: staffID, Role: auth.RoleUser, Units: map[int64]auth.UnitRole{unitID: auth.UnitMember}}}
	rng := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(rng, 1.1, 2, 20000)
	for len(bs.ids) < benchTickets {
		nts := make([]NewTicket, 500)
		for i := range nts {
			nts[i] = NewTicket{Subject: words(rng, z, 6), Body: words(rng, z, 40), UnitID: unitID}
		}
		ids, err := bs.s.CreateMany(ctx, bs.requester, nts)
		if err != nil {
			b.Fatal(err)
		}
		bs.ids = append(bs.ids, ids...)
	}
	return bs
}

func words(rng *rand.Rand, z *rand.Zipf, n int) string {
	ws := make([]string, n)
	for i := range ws {
		ws[i] = benchWord(z)
	}
	return strings.Join(ws, " ")
}

func benchEngines(b *testing.B, fn func(b *testing.B, bs *benchStore)) {
	b.Run("sqlite", func(b *testing.B) {
		d, err := db.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		fn(b, newBenchStore(b, d))
	})
	b.Run("postgres", func(b *testing.B) {
		d, err := db.Open(context.Background(), testenv.PostgresDSN(b))
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		fn(b, newBenchStore(b, d))
	})
}

// BenchmarkStore measures the store's hot operations, 8 goroutines per
// core, on both engines.
func BenchmarkStore(b *testing.B) {
	benchEngines(b, func(b *testing.B, bs *benchStore) {
		ctx := context.Background()
		b.Run("create", func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
				z := rand.NewZipf(rng, 1.1, 2, 20000)
				for pb.Next() {
					if _, err := bs.s.Create(ctx, bs.requester, NewTicket{Subject: words(rng, z, 6), Body: words(rng, z, 40), UnitID: bs.unitID}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run("get", func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
				for pb.Next() {
					if _, err := bs.s.Get(ctx, bs.requester, bs.ids[rng.IntN(len(bs.ids))]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run("list", func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := bs.s.List(ctx, bs.staff, Filter{Limit: 50}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		for _, who := range []string{"requester", "staff"} {
			p := bs.requester
			if who == "staff" {
				p = bs.staff
			}
			b.Run("search-"+who, func(b *testing.B) {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
					z := rand.NewZipf(rng, 1.1, 2, 20000)
					for pb.Next() {
						if _, err := bs.s.List(ctx, p, Filter{Query: benchWord(z), Limit: 50}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	})
}
