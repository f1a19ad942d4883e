package connector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/blob"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// The engine (this file and connectors.go, queue.go, send.go, apply.go,
// links.go) keeps the connectors and synchronises the tickets of services
// in the `external` mode with their peers:
//   - the follower "connectors" of the event stream turns helpmesh's
//     changes to such tickets into items of the outbound queue, in the
//     transaction that moves its position (queue.go);
//   - a worker per connector sends the items in order per ticket, the
//     creation first, backing off per peer while it fails (send.go);
//   - the same worker polls the peer every poll interval and applies its
//     changes as the peer actor, in one transaction with the remote ids
//     it applied and the new cursor (apply.go).
//
// A connector is worked by one node at a time: the worker leases its row.

// Tickets is what the engine needs of package ticket: reads for sending,
// and the one write paths for applying the peer's changes.
type Tickets interface {
	Get(ctx context.Context, p *auth.Principal, id int64) (*ticket.Ticket, error)
	FirstMessage(ctx context.Context, ticketID int64) (*ticket.Message, error)
	Message(ctx context.Context, id int64) (*ticket.Message, error)
	MessageFiles(ctx context.Context, id int64) ([]ticket.Attachment, error)
	Briefs(ctx context.Context, ids []int64) (map[int64]ticket.Brief, error)
	AddMessageTx(ctx context.Context, q db.Querier, p *auth.Principal, ticketID int64, nm ticket.NewMessage) (int64, error)
	UpdateTx(ctx context.Context, q db.Querier, p *auth.Principal, id int64, u ticket.Update) error
}

// Services lists the service catalogue (package unit): a service's mode
// and connector decide whether its tickets are synchronised.
type Services interface {
	Services(ctx context.Context) ([]*unit.Service, error)
}

// URLChecker checks an outbound URL against the allow-list (package
// outbound).
type URLChecker interface {
	CheckURL(ctx context.Context, raw string) error
}

// Options configures an Engine.
type Options struct {
	Kinds    Kinds
	Tickets  Tickets
	Services Services
	Checker  URLChecker
	// Client sends every peer's requests (package outbound's).
	Client *http.Client
	// Blobs stores and reads the files of messages; without it, files are
	// neither sent nor received.
	Blobs blob.Store
	// MaxFile bounds one file received from a peer (default 10 MiB).
	MaxFile int64
	// Instance is this helpmesh's public base URL (Config.Instance).
	Instance string
	Log      *slog.Logger
	Now      func() time.Time
	// BackoffBase is the wait after a peer's first failure (default 1s);
	// it doubles at each failure in a row up to BackoffMax (default 5m).
	// A successful poll ends the backoff at once.
	BackoffBase, BackoffMax time.Duration
	// MaxAttempts is how often an item is tried before it is dead
	// (default 30).
	MaxAttempts int
	// ReconcileInterval is the time between two reconciliation passes of
	// a connector (default DefaultReconcileInterval, nightly): see
	// reconcile.go.
	ReconcileInterval time.Duration
	// Tick is how often Run looks for work (default 1s); the follower
	// wakes it when it queues items.
	Tick time.Duration
}

// Engine keeps the connectors and synchronises their tickets.
type Engine struct {
	db   *db.DB
	opts Options
	node string // this process's name on the leases
	wake chan struct{}

	mu    sync.Mutex
	peers map[string]cachedPeer // by connector name
	busy  map[int64]bool        // connectors this process works right now
	// leases are the connectors this node holds, until when.
	leases map[int64]time.Time

	// queued is set by the follower's Commit when it queued items, for
	// committed (the follower's batches run one at a time).
	queued atomic.Bool

	// beforeCommit, when set (tests), runs in the poll's transaction just
	// before it commits: an error is a crash between Poll and commit.
	beforeCommit func() error
}

type cachedPeer struct {
	updated time.Time
	peer    Peer
}

// New returns the engine of d.
func New(d *db.DB, opts Options) *Engine {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 5 * time.Minute
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 30
	}
	if opts.ReconcileInterval <= 0 {
		opts.ReconcileInterval = DefaultReconcileInterval
	}
	if opts.Tick <= 0 {
		opts.Tick = time.Second
	}
	if opts.MaxFile <= 0 {
		opts.MaxFile = 10 << 20
	}
	opts.Kinds = maps.Clone(opts.Kinds)
	if opts.Kinds == nil {
		opts.Kinds = Kinds{}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Engine{db: d, opts: opts, node: hex.EncodeToString(b[:]), wake: make(chan struct{}, 1),
		peers: map[string]cachedPeer{}, busy: map[int64]bool{}, leases: map[int64]time.Time{}}
}

func (e *Engine) now() time.Time { return e.opts.Now().UTC() }

// Wake makes Run look for work now.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// SetKind registers (or replaces) the constructor of a kind of peer; the
// connectors of that kind are built with it from their next request on.
// The composition root passes its kinds in Options; tests give fakes here.
func (e *Engine) SetKind(kind string, mk func(Config) (Peer, error)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.Kinds[kind] = mk
	clear(e.peers)
}

// backoff is the wait after the n-th failure in a row.
func (e *Engine) backoff(n int) time.Duration {
	d := e.opts.BackoffBase
	for i := 1; i < n && d < e.opts.BackoffMax; i++ {
		d *= 2
	}
	return min(d, e.opts.BackoffMax)
}

// peer returns the Peer of c, built by its kind's constructor (and kept
// until c changes).
func (e *Engine) peer(c *Connector) (Peer, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cp, ok := e.peers[c.Name]; ok && cp.updated.Equal(c.updatedAt) {
		return cp.peer, nil
	}
	mk, ok := e.opts.Kinds[c.Kind]
	if !ok {
		return nil, fmt.Errorf("connector %s: the kind %s is not built into this helpmesh", c.Name, c.Kind)
	}
	p, err := mk(c.config(e.opts.Client, e.opts.Instance))
	if err != nil {
		return nil, fmt.Errorf("connector %s: %w", c.Name, err)
	}
	e.peers[c.Name] = cachedPeer{updated: c.updatedAt, peer: p}
	return p, nil
}

// leaseFor is how long a node keeps a connector it works.
const leaseFor = 2 * time.Minute

// lease takes or renews this node's lease on connector id; false when
// another node holds it. A lease with more than half its time left is
// not renewed (no write at every tick).
func (e *Engine) lease(ctx context.Context, id int64) (bool, error) {
	now := e.now()
	e.mu.Lock()
	until, held := e.leases[id]
	e.mu.Unlock()
	if held && until.Sub(now) > leaseFor/2 {
		return true, nil
	}
	res, err := e.db.W.ExecContext(ctx, `UPDATE connectors SET lease_owner = $1, lease_until = $2
		WHERE id = $3 AND (lease_owner = $1 OR lease_until IS NULL OR lease_until < $4)`, e.node, now.Add(leaseFor), id, now)
	if err != nil {
		return false, fmt.Errorf("connector: lease: %w", err)
	}
	n, err := res.RowsAffected()
	e.mu.Lock()
	defer e.mu.Unlock()
	if n == 1 && err == nil {
		e.leases[id] = now.Add(leaseFor)
	} else {
		delete(e.leases, id)
	}
	return n == 1, err
}

// Run works the connectors until ctx ends: for each one that is not
// paused, on the node that holds its lease, it sends the due items and
// polls the peer when its interval has passed.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(e.opts.Tick)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		cs, err := e.list(ctx)
		if err != nil && ctx.Err() == nil {
			e.opts.Log.Warn("connectors: listing", "err", err)
		}
		for _, c := range cs {
			if c.Paused || !e.claim(c.ID) {
				continue
			}
			wg.Go(func() {
				defer e.release(c.ID)
				if ok, err := e.lease(ctx, c.ID); err != nil || !ok {
					return
				}
				e.work(ctx, c)
			})
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-e.wake:
		}
	}
}

func (e *Engine) claim(id int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.busy[id] {
		return false
	}
	e.busy[id] = true
	return true
}

func (e *Engine) release(id int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.busy, id)
}

// work does what is due for c: the poll when its interval has passed
// (also while the peer is backed off: a poll that succeeds ends the
// backoff), then the due items, then a reconciliation pass when one is
// due (the first is one interval after the connector is first worked).
func (e *Engine) work(ctx context.Context, c *Connector) {
	now := e.now()
	if c.nextPollAt == nil || !c.nextPollAt.After(now) {
		if err := e.poll(ctx, c); err != nil && ctx.Err() == nil {
			e.opts.Log.Warn("connector: poll", "connector", c.Name, "err", err)
		}
	}
	if _, err := e.sendDue(ctx, c.Name); err != nil && ctx.Err() == nil {
		e.opts.Log.Warn("connector: send", "connector", c.Name, "err", err)
	}
	if err := e.reconcileIfDue(ctx, c.Name); err != nil && ctx.Err() == nil {
		e.opts.Log.Warn("connector: reconcile", "connector", c.Name, "err", err)
	}
}
