package ticket

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/jobs"
)

// BenchmarkCreateEmit measures Create with the Emit hook that helpmesh
// installs (a durable job enqueued in the creation's transaction), 8
// goroutines, on both engines. Besides the time per creation it reports
// the CPU per creation of this process and, on PostgreSQL, of the backends
// serving it (read from /proc: the cluster must run on this machine), which
// vary less than the time when other work shares the cores.
func BenchmarkCreateEmit(b *testing.B) {
	benchEngines(b, func(b *testing.B, bs *benchStore) {
		ctx := context.Background()
		s := NewStore(bs.s.db, Options{Emit: func(ctx context.Context, q db.Querier, ev Event) error {
			_, err := jobs.Enqueue(ctx, q, "bench.notify", ev, time.Time{})
			return err
		}})
		backends := func() []int {
			if s.db.Engine != db.Postgres {
				return nil
			}
			rows, err := s.db.R.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
			if err != nil {
				b.Fatal(err)
			}
			pids, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (int, error) {
				var pid int
				return pid, r.Scan(&pid)
			})
			if err != nil {
				b.Fatal(err)
			}
			return pids
		}
		b.SetParallelism(4)
		b.ResetTimer()
		before, pgBefore := selfCPU(), procsCPU(backends())
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
			z := rand.NewZipf(rng, 1.1, 2, 20000)
			for pb.Next() {
				if _, err := s.Create(ctx, bs.requester, NewTicket{Subject: words(rng, z, 6), Body: words(rng, z, 40), UnitID: bs.unitID}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		n := float64(b.N)
		b.ReportMetric(float64(selfCPU()-before)/n/1e3, "cpu-µs/op")
		if s.db.Engine == db.Postgres {
			// Backends that ended meanwhile are not counted: the pool keeps
			// its connections.
			b.ReportMetric(float64(procsCPU(backends())-pgBefore)/n/1e3, "pg-cpu-µs/op")
		}
	})
}

// selfCPU is this process's user and system CPU time in nanoseconds.
func selfCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// procsCPU is the user and system CPU time of processes pids in
// nanoseconds, from /proc (0 for those that are gone).
func procsCPU(pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name in parentheses: utime and stime
		// are the 14th and 15th of the line.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		sum += (u + st) * int64(time.Second) / 100 // USER_HZ
	}
	return sum
}
