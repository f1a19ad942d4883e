// Package notifybus tells every helpmesh process on one database that
// something changed: the event stream has new numbered events, a cache
// (units, token principals) is stale. On PostgreSQL it is LISTEN/NOTIFY on
// one channel, listened to on a dedicated connection that is opened again
// with backoff when it breaks; on SQLite, where one process serves, it is
// in-process only.
//
// A notice is a topic and nothing else: receivers look in the database
// for what changed. A notice may be lost (a connection that broke, a
// process that was starting); receivers keep a short poll or cache
// expiry as a fallback, so a notice only makes things happen sooner.
package notifybus

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/jackc/pgx/v5/stdlib"
)

// Channel is the PostgreSQL channel every process listens on.
const Channel = "helpmesh"

// The topics helpmesh publishes.
const (
	// Events: a process numbered new events; followers look now.
	Events = "events"
	// Units: units or services changed; drop cached lookups.
	Units = "units"
	// Principals: tokens, roles, memberships or users changed; drop
	// cached token principals.
	Principals = "principals"
)

// Bus publishes notices and hands the ones it receives to subscribers.
type Bus struct {
	db  *db.DB
	log *slog.Logger

	mu    sync.Mutex
	subs  map[string][]func()
	ready chan struct{} // closed once the first LISTEN is in place
	once  sync.Once
}

// New returns the bus of d; log may be nil.
func New(d *db.DB, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bus{db: d, log: log, subs: map[string][]func(){}, ready: make(chan struct{})}
}

// Subscribe calls fn at each notice of topic, from any process (this one
// included). fn runs on the bus's goroutine and should be quick.
func (b *Bus) Subscribe(topic string, fn func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[topic] = append(b.subs[topic], fn)
}

// Publish sends a notice of topic. With a transaction q the notice is
// delivered when q commits (and never if it rolls back); with q nil, at
// once. On SQLite it goes to this process's subscribers at once.
func (b *Bus) Publish(ctx context.Context, q db.Querier, topic string) error {
	if !validTopic(topic) {
		return fmt.Errorf("notifybus: invalid topic %q", topic)
	}
	if b.db.Engine != db.Postgres {
		b.deliver(topic)
		return nil
	}
	if q == nil {
		q = b.db.W
	}
	if _, err := q.ExecContext(ctx, `SELECT pg_notify($1, $2)`, Channel, topic); err != nil {
		return fmt.Errorf("notifybus: notify %s: %w", topic, err)
	}
	return nil
}

// Announce publishes topic at once, after a change has committed, and
// logs a failure: the receivers' fallback (poll, cache expiry) covers it.
func (b *Bus) Announce(topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Publish(ctx, nil, topic); err != nil {
		b.log.Warn("announcing a change to other nodes", "topic", topic, "err", err)
	}
}

func validTopic(t string) bool {
	return t != "" && len(t) <= 64 && !strings.ContainsAny(t, " \x00")
}

func (b *Bus) deliver(topic string) {
	b.mu.Lock()
	fns := append([]func(){}, b.subs[topic]...)
	b.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Ready is closed once this process listens (at once on SQLite).
func (b *Bus) Ready() <-chan struct{} {
	if b.db.Engine != db.Postgres {
		b.once.Do(func() { close(b.ready) })
	}
	return b.ready
}

// Run listens until ctx ends (PostgreSQL; on SQLite it waits for ctx). A
// broken connection is opened again after a backoff of 100 ms doubling to
// 10 s; every subscriber is then called once, since notices sent while
// nobody listened are lost.
func (b *Bus) Run(ctx context.Context) error {
	if b.db.Engine != db.Postgres {
		b.Ready()
		<-ctx.Done()
		return ctx.Err()
	}
	wait := 100 * time.Millisecond
	for {
		err := b.listen(ctx, func() { wait = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.log.Warn("listening for other nodes' notices; connecting again", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// listen holds one connection out of the pool, LISTENs on it and delivers
// what arrives until the connection or ctx ends. The connection is then
// discarded, never handed back to the pool with its LISTEN.
func (b *Bus) listen(ctx context.Context, connected func()) error {
	conn, err := b.db.W.Conn(ctx)
	if err != nil {
		return fmt.Errorf("notifybus: connect: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("notifybus: unexpected driver connection %T", dc)
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, `LISTEN `+Channel); err != nil {
			return errors.Join(driver.ErrBadConn, fmt.Errorf("notifybus: listen: %w", err))
		}
		connected()
		b.once.Do(func() { close(b.ready) })
		// Notices sent while nobody listened are lost: tell every
		// subscriber to look.
		b.deliverAll()
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				return errors.Join(driver.ErrBadConn, fmt.Errorf("notifybus: wait: %w", err))
			}
			if n.Channel == Channel {
				b.deliver(n.Payload)
			}
		}
	})
	return err
}

func (b *Bus) deliverAll() {
	b.mu.Lock()
	var fns []func()
	for _, s := range b.subs {
		fns = append(fns, s...)
	}
	b.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}
