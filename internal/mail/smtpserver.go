package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// SMTPOptions tune the inbound SMTP listener.
type SMTPOptions struct {
	MaxSessions   int           // concurrent sessions, default 100
	MaxRecipients int           // per mail, default 50
	Timeout       time.Duration // read and write timeout, default 2m
}

// SMTPServer is the inbound listener an MTA relays to.
type SMTPServer struct {
	g        *Gateway
	srv      *smtp.Server
	sessions atomic.Int64
	max      int64
}

// NewSMTPServer returns a listener feeding g.
func (g *Gateway) NewSMTPServer(o SMTPOptions) *SMTPServer {
	if o.MaxSessions <= 0 {
		o.MaxSessions = 100
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = 50
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	s := &SMTPServer{g: g, max: int64(o.MaxSessions)}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = g.opts.Domain
	srv.MaxMessageBytes = g.opts.MaxMessageBytes
	srv.MaxRecipients = o.MaxRecipients
	srv.ReadTimeout = o.Timeout
	srv.WriteTimeout = o.Timeout
	srv.MaxLineLength = 16 << 10
	srv.EnableSMTPUTF8 = true // MTAs relay internationalised mail only to servers that offer it
	srv.ErrorLog = logAdapter{g}
	s.srv = srv
	return s
}

type logAdapter struct{ g *Gateway }

func (l logAdapter) Printf(format string, v ...any) {
	l.g.log.Debug("smtp: " + strings.TrimSpace(sprintf(format, v...)))
}
func (l logAdapter) Println(v ...any) { l.g.log.Debug("smtp: " + strings.TrimSpace(sprintln(v...))) }

// Serve accepts connections on ln until ctx ends or Close is called.
func (s *SMTPServer) Serve(ctx context.Context, ln net.Listener) error {
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.srv.Shutdown(sctx); err != nil {
				_ = s.srv.Close()
			}
		case <-done:
		}
	}()
	err := s.srv.Serve(ln)
	close(done)
	if errors.Is(err, smtp.ErrServerClosed) || ctx.Err() != nil {
		return nil
	}
	return err
}

// Close stops the listener at once.
func (s *SMTPServer) Close() error { return s.srv.Close() }

var errBusy = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Too many connections, try again later"}

func (s *SMTPServer) newSession(c *smtp.Conn) (smtp.Session, error) {
	if s.sessions.Add(1) > s.max {
		s.sessions.Add(-1)
		return nil, errBusy
	}
	return &session{s: s}, nil
}

type session struct {
	s         *SMTPServer
	from      string
	hasFrom   bool
	rcpts     []string
	loggedOut bool
}

func (ss *session) Reset() { ss.from, ss.hasFrom, ss.rcpts = "", false, nil }

func (ss *session) Logout() error {
	if !ss.loggedOut {
		ss.loggedOut = true
		ss.s.sessions.Add(-1)
	}
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from, ss.hasFrom = from, true
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok, err := ss.s.g.KnownRecipient(ctx, to)
	if err != nil {
		ss.s.g.log.Error("smtp: recipient lookup", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again later"}
	}
	if !ok {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such recipient here"}
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se // 552 over the size limit
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			// Permanent: the same mail would fail the same way again.
			return &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: fmt.Sprintf("Line too long (more than %d bytes)", ss.s.srv.MaxLineLength)}
		}
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Error reading the message"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := ss.s.g.Deliver(ctx, Envelope{Source: "smtp", MailFrom: ss.from, HasMailFrom: ss.hasFrom, Rcpts: ss.rcpts}, buf.Bytes())
	var rej *Rejection
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rej):
		code := smtp.EnhancedCode{5, 7, 1}
		if rej.NoUser {
			code = smtp.EnhancedCode{5, 1, 1}
		}
		if strings.Contains(rej.Reason, "larger than") {
			return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: rej.Reason}
		}
		return &smtp.SMTPError{Code: 550, EnhancedCode: code, Message: rej.Reason}
	default:
		ss.s.g.log.Error("smtp: delivery failed, the sender will retry", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again later"}
	}
}
