package notifybus_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/notifybus"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// start runs b until the test ends and waits until it listens.
func start(t *testing.T, b *notifybus.Bus) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-b.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the bus does not listen")
	}
}

// counter subscribes to topic on b and returns a channel told of each
// notice.
func counter(b *notifybus.Bus, topic string) chan struct{} {
	c := make(chan struct{}, 64)
	b.Subscribe(topic, func() { c <- struct{}{} })
	return c
}

// drain empties c (the notices every subscriber gets when a listen starts).
func drain(c chan struct{}) {
	for {
		select {
		case <-c:
		case <-time.After(100 * time.Millisecond):
			return
		}
	}
}

func expect(t *testing.T, c chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(2 * time.Second):
		t.Fatalf("no notice: %s", what)
	}
}

func expectNone(t *testing.T, c chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
		t.Fatalf("unexpected notice: %s", what)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestTwoProcesses: on PostgreSQL a notice published by one process (its
// own database pool) reaches the other's subscribers of that topic only,
// when the transaction commits, never when it rolls back; after the
// listening connection is killed, the bus listens again and tells every
// subscriber to look (what was sent meanwhile is lost).
func TestTwoProcesses(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	a, b := notifybus.New(dbtest.Open(t, dsn), nil), notifybus.New(dbtest.Open(t, dsn), nil)
	units, principals := counter(b, notifybus.Units), counter(b, notifybus.Principals)
	start(t, a)
	start(t, b)
	drain(units)
	drain(principals)
	ctx := context.Background()
	a.Announce(notifybus.Units)
	expect(t, units, "announced on the other process")
	expectNone(t, principals, "another topic")

	da := dbtest.Open(t, dsn)
	err := da.Tx(ctx, func(q db.Querier) error {
		if err := a.Publish(ctx, q, notifybus.Units); err != nil {
			return err
		}
		expectNone(t, units, "before the commit")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, units, "after the commit")
	rollback := errors.New("rolled back")
	err = da.Tx(ctx, func(q db.Querier) error {
		if err := a.Publish(ctx, q, notifybus.Units); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	expectNone(t, units, "after a rollback")

	// Kill b's listening connection: b listens again and tells its
	// subscribers to look, then receives as before.
	if _, err := da.W.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN `+notifybus.Channel+`' AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	expect(t, units, "after listening again")
	expect(t, principals, "after listening again")
	// a's connection was killed too: both listen again.
	time.Sleep(500 * time.Millisecond)
	drain(units)
	a.Announce(notifybus.Units)
	expect(t, units, "announced after the reconnection")

	if err := a.Publish(ctx, nil, "bad topic"); err == nil {
		t.Error("a topic with a space was published")
	}
}

// TestOneProcess: on SQLite, notices go to this process's subscribers.
func TestOneProcess(t *testing.T) {
	b := notifybus.New(dbtest.Open(t, filepath.Join(t.TempDir(), "helpmesh.db")), nil)
	events := counter(b, notifybus.Events)
	start(t, b)
	b.Announce(notifybus.Events)
	expect(t, events, "in the same process")
	if err := b.Publish(context.Background(), nil, ""); err == nil {
		t.Error("an empty topic was published")
	}
}
