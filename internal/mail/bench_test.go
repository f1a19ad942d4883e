package mail

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// BenchmarkSMTPIngest: mail over SMTP at 8 connections into SQLite, each
// creating a ticket or threading into one.
func BenchmarkSMTPIngest(b *testing.B) {
	e := newEnv(b, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := e.g.NewSMTPServer(SMTPOptions{})
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()
	addr := ln.Addr().String()
	rcpt := "support@" + testDomain
	var n atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			c, err := smtp.Dial(addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			for {
				i := n.Add(1)
				if i > int64(b.N) {
					return
				}
				subject := fmt.Sprintf("bench %d", i)
				if i%2 == 0 {
					subject = fmt.Sprintf("Re: [helpmesh #%d] more", (i+1)/4+1) // thread into an earlier ticket
				}
				raw := mailMsg(fmt.Sprintf("user%d@ext.example", w), rcpt, subject, "the body of the message\r\nline two")
				if err := c.Mail(fmt.Sprintf("user%d@ext.example", w)); err != nil {
					b.Error(err)
					return
				}
				if err := c.Rcpt(rcpt); err != nil {
					b.Error(err)
					return
				}
				wc, err := c.Data()
				if err != nil {
					b.Error(err)
					return
				}
				wc.Write(raw)
				if err := wc.Close(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
}

// sink is a go-smtp server that accepts and discards mail.
type sink struct{ n atomic.Int64 }

func (s *sink) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return sinkSession{s}, nil }

type sinkSession struct{ s *sink }

func (sinkSession) Reset()                                 {}
func (sinkSession) Logout() error                          { return nil }
func (sinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (ss sinkSession) Data(r io.Reader) error              { io.Copy(io.Discard, r); ss.s.n.Add(1); return nil }

// startSink runs a relay that counts and drops what it gets until the
// test ends, and returns it with its smtp:// address.
func startSink(tb testing.TB) (*sink, string) {
	tb.Helper()
	s := &sink{}
	srv := gosmtp.NewServer(s)
	srv.Domain = "sink"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return s, "smtp://" + ln.Addr().String()
}

// BenchmarkSend: outbox rows sent by send jobs to a local relay.
func BenchmarkSend(b *testing.B) {
	s, relay := startSink(b)
	e := newEnv(b, "", func(o *Options) { o.Relay = relay; o.RateLimit = 1 << 30 })
	ctx := context.Background()
	b.StopTimer()
	// b.N auto-replies: one ticket each.
	for i := range b.N {
		e.deliver(mailMsg(fmt.Sprintf("u%d@ext.example", i), "support@"+testDomain, fmt.Sprint("s", i), "x"), "support@"+testDomain)
	}
	e.work() // events are composed; the send jobs below are timed
	if _, err := e.db.W.Exec(`UPDATE jobs SET state = 'done' WHERE kind = $1 AND state = 'pending'`, JobSend); err != nil {
		b.Fatal(err)
	}
	e.db.W.Exec(`UPDATE outbox SET state = 'held'`)
	s.n.Store(0)
	b.StartTimer()
	start := time.Now()
	if _, err := e.g.Release(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := e.jobs.RunDue(ctx); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	var sent int
	e.db.R.QueryRow(`SELECT COUNT(*) FROM outbox WHERE state = 'sent'`).Scan(&sent)
	if int64(sent) != s.n.Load() || sent < b.N { // auto-reply and staff notice per ticket
		b.Fatalf("sent %d, sink got %d, want >= %d", sent, s.n.Load(), b.N)
	}
	b.ReportMetric(float64(sent)/el.Seconds(), "msgs/s")
}

// BenchmarkDispatch: ticket events told by the dispatcher on SQLite, each a
// new ticket of one of 50 requesters (an auto-reply and a notice to the
// unit's member); half of the events carry their ticket, as those of this
// process do, half are read back, as those of the mailgate command are.
func BenchmarkDispatch(b *testing.B) {
	e := newEnv(b, "", func(o *Options) { o.RateLimit = 1 << 30 })
	ctx := context.Background()
	var ps []*auth.Principal
	for i := range 50 {
		ps = append(ps, e.requester(fmt.Sprintf("r%d@uni.example", i), fmt.Sprint("R ", i)))
	}
	nt := ticket.NewTicket{Subject: "Printer", Body: "The toner is empty again.", UnitID: e.unit.ID}
	b.StopTimer()
	for i := range b.N {
		if i == b.N/2 {
			e.g.snaps = newSnapshots() // the first half is read back
		}
		if _, err := e.tickets.Create(ctx, ps[i%len(ps)], nt); err != nil {
			b.Fatal(err)
		}
	}
	b.StartTimer()
	start := time.Now()
	n, err := e.g.DispatchDue(ctx)
	el := time.Since(start)
	b.StopTimer()
	if err != nil || n != b.N {
		b.Fatalf("DispatchDue = %d, %v; want %d", n, err, b.N)
	}
	var mails int
	e.db.R.QueryRow(`SELECT COUNT(*) FROM outbox`).Scan(&mails)
	if mails != 2*b.N {
		b.Fatalf("%d mails for %d events", mails, b.N)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
}
