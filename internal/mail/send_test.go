package mail

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

// fakeRelay is an SMTP relay that takes every mail, counts the connections
// it accepted and can drop all of them at once, as a relay does with
// connections left idle too long.
type fakeRelay struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	dials int
	mails int
}

func newFakeRelay(t *testing.T) *fakeRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRelay{ln: ln}
	go r.serve()
	t.Cleanup(func() { _ = ln.Close(); r.dropAll() })
	return r
}

func (r *fakeRelay) url() string { return "smtp://" + r.ln.Addr().String() }

func (r *fakeRelay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.conns = append(r.conns, c)
		r.dials++
		r.mu.Unlock()
		go r.session(c)
	}
}

func (r *fakeRelay) session(c net.Conn) {
	defer c.Close()
	in := bufio.NewReader(c)
	say := func(s string) bool { _, err := c.Write([]byte(s + "\r\n")); return err == nil }
	if !say("220 fake.example ESMTP") {
		return
	}
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch verb {
		case "EHLO", "HELO":
			say("250 fake.example")
		case "DATA":
			say("354 go on")
			for {
				l, err := in.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			r.mu.Lock()
			r.mails++
			r.mu.Unlock()
			say("250 queued")
		case "QUIT":
			say("221 bye")
			return
		default: // MAIL, RCPT, RSET, NOOP
			say("250 ok")
		}
	}
}

// dropAll closes every connection the relay holds.
func (r *fakeRelay) dropAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.conns = nil
}

func (r *fakeRelay) counts() (dials, mails int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dials, r.mails
}

var relayTestMail = []byte("From: a@x.example\r\nTo: b@y.example\r\nSubject: t\r\n\r\nbody\r\n")

// TestSenderPooledConnectionGetsFreshDeadline sends twice on one pooled
// connection with a pause longer than the relay timeout between: the
// second mail must go on the same connection, not fail on the deadline set
// when it was dialled and fall back to a new one.
func TestSenderPooledConnectionGetsFreshDeadline(t *testing.T) {
	r := newFakeRelay(t)
	s, err := newSender(r.url(), "helpmesh.test", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Send(ctx, "a@x.example", "b@y.example", relayTestMail); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := s.Send(ctx, "a@x.example", "b@y.example", relayTestMail); err != nil {
		t.Fatal(err)
	}
	if dials, mails := r.counts(); dials != 1 || mails != 2 {
		t.Errorf("relay saw %d connections and %d mails, want 1 connection carrying 2 mails", dials, mails)
	}
}

// TestSenderSkipsEveryStaleConnection fills the pool with three connections
// the relay then closes: one Send must get past all three and deliver on a
// new connection.
func TestSenderSkipsEveryStaleConnection(t *testing.T) {
	r := newFakeRelay(t)
	s, err := newSender(r.url(), "helpmesh.test", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var held []*smtp.Client
	for range 3 {
		c, _, err := s.conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for _, c := range held {
		s.put(c)
	}
	r.dropAll()
	time.Sleep(50 * time.Millisecond) // let the closes reach the client side
	if err := s.Send(ctx, "a@x.example", "b@y.example", relayTestMail); err != nil {
		t.Fatalf("send after the relay dropped the pooled connections: %v", err)
	}
	if dials, mails := r.counts(); dials != 4 || mails != 1 {
		t.Errorf("relay saw %d connections and %d mails, want 4 and 1", dials, mails)
	}
}
