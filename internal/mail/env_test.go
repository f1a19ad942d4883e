package mail

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/blob"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/jobs"
	"github.com/helpmesh/helpmesh/internal/setting"
	"github.com/helpmesh/helpmesh/internal/testenv"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// env is a helpmesh instance reduced to what the gateway needs.
type env struct {
	t       testing.TB
	db      *db.DB
	users   *user.Store
	units   *unit.Store
	tickets *ticket.Store
	jobs    *jobs.Queue
	events  *event.Log
	blobDir string // root of the blob store
	g       *Gateway
	unit    *unit.Unit // support@DOMAIN, comment: support-comment@DOMAIN
	staff   *user.User // member of unit
	admin   *auth.Principal
	now     time.Time
}

const testDomain = "helpmesh.test"

// testAuthServID is the authserv-id of the MTA the test gateway trusts.
const testAuthServID = "mx.helpmesh.test"

// dkimPass is the Authentication-Results header of the trusted MTA for a
// mail whose DKIM signature of domain passed.
func dkimPass(domain string) string {
	return "Authentication-Results: " + testAuthServID + "; dkim=pass (2048-bit key) header.d=" + domain + " header.s=sel"
}

type envOpt func(*Options)

func newEnv(t testing.TB, dsn string, opts ...envOpt) *env {
	t.Helper()
	ctx := context.Background()
	if dsn == "" {
		dsn = filepath.Join(t.TempDir(), "hm.db")
	}
	d := dbtest.Open(t, dsn)
	blobDir := filepath.Join(t.TempDir(), "blobs")
	blobs, err := blob.NewDir(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: d, users: user.NewStore(d), units: unit.NewStore(d), blobDir: blobDir, now: time.Now().UTC()}
	var gw atomic.Pointer[Gateway]
	e.events = event.New(d, event.Options{})
	e.tickets = ticket.NewStore(d, ticket.Options{Emit: func(ctx context.Context, q db.Querier, ev ticket.Event) error {
		return e.events.Append(ctx, q, ev.Type(), ev.TicketID, gw.Load().EventData(ev))
	}})
	secret, err := LoadSecret(ctx, setting.NewStore(d), "")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{DB: d, Events: e.events, Tickets: e.tickets, Users: e.users, Units: e.units, Blobs: blobs, Domain: testDomain,
		CatchAll: true, BaseURL: "http://hm.example", Secret: secret, AuthServID: testAuthServID}
	for _, f := range opts {
		f(&o)
	}
	e.g, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	gw.Store(e.g)
	e.jobs = jobs.New(d, jobs.Options{Workers: 8, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond})
	e.g.Register(e.jobs)
	e.unit, err = e.units.CreateUnit(ctx, unit.Unit{Slug: "support", Name: "Support", Email: "support@" + o.Domain, CommentEmail: "support-comment@" + o.Domain})
	if err != nil {
		t.Fatal(err)
	}
	e.staff, err = e.users.Create(ctx, user.NewUser{Email: "staff@uni.example", Name: "Sam Staff"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.units.SetMember(ctx, e.unit.ID, e.staff.ID, auth.UnitMember); err != nil {
		t.Fatal(err)
	}
	e.admin = &auth.Principal{Role: auth.RoleAdmin}
	return e
}

// engines runs fn on SQLite and on PostgreSQL.
func engines(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "") })
	t.Run("postgres", func(t *testing.T) { fn(t, testenv.PostgresDSN(t)) })
}

var seq atomic.Int64

// mail builds a simple message.
func mailMsg(from, to, subject, body string, headers ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <m%d.%d@client.example>\r\nDate: Mon, 2 Jan 2026 10:00:00 +0000\r\n",
		from, to, subject, seq.Add(1), time.Now().UnixNano())
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n")
	return []byte(b.String())
}

func (e *env) deliver(raw []byte, rcpts ...string) Outcome {
	e.t.Helper()
	out, err := e.g.Deliver(context.Background(), Envelope{Source: "test", MailFrom: "x@y", HasMailFrom: true, Rcpts: rcpts}, raw)
	if err != nil {
		e.t.Fatalf("Deliver: %v", err)
	}
	return out
}

// work tells the waiting ticket events and runs the due jobs (sends,
// retried events) until nothing is left.
func (e *env) work() {
	e.t.Helper()
	for {
		n, err := e.g.DispatchDue(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		k, err := e.jobs.RunDue(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if n+k == 0 {
			return
		}
	}
}

// waiting is how many events the gateway has not told yet.
func (e *env) waiting() int64 {
	stats, err := e.events.Stats(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range stats {
		if s.Name == follower {
			return s.Lag
		}
	}
	e.t.Fatal("the gateway does not follow the event stream")
	return 0
}

// pending reads the events the gateway has not told yet.
func (e *env) pending(l *event.Log) []*pendingEvent {
	e.t.Helper()
	ctx := context.Background()
	var c int64
	if err := e.db.R.QueryRowContext(ctx, `SELECT position FROM event_followers WHERE name = $1`, follower).Scan(&c); err != nil {
		e.t.Fatal(err)
	}
	evs, err := l.Read(ctx, c, eventBatch)
	if err != nil {
		e.t.Fatal(err)
	}
	return pendingOf(evs)
}

func (e *env) outbox() []OutboxEntry {
	e.t.Helper()
	es, err := e.g.Outbox(context.Background(), "", 0, 500)
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

func (e *env) messages(id int64) []*ticket.Message {
	e.t.Helper()
	ms, err := e.tickets.Messages(context.Background(), e.admin, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}
