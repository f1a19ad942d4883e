package ticket

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

// TestStoreSearchAmongMany checks a requester's search when their tickets
// are a few among many that match: the first walk of the index does not
// settle the answer, and the rest is read by ranges of keys (one ticket at
// a time for common words, several tickets together for rarer ones). The
// answer must be what checking each visible ticket gives: own and watched
// tickets, public rows only, newest first, page by page.
func TestStoreSearchAmongMany(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d, Options{})
		ctx := context.Background()
		// 1500 tickets: every 41st is req's, every 97th of the others is
		// watched by req. Every ticket says "alpha" (a common word); every
		// 3rd says "beta"; every 3rd of req's says "gamma" in a second
		// public message; every 2nd of req's has an internal note
		// "delta alpha"; others' tickets say "delta" publicly.
		type tk struct {
			id                                    int64
			mine, watched, beta, gamma, deltaPubl bool
		}
		var all []tk
		for i := range 1500 {
			x := tk{mine: i%41 == 0, beta: i%3 == 0}
			x.watched = !x.mine && i%97 == 0
			body := "alpha words"
			if x.beta {
				body += " beta"
			}
			nt := NewTicket{Subject: fmt.Sprintf("ticket %d", i), Body: body, UnitID: w.ops.ID, RequesterID: w.other.UserID}
			if x.mine {
				nt.RequesterID = w.req.UserID
			} else if i%2 == 0 {
				nt.Body += " delta"
				x.deltaPubl = true
			}
			ids, err := w.s.CreateMany(ctx, w.adm, []NewTicket{nt})
			if err != nil {
				t.Fatal(err)
			}
			x.id = ids[0]
			if x.mine && i%(41*3) == 0 {
				x.gamma = true
				if _, err := w.s.AddMessage(ctx, w.req, x.id, NewMessage{Body: "gamma reply"}); err != nil {
					t.Fatal(err)
				}
			}
			if x.mine && i%(41*2) == 0 {
				if _, err := w.s.AddMessage(ctx, w.staff, x.id, NewMessage{Body: "delta alpha note", Internal: true}); err != nil {
					t.Fatal(err)
				}
			}
			if x.watched {
				if err := w.s.AddWatcher(ctx, w.adm, x.id, "req@example.org", FromAPI); err != nil {
					t.Fatal(err)
				}
			}
			all = append(all, x)
		}
		want := func(match func(tk) bool) []int64 {
			var ids []int64
			for i := len(all) - 1; i >= 0; i-- {
				if x := all[i]; (x.mine || x.watched) && match(x) {
					ids = append(ids, x.id)
				}
			}
			return ids
		}
		search := func(q string, limit int) []int64 {
			t.Helper()
			var out []int64
			f := Filter{Query: q, Limit: limit}
			for range 100 {
				ts, err := w.s.List(ctx, w.req, f)
				if err != nil {
					t.Fatalf("search %q: %v", q, err)
				}
				for _, x := range ts {
					out = append(out, x.ID)
				}
				if len(ts) < limit {
					return out
				}
				f.Before = ts[len(ts)-1].ID
			}
			t.Fatalf("search %q: no end", q)
			return nil
		}
		for _, c := range []struct {
			q     string
			match func(tk) bool
		}{
			{"alpha", func(tk) bool { return true }},
			{"beta", func(x tk) bool { return x.beta }},
			{"alpha beta", func(x tk) bool { return x.beta }},
			{"gamma", func(x tk) bool { return x.gamma }},
			{"gamma alpha", func(tk) bool { return false }}, // not in one message
			{"delta", func(x tk) bool { return x.deltaPubl }},
			{"delta alpha", func(x tk) bool { return x.deltaPubl }},
			{"nothing", func(tk) bool { return false }},
		} {
			exp := want(c.match)
			for _, limit := range []int{1, 7, 50, 200} {
				if got := search(c.q, limit); !slices.Equal(got, exp) {
					t.Errorf("%q by %d: got %v\nwant %v", c.q, limit, got, exp)
				}
			}
		}
		// Staff and admins see every match, newest first.
		for _, p := range []*auth.Principal{w.staff, w.adm} {
			ts, err := w.s.List(ctx, p, Filter{Query: "beta", Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != 3 || ts[0].ID != all[1497].id {
				t.Errorf("%s: %d tickets, first %d", p.Email, len(ts), ts[0].ID)
			}
		}
	})
}

// TestSearchAmongRandom compares searchAmong (SQLite) with checking every
// row, over random search rows: tickets with several messages, internal
// notes, words of every frequency, and random sets of visible tickets.
func TestSearchAmongRandom(t *testing.T) {
	d := dbtest.Open(t, filepath.Join(t.TempDir(), "helpmesh.db"))
	ctx := context.Background()
	s := NewStore(d, Options{})
	rng := rand.New(rand.NewPCG(7, 11))
	// word i is in a row with probability 1/(i+1): "w0" everywhere, "w9"
	// in a tenth of the rows.
	type row struct {
		key   int64
		words map[string]bool
	}
	var rows []row
	const tickets = 3000
	var vals []string
	var a []any
	for id := int64(1); id <= tickets; id++ {
		for seq := range int64(1 + rng.IntN(4)) {
			r := row{key: searchKey(id, seq, seq > 1 && rng.IntN(3) == 0), words: map[string]bool{}}
			text := ""
			for i := range 10 {
				if rng.IntN(i+1) == 0 {
					w := "w" + strconv.Itoa(i)
					r.words[w] = true
					text += " " + w
				}
			}
			rows = append(rows, r)
			vals = append(vals, "(?, ?)")
			a = append(a, r.key, text)
			if len(vals) == 400 {
				if _, err := d.W.ExecContext(ctx, `INSERT INTO search_fts (rowid, text) VALUES `+strings.Join(vals, ","), a...); err != nil {
					t.Fatal(err)
				}
				vals, a = nil, nil
			}
		}
	}
	if _, err := d.W.ExecContext(ctx, `INSERT INTO search_fts (rowid, text) VALUES `+strings.Join(vals, ","), a...); err != nil {
		t.Fatal(err)
	}
	for n := range 1200 {
		// Visible tickets: a random share, sometimes in clusters.
		share := []int{1, 2, 10, 50, 300, 1000}[n%6]
		var ids []int64
		for id := int64(tickets); id >= 1; id-- {
			if rng.IntN(share) == 0 || (n%3 == 0 && id > tickets-40) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		terms := []string{"w" + strconv.Itoa(rng.IntN(10))}
		if rng.IntN(3) == 0 {
			terms = append(terms, "w"+strconv.Itoa(rng.IntN(10)))
		}
		limit := []int{1, 5, 50, 200}[rng.IntN(4)]
		visible := map[int64]bool{}
		for _, id := range ids {
			visible[id] = true
		}
		var want []int64
		for i := len(rows) - 1; i >= 0; i-- {
			r := rows[i]
			id := r.key >> 20
			if !visible[id] || r.key&1 == 1 || (len(want) > 0 && want[len(want)-1] == id) {
				continue
			}
			all := true
			for _, w := range terms {
				all = all && r.words[w]
			}
			if all {
				want = append(want, id)
			}
		}
		want = want[:min(len(want), limit)]
		got, err := s.searchAmong(ctx, FTS5Query(terms), ids, limit)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("case %d: %v among %d tickets (1 in %d), limit %d:\ngot  %v\nwant %v", n, terms, len(ids), share, limit, got, want)
		}
	}
}
