package ticket

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

// searchRows returns the keys of SQLite's search index, ascending.
func searchRows(t *testing.T, d *db.DB) []int64 {
	t.Helper()
	rows, err := d.W.QueryContext(context.Background(), `SELECT rowid FROM search_fts ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []int64
	for rows.Next() {
		var k int64
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestSearchIndexDeferred checks SQLite's deferred search indexing: a
// store whose indexer has not run yet indexes nothing in the writing
// transaction; a search (here by a second store on the same database, as
// another process would) indexes first what is behind and finds it, with
// the same keys as indexing at once gave, and internal notes stay hidden
// from the requester; Close indexes what is left; the timer indexes
// without a search.
func TestSearchIndexDeferred(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, filepath.Join(t.TempDir(), "helpmesh.db"))
	w := newWorld(t, d, Options{IndexDelay: time.Hour})
	t1, err := w.s.Create(ctx, w.req, NewTicket{Subject: "printer smoke", Body: "the printer smokes", UnitID: w.ops.ID})
	if err != nil {
		t.Fatal(err)
	}
	t2, err := w.s.Create(ctx, w.req, NewTicket{Subject: "second", Body: "quota exceeded", UnitID: w.ops.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.AddMessage(ctx, w.staff, t1.ID, NewMessage{Body: "toner secret", Internal: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.AddMessage(ctx, w.req, t1.ID, NewMessage{Body: "still smoking"}); err != nil {
		t.Fatal(err)
	}
	if got := searchRows(t, d); len(got) != 0 {
		t.Fatalf("indexed in the writing transaction: %v", got)
	}

	other := NewStore(d, Options{IndexDelay: time.Hour})
	search := func(s *Store, q string, want ...int64) {
		t.Helper()
		ts, err := s.List(ctx, w.req, Filter{Query: q})
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, x := range ts {
			got = append(got, x.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("search %q: got %v, want %v", q, got, want)
		}
	}
	search(other, "smoking", t1.ID)
	search(other, "quota", t2.ID)
	search(other, "toner") // internal: not for the requester
	staffHits, err := other.List(ctx, w.staff, Filter{Query: "toner"})
	if err != nil || len(staffHits) != 1 || staffHits[0].ID != t1.ID {
		t.Fatalf("staff search for an internal note: %v, %v", staffHits, err)
	}
	want := []int64{searchKey(t1.ID, 0, false), searchKey(t1.ID, 1, false), searchKey(t1.ID, 2, true), searchKey(t1.ID, 3, false),
		searchKey(t2.ID, 0, false), searchKey(t2.ID, 1, false)}
	if got := searchRows(t, d); !slices.Equal(got, want) {
		t.Fatalf("search keys: got %v, want %v", got, want)
	}

	// Close indexes what is left, once.
	if _, err := w.s.AddMessage(ctx, w.req, t2.ID, NewMessage{Body: "closing words"}); err != nil {
		t.Fatal(err)
	}
	if err := w.s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want = append(want, searchKey(t2.ID, 2, false))
	if got := searchRows(t, d); !slices.Equal(got, want) {
		t.Fatalf("search keys after Close: got %v, want %v", got, want)
	}

	// Without a search, the indexer runs after its delay.
	quick := NewStore(d, Options{IndexDelay: 5 * time.Millisecond})
	t3, err := quick.Create(ctx, w.req, NewTicket{Subject: "third", Body: "later", UnitID: w.ops.ID})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, searchKey(t3.ID, 0, false), searchKey(t3.ID, 1, false))
	deadline := time.Now().Add(5 * time.Second)
	for got := searchRows(t, d); !slices.Equal(got, want); got = searchRows(t, d) {
		if time.Now().After(deadline) {
			t.Fatalf("not indexed after its delay: got %v, want %v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := quick.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSearchIndexBatches checks that a run indexes more messages than one
// statement takes, in order.
func TestSearchIndexBatches(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, filepath.Join(t.TempDir(), "helpmesh.db"))
	w := newWorld(t, d, Options{IndexDelay: time.Hour})
	nts := make([]NewTicket, indexBatch+10)
	for i := range nts {
		nts[i] = NewTicket{Subject: "bulk", Body: "many words", UnitID: w.ops.ID, RequesterID: w.req.UserID}
	}
	ids, err := w.s.CreateMany(ctx, w.adm, nts)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := w.s.List(ctx, w.adm, Filter{Query: "bulk", Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != min(MaxLimit, len(ids)) || ts[0].ID != ids[len(ids)-1] {
		t.Fatalf("search after a long backlog: %d tickets, first %d, want the newest %d", len(ts), ts[0].ID, ids[len(ids)-1])
	}
	if n := len(searchRows(t, d)); n != 2*len(ids) {
		t.Fatalf("%d search rows, want %d", n, 2*len(ids))
	}
}

// TestSearchIndexConcurrent has writers search right after writing, all at
// once: searches that share a run of the indexer must each still find what
// they wrote.
func TestSearchIndexConcurrent(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, filepath.Join(t.TempDir(), "helpmesh.db"))
	w := newWorld(t, d, Options{IndexDelay: time.Hour})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				word := fmt.Sprintf("zq%dx%d", g, i)
				tk, err := w.s.Create(ctx, w.req, NewTicket{Subject: "concurrent " + word, Body: "body " + word, UnitID: w.ops.ID})
				if err != nil {
					t.Error(err)
					return
				}
				ts, err := w.s.List(ctx, w.req, Filter{Query: word})
				if err != nil || len(ts) != 1 || ts[0].ID != tk.ID {
					t.Errorf("search %s right after writing ticket %d: %v %v", word, tk.ID, ts, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
