package ticket

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

// TestReadCacheSeesOtherProcesses: a ticket that Get keeps in memory is
// read again once another process (the mailgate command, say) changed
// the database, even while this process writes nothing.
func TestReadCacheSeesOtherProcesses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "helpmesh.db")
	w := newWorld(t, dbtest.Open(t, path), Options{IndexDelay: time.Millisecond})
	tk := w.create(t, w.req, NewTicket{ServiceID: w.svc.ID, UnitID: w.svc.UnitID})
	time.Sleep(200 * time.Millisecond) // this process's indexer is done writing
	// The second Get is served from memory.
	for range 2 {
		if got, err := w.s.Get(ctx, w.adm, tk.ID); err != nil || got.Priority != LessUrgent {
			t.Fatalf("Get = %+v, %v", got, err)
		}
	}
	other := NewStore(dbtest.Open(t, path), Options{}) // another process
	urgent := Urgent
	if _, err := other.Update(ctx, w.adm, tk.ID, Update{Priority: &urgent}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); ; {
		got, err := w.s.Get(ctx, w.adm, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Priority == Urgent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("2 s after another process changed it, Get still says priority %s", got.Priority)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
