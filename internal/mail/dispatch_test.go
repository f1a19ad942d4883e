package mail

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/jobs"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/user"
)

// requester makes a user and returns their principal.
func (e *env) requester(email, name string) *auth.Principal {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.users.Create(ctx, user.NewUser{Email: email, Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := e.users.Principal(ctx, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.R.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestDispatchEvents: every ticket event becomes its mails exactly once,
// through the dispatcher, and leaves no row behind; mails composed from the
// snapshot an event carries equal those composed from the database.
func TestDispatchEvents(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx := context.Background()
		ann := e.requester("ann@uni.example", "Ann Arbor")
		var ids []int64
		for i := range 5 {
			tk, err := e.tickets.Create(ctx, ann, ticket.NewTicket{Subject: "Printer " + string(rune('A'+i)), Body: "Toner é 🖨", UnitID: e.unit.ID})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, tk.ID)
		}
		// With a watcher: no snapshot, read back.
		if _, err := e.tickets.Create(ctx, ann, ticket.NewTicket{Subject: "Watched", Body: "w", UnitID: e.unit.ID, Watchers: []string{"wat@uni.example"}}); err != nil {
			t.Fatal(err)
		}
		staff, err := e.users.Principal(ctx, e.staff.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.tickets.AddMessage(ctx, staff, ids[0], ticket.NewMessage{Body: "Fixed?"}); err != nil {
			t.Fatal(err)
		}
		if n := e.waiting(); n != 7 {
			t.Fatalf("%d events waiting, want 7", n)
		}

		// The first event, composed from its snapshot and from the database.
		evs := e.pending(e.events)
		e.g.composeEvents(ctx, evs)
		first := evs[0]
		if first.err != nil || first.ev.Ticket == nil || first.ev.Message == nil {
			t.Fatalf("first event: err %v, snapshot %v %v", first.err, first.ev.Ticket, first.ev.Message)
		}
		if evs[5].ev.Ticket != nil || evs[6].ev.Ticket != nil {
			t.Error("an event with watchers or a reply carried a snapshot")
		}
		bare := first.ev
		bare.Ticket, bare.Message = nil, nil
		fromDB, err := e.g.notify(ctx, bare, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(first.mails) != 2 || len(fromDB) != len(first.mails) {
			t.Fatalf("mails from the snapshot %d, from the database %d, want 2", len(first.mails), len(fromDB))
		}
		varying := regexp.MustCompile(`(?m)^(Message-ID|Date): .*\r\n`)
		for i := range fromDB {
			a := varying.ReplaceAll(first.mails[i].raw, nil)
			b := varying.ReplaceAll(fromDB[i].raw, nil)
			if !bytes.Equal(a, b) {
				t.Errorf("mail %d differs:\nsnapshot:\n%s\ndatabase:\n%s", i, a, b)
			}
		}

		// Told once: a second dispatcher (another node) that composed the
		// same batch while the first told it records nothing.
		o := e.g.opts
		o.Events = event.New(e.db, event.Options{})
		other, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		otherLog := event.New(e.db, event.Options{})
		var mails int
		otherLog.Follow(follower, func(ctx context.Context, evs []event.Event) (event.Commit, error) {
			commit, err := other.tell(ctx, evs)
			n, err2 := e.g.DispatchDue(ctx)
			if err2 != nil || n != 7 {
				t.Fatalf("DispatchDue = %d, %v; want 7", n, err2)
			}
			mails = e.count(`SELECT COUNT(*) FROM outbox`)
			return commit, err
		}, event.FollowOptions{FromStart: true})
		if n, err := otherLog.Step(ctx, follower); err != nil || n != 0 {
			t.Errorf("the late dispatcher recorded %d events, %v; want 0", n, err)
		}
		// 6 auto-replies and 6 notices to the unit's member, 1 reply to ann.
		if mails != 13 {
			t.Errorf("%d mails, want 13", mails)
		}
		if n, err := e.g.DispatchDue(ctx); err != nil || n != 0 {
			t.Errorf("second DispatchDue = %d, %v", n, err)
		}
		if got := e.count(`SELECT COUNT(*) FROM outbox`); got != mails {
			t.Errorf("%d mails after the late dispatcher, want %d", got, mails)
		}
		if n := e.waiting(); n != 0 {
			t.Errorf("%d events left", n)
		}
		if n := e.count(`SELECT COUNT(*) FROM jobs WHERE kind = $1`, JobNotify); n != 0 {
			t.Errorf("%d notify jobs, want none", n)
		}
	})
}

// TestDispatchFailures: an event that cannot be read goes to the job queue,
// which fails it for an administrator to see; one whose mails cannot be
// stored is retried by the job queue, and the events beside it in its batch
// are told at once.
func TestDispatchFailures(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	if _, err := e.db.W.ExecContext(ctx, `INSERT INTO events (type, at, ticket_id, data) VALUES ('ticket.created', $1, 1, 'not json')`, time.Now()); err != nil {
		t.Fatal(err)
	}
	// Mail to bob cannot be stored for now.
	if _, err := e.db.W.ExecContext(ctx, `CREATE TRIGGER no_bob BEFORE INSERT ON outbox WHEN NEW.rcpt = 'bob@uni.example'
		BEGIN SELECT RAISE(ABORT, 'bob is out'); END`); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"ann", "bob", "cid"} {
		p := e.requester(who+"@uni.example", who)
		if _, err := e.tickets.Create(ctx, p, ticket.NewTicket{Subject: "Hi from " + who, Body: "x", UnitID: e.unit.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := e.g.DispatchDue(ctx); err != nil || n != 4 {
		t.Fatalf("DispatchDue = %d, %v; want 4", n, err)
	}
	rcpts := func() map[string]int {
		m := map[string]int{}
		for _, o := range e.outbox() {
			m[o.To]++
		}
		return m
	}
	if got := rcpts(); got["ann@uni.example"] != 1 || got["cid@uni.example"] != 1 || got["bob@uni.example"] != 0 || got["staff@uni.example"] != 2 {
		t.Errorf("outbox after the dispatch: %v", got)
	}
	if n := e.waiting(); n != 0 {
		t.Errorf("%d events left", n)
	}
	if n := e.count(`SELECT COUNT(*) FROM jobs WHERE kind = $1 AND state = 'pending'`, JobNotify); n != 2 {
		t.Fatalf("%d notify jobs, want 2 (the bad payload, bob's)", n)
	}
	if _, err := e.db.W.ExecContext(ctx, `DROP TRIGGER no_bob`); err != nil {
		t.Fatal(err)
	}
	e.work()
	if got := rcpts(); got["bob@uni.example"] != 1 || got["staff@uni.example"] != 3 {
		t.Errorf("outbox after the retry: %v", got)
	}
	if n := e.count(`SELECT COUNT(*) FROM jobs WHERE kind = $1 AND state = 'failed'`, JobNotify); n != 1 {
		t.Errorf("%d failed notify jobs, want 1 (the bad payload)", n)
	}
}

// TestSnapshots: a snapshot is taken once and only for its own event, and
// the store of them is bounded.
func TestSnapshots(t *testing.T) {
	s := newSnapshots()
	tk := &ticket.Ticket{ID: 7}
	m := &ticket.Message{ID: 70, Body: "hello"}
	k := s.put(tk, m)
	if k == 0 {
		t.Fatal("no key")
	}
	if got, _ := s.take(k, ticket.Event{TicketID: 8, MessageID: 70}); got != nil {
		t.Error("a snapshot was taken for another ticket")
	}
	k = s.put(tk, m)
	if got, gm := s.take(k, ticket.Event{TicketID: 7, MessageID: 70}); got != tk || gm != m {
		t.Error("the snapshot was not returned")
	}
	if got, _ := s.take(k, ticket.Event{TicketID: 7, MessageID: 70}); got != nil {
		t.Error("a snapshot was taken twice")
	}
	if s.bytes != 0 || len(s.m) != 0 {
		t.Errorf("left: %d entries, %d bytes", len(s.m), s.bytes)
	}
	big := &ticket.Message{Body: string(make([]byte, snapMaxBytes/2+1))}
	if s.put(tk, big) == 0 {
		t.Error("the first big message was refused")
	}
	if s.put(tk, big) != 0 {
		t.Error("more than snapMaxBytes kept")
	}
	for range snapMax {
		s.put(tk, nil)
	}
	if len(s.m) > snapMax {
		t.Errorf("%d snapshots kept, bound %d", len(s.m), snapMax)
	}
	// Left behind by rolled-back transactions: swept after snapTTL.
	for k, v := range s.m {
		v.at = v.at.Add(-2 * snapTTL)
		s.m[k] = v
	}
	s.swept = time.Time{}
	s.put(tk, nil)
	if len(s.m) != 1 || s.bytes != 0 {
		t.Errorf("after the sweep: %d entries, %d bytes", len(s.m), s.bytes)
	}
}

// TestDispatchRateLimit: the dispatcher finds recipients at the rate limit
// in one look for its batch; their mails are suppressed without a count in
// the writer, and the others are still counted, on both engines.
func TestDispatchRateLimit(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn, func(o *Options) { o.RateLimit = 3 })
		ctx := context.Background()
		ann := e.requester("ann@uni.example", "Ann")
		open := func(n int) {
			for i := range n {
				if _, err := e.tickets.Create(ctx, ann, ticket.NewTicket{Subject: fmt.Sprint("n", i), Body: "x"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		states := func() map[string]int {
			m := map[string]int{}
			for _, o := range e.outbox() {
				if o.To == "ann@uni.example" {
					m[o.State]++
					if o.State == "suppressed" && !strings.Contains(o.LastError, "rate limit: 3 mails") {
						t.Errorf("suppressed with %q", o.LastError)
					}
				}
			}
			return m
		}
		open(2)
		e.work()
		// 2 held; in the next batch ann is under the limit when looked at,
		// so the writer counts: 1 more held, then suppressed.
		open(3)
		evs := e.pending(e.events)
		e.g.composeEvents(ctx, evs)
		for _, ev := range evs {
			if len(ev.mails) != 1 || ev.mails[0].over {
				t.Fatalf("mails %+v: want one, not found over the limit", ev.mails)
			}
		}
		e.work()
		if got := states(); got["held"] != 3 || got["suppressed"] != 2 {
			t.Errorf("after 5 tickets: %v", got)
		}
		// Now ann is found at the limit.
		open(2)
		evs = e.pending(e.events)
		e.g.composeEvents(ctx, evs)
		for _, ev := range evs {
			if len(ev.mails) != 1 || !ev.mails[0].over {
				t.Fatalf("mails %+v: want one, found over the limit", ev.mails)
			}
		}
		e.work()
		if got := states(); got["held"] != 3 || got["suppressed"] != 4 {
			t.Errorf("after 7 tickets: %v", got)
		}
	})
}

// TestDispatchWakesSends: with a relay, the dispatcher wakes the job queue
// after storing mail, so it goes out at once rather than at the queue's
// next poll.
func TestDispatchWakesSends(t *testing.T) {
	s, relay := startSink(t)
	e := newEnv(t, "", func(o *Options) { o.Relay = relay })
	q := jobs.New(e.db, jobs.Options{Poll: time.Hour})
	e.g.Register(q)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond) // the queue's first look, at start, finds nothing
	ann := e.requester("ann@uni.example", "Ann")
	if _, err := e.tickets.Create(ctx, ann, ticket.NewTicket{Subject: "Printer", Body: "x", UnitID: e.unit.ID}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.g.DispatchDue(ctx); err != nil || n != 1 {
		t.Fatalf("DispatchDue = %d, %v", n, err)
	}
	for deadline := time.Now().Add(10 * time.Second); s.n.Load() < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 mails sent 10 s after the dispatch (the queue polls hourly)", s.n.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
