package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/helpmesh/helpmesh/internal/jobs"
)

// Sender delivers raw messages to an SMTP relay, keeping a few connections
// open between mails.
type Sender struct {
	client *gomail.Client
	// timeout bounds each exchange with the relay: a connection taken from
	// the pool gets a fresh deadline of timeout, not the one it was dialled
	// with.
	timeout time.Duration
	mu      sync.Mutex
	idle    []*smtp.Client
}

// relayTimeout is how long one exchange with the relay may take.
const relayTimeout = 30 * time.Second

// maxIdle is how many relay connections a Sender keeps open.
const maxIdle = 8

// NewSender returns a Sender for relay (smtp://host:port). Plain SMTP is
// used on loopback, STARTTLS when the relay offers it elsewhere.
func NewSender(relay, helo string) (*Sender, error) {
	return newSender(relay, helo, relayTimeout)
}

func newSender(relay, helo string, timeout time.Duration) (*Sender, error) {
	u, err := url.Parse(relay)
	if err != nil || u.Hostname() == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") {
		return nil, fmt.Errorf("mail: relay %q is not smtp://host:port", relay)
	}
	port := 25
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("mail: relay %q: bad port", relay)
		}
	}
	policy := gomail.TLSOpportunistic
	if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
		policy = gomail.NoTLS
	}
	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTLSPortPolicy(policy), gomail.WithTimeout(timeout), gomail.WithHELO(helo)}
	if u.Scheme == "smtps" {
		opts = append(opts, gomail.WithSSLPort(false))
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(u.User.Username()), gomail.WithPassword(pw))
	}
	c, err := gomail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: relay: %w", err)
	}
	return &Sender{client: c, timeout: timeout}, nil
}

// Send delivers raw from the envelope sender from to rcpt. A 5xx answer is
// a Permanent error. A pooled connection the relay has closed meanwhile is
// dropped and the next one tried, down to a new connection: a failure on a
// new connection is the relay's answer.
func (s *Sender) Send(ctx context.Context, from, rcpt string, raw []byte) error {
	for {
		c, reused, err := s.conn(ctx)
		if err != nil {
			return fmt.Errorf("mail: connect to relay: %w", err)
		}
		err = transact(c, from, rcpt, raw)
		var te *textproto.Error
		switch {
		case err == nil:
			s.put(c)
			return nil
		case errors.As(err, &te):
			if c.Reset() == nil {
				s.put(c)
			} else {
				_ = c.Close()
			}
			if te.Code >= 500 {
				return jobs.Permanent(fmt.Errorf("mail: relay refused: %w", err))
			}
			return fmt.Errorf("mail: relay: %w", err)
		default:
			_ = c.Close()
			if reused {
				continue // the relay closed an idle connection: try the next
			}
			return fmt.Errorf("mail: relay: %w", err)
		}
	}
}

func transact(c *smtp.Client, from, rcpt string, raw []byte) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	return w.Close()
}

func (s *Sender) conn(ctx context.Context) (*smtp.Client, bool, error) {
	for {
		s.mu.Lock()
		n := len(s.idle)
		if n == 0 {
			s.mu.Unlock()
			break
		}
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		// The deadline set when it was dialled has long passed: give the
		// exchange about to start its own.
		if err := c.UpdateDeadline(s.timeout); err != nil {
			_ = c.Close()
			continue
		}
		return c, true, nil
	}
	c, err := s.client.DialToSMTPClientWithContext(ctx)
	return c, false, err
}

func (s *Sender) put(c *smtp.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.idle) >= maxIdle {
		_ = c.Quit()
		return
	}
	s.idle = append(s.idle, c)
}

// Close closes the idle connections.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.idle {
		_ = c.Quit()
	}
	s.idle = nil
	return nil
}

// handleSend sends one outbox row.
func (g *Gateway) handleSend(ctx context.Context, j *jobs.Job) error {
	var p sendPayload
	if err := j.Decode(&p); err != nil {
		return err
	}
	var state, from, rcpt string
	var raw []byte
	err := g.db.Reader().QueryRowContext(ctx, `SELECT state, mail_from, rcpt, raw FROM outbox WHERE id = $1`, p.ID).Scan(&state, &from, &rcpt, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mail: outbox %d: %w", p.ID, err)
	}
	if state != "pending" {
		return nil
	}
	if g.sender == nil {
		return errors.New("mail: no relay configured")
	}
	err = g.sender.Send(ctx, from, rcpt, raw)
	now := g.now()
	switch {
	case err == nil:
		_, err = g.db.W.ExecContext(ctx, `UPDATE outbox SET state = 'sent', sent_at = $1, attempts = attempts + 1, last_error = '' WHERE id = $2`, now, p.ID)
		return err
	case jobs.IsPermanent(err) || j.Attempt >= j.MaxAttempts:
		g.log.Error("outgoing mail failed", "outbox", p.ID, "rcpt", rcpt, "err", err)
		if _, uerr := g.db.W.ExecContext(ctx, `UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = $1 WHERE id = $2`, err.Error(), p.ID); uerr != nil {
			return uerr
		}
		return jobs.Permanent(err)
	default:
		if _, uerr := g.db.W.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2`, err.Error(), p.ID); uerr != nil {
			return uerr
		}
		return err
	}
}
