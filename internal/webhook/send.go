package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/helpmesh/helpmesh/internal/db"
)

// Sign returns the Standard Webhooks signature of a delivery: "v1," and
// the base64 HMAC-SHA256, keyed with the base64-decoded part of secret
// after "whsec_", of id + "." + timestamp + "." + body.
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "", fmt.Errorf("webhook: the secret is not whsec_ and base64: %w", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// MessageID is the webhook-id of the delivery of event eventID to webhook
// webhookID: the same on every attempt.
func MessageID(webhookID, eventID int64) string {
	return "msg_" + strconv.FormatInt(webhookID, 10) + "_" + strconv.FormatInt(eventID, 10)
}

// Wake makes the worker look for due deliveries now.
func (s *Store) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends due deliveries until ctx ends, and prunes the log of what
// was delivered or died more than LogRetention ago.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	var pruned time.Time
	for {
		if _, err := s.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			s.opts.Log.Warn("sending webhook deliveries", "err", err)
		}
		if now := s.now(); now.Sub(pruned) > time.Hour {
			pruned = now
			if _, err := s.Prune(ctx, now.Add(-LogRetention)); err != nil && ctx.Err() == nil {
				s.opts.Log.Warn("pruning the webhook delivery log", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		case <-t.C:
		}
	}
}

// LogRetention is how long the log keeps a delivery once it was
// delivered or died.
const LogRetention = 30 * 24 * time.Hour

// Prune deletes the deliveries made before cutoff that are no longer
// pending, and returns how many.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := s.db.Tx(ctx, func(q db.Querier) error {
		res, err := q.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_at < $1`, cutoff.UTC())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("webhook: prune the delivery log: %w", err)
	}
	return n, nil
}

// claimed is one delivery a worker sends.
type claimed struct {
	id, webhookID, eventID int64
	body                   string
	attempts               int // before this one
	url, secret            string
}

// lockFor is how long a claim lasts: longer than a request may take.
const lockFor = time.Minute

// dueAt1 is the condition on deliveries due at $1 and not claimed.
const dueAt1 = `state = 'pending' AND next_try_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)`

// claim locks up to n due deliveries.
func (s *Store) claim(ctx context.Context, n int) ([]*claimed, error) {
	now := s.now()
	if s.db.Engine == db.SQLite {
		// Look on a reader first: an idle poll costs no write.
		var due int
		if err := s.db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM webhook_deliveries WHERE `+dueAt1+` LIMIT 1) d`, now).Scan(&due); err != nil {
			return nil, fmt.Errorf("webhook: claim: %w", err)
		}
		if due == 0 {
			return nil, nil
		}
	}
	lock := ""
	if s.db.Engine == db.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var cs []*claimed
	err := s.db.Tx(ctx, func(q db.Querier) error {
		cs = cs[:0]
		rows, err := q.QueryContext(ctx, `UPDATE webhook_deliveries SET locked_until = $2
			WHERE id IN (SELECT id FROM webhook_deliveries WHERE `+dueAt1+` ORDER BY next_try_at, id LIMIT `+strconv.Itoa(n)+lock+`)
			RETURNING id, webhook_id, event_id, body, attempts`, now, now.Add(lockFor))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c := &claimed{}
			if err := rows.Scan(&c.id, &c.webhookID, &c.eventID, &c.body, &c.attempts); err != nil {
				return err
			}
			cs = append(cs, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("webhook: claim: %w", err)
	}
	return cs, nil
}

// batchSize bounds the deliveries sent and then recorded together.
const batchSize = 256

// DeliverDue sends the due deliveries, a batch at a time, until none is
// left, and returns how many it tried: first those the followers handed
// over, then those it claims (queued by other nodes, unclaimed, or due for
// a retry).
func (s *Store) DeliverDue(ctx context.Context) (int, error) {
	total := 0
	for {
		cs := s.hand.take(batchSize)
		if len(cs) == 0 {
			var err error
			if cs, err = s.claim(ctx, batchSize); err != nil || len(cs) == 0 {
				return total, err
			}
		}
		ws, err := s.all(ctx)
		if err != nil {
			return total, err
		}
		byID := map[int64]*Webhook{}
		for _, w := range ws {
			byID[w.ID] = w
		}
		tried := make([]attempt, len(cs))
		next := make(chan int)
		var wg sync.WaitGroup
		for range min(s.opts.Workers, len(cs)) {
			wg.Go(func() {
				for i := range next {
					tried[i] = s.try(ctx, cs[i], byID[cs[i].webhookID])
				}
			})
		}
		for i := range cs {
			next <- i
		}
		close(next)
		wg.Wait()
		// One write for the whole batch: on SQLite every write waits for
		// the ticket writes, so one per delivery would slow them down.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = s.record(rctx, cs, tried)
		cancel()
		if err != nil {
			s.opts.Log.Warn("recording webhook deliveries", "err", err)
		}
		total += len(cs)
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// attempt is what one try of a delivery came to.
type attempt struct {
	status int    // the answer's code, 0 for none
	err    string // why it failed; empty when delivered
	skip   bool   // not tried: nothing to record
}

// try sends one claimed delivery; skip in the attempt means nothing is
// to be recorded (the webhook was deleted meanwhile, with its
// deliveries, or helpmesh is shutting down: the delivery is tried again
// once its claim expires).
func (s *Store) try(ctx context.Context, c *claimed, w *Webhook) attempt {
	if w == nil {
		return attempt{skip: true}
	}
	a := s.send(ctx, c, w)
	if ctx.Err() != nil && a.err != "" {
		return attempt{skip: true}
	}
	return a
}

// send makes one attempt.
func (s *Store) send(ctx context.Context, c *claimed, w *Webhook) attempt {
	var h map[string]string
	if w.Format == "" { // a chat's incoming webhook takes no signature
		id := MessageID(c.webhookID, c.eventID)
		ts := s.now().Unix()
		sig, err := Sign(w.secret, id, ts, []byte(c.body))
		if err != nil {
			return attempt{err: err.Error()}
		}
		h = map[string]string{"webhook-id": id, "webhook-timestamp": strconv.FormatInt(ts, 10), "webhook-signature": sig}
	}
	// A URL that was allowed when the webhook was made is checked again
	// on the address dialed (the Poster's client): no request goes to a
	// refused address, also after a DNS change.
	code, err := s.opts.Poster.Post(ctx, w.URL, h, []byte(c.body))
	switch {
	case err != nil:
		return attempt{err: "no answer: " + err.Error()}
	case code >= 200 && code < 300:
		return attempt{status: code}
	case code >= 300 && code < 400:
		return attempt{status: code, err: fmt.Sprintf("answered %d: redirects are not followed", code)}
	}
	return attempt{status: code, err: fmt.Sprintf("answered %d", code)}
}

// backoff is the wait after the attempts-th failure, with a fifth of
// jitter.
func (s *Store) backoff(attempts int) time.Duration {
	d := s.opts.BackoffBase
	for i := 1; i < attempts && d < s.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.opts.BackoffMax)
	return d - rand.N(d/5+1)
}

// recordChunk bounds the ids of one update of record.
const recordChunk = 500

// record writes the attempts on the deliveries' rows, in one
// transaction: delivered (one update per answer code for all), retried
// later, or dead after the last attempt.
func (s *Store) record(ctx context.Context, cs []*claimed, tried []attempt) error {
	now := s.now()
	delivered := map[int][]int64{} // by answer code
	for i, c := range cs {
		if !tried[i].skip && tried[i].err == "" {
			delivered[tried[i].status] = append(delivered[tried[i].status], c.id)
		}
	}
	err := s.db.Tx(ctx, func(q db.Querier) error {
		for code, ids := range delivered {
			for len(ids) > 0 {
				chunk := ids[:min(len(ids), recordChunk)]
				ids = ids[len(chunk):]
				// The ids are the rows' own integers: written in the statement.
				in := make([]string, len(chunk))
				for i, id := range chunk {
					in[i] = strconv.FormatInt(id, 10)
				}
				if _, err := q.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, last_status = $1,
					last_error = '', delivered_at = $2, next_try_at = NULL, locked_until = NULL
					WHERE state = 'pending' AND id IN (`+strings.Join(in, ", ")+`)`, code, now); err != nil {
					return fmt.Errorf("delivered: %w", err)
				}
			}
		}
		for i, c := range cs {
			if tried[i].skip || tried[i].err == "" {
				continue
			}
			query, args := s.failure(c, tried[i], now)
			if _, err := q.ExecContext(ctx, query, args...); err != nil {
				return fmt.Errorf("delivery %d: %w", c.id, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("webhook: record deliveries: %w", err)
	}
	return nil
}

// failure is the update that records the failed attempt a of delivery c.
func (s *Store) failure(c *claimed, a attempt, now time.Time) (string, []any) {
	n := c.attempts + 1
	msg := a.err
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	msg = strings.ToValidUTF8(msg, "?")
	switch {
	case n >= s.opts.MaxAttempts:
		s.opts.Log.Warn("webhook delivery dead", "delivery", c.id, "webhook", c.webhookID, "attempts", n, "err", msg)
		return `UPDATE webhook_deliveries SET state = 'dead', attempts = $1, last_status = $2, last_error = $3,
			next_try_at = NULL, locked_until = NULL WHERE id = $4 AND state = 'pending'`,
			[]any{n, a.status, msg, c.id}
	}
	return `UPDATE webhook_deliveries SET attempts = $1, last_status = $2, last_error = $3,
			next_try_at = $4, locked_until = NULL WHERE id = $5 AND state = 'pending'`,
		[]any{n, a.status, msg, now.Add(s.backoff(n)), c.id}
}
