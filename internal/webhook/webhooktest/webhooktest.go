// Package webhooktest is a webhook receiver for tests: it records what
// it is sent, answers with scripted status codes, and verifies Standard
// Webhooks signatures as a receiver would, written from the specification
// (not with package webhook's Sign).
package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Verify checks a delivery as a receiver does: the webhook-signature
// header holds a "v1,<base64>" that is the HMAC-SHA256, keyed with the
// base64-decoded secret after "whsec_", of webhook-id "." webhook-timestamp
// "." body; and the timestamp is within five minutes of now.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q is not unix seconds", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("webhook-timestamp %s is %s away from now", ts, d)
	}
	if !strings.HasPrefix(secret, "whsec_") {
		return errors.New("the secret does not start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	if err != nil || len(key) < 24 {
		return fmt.Errorf("the secret's key is not base64 of 24 bytes or more: %v", err)
	}
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, id+"."+ts+".")
	mac.Write(body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(sigs) {
		v, sig, _ := strings.Cut(s, ",")
		if v == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no v1 signature matches in %q", sigs)
}

// Request is one request the receiver got.
type Request struct {
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
}

// Receiver is an HTTP server on loopback that records requests.
type Receiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []Request
	script []int // the status codes of the next answers; 204 after
	got    chan struct{}
}

// NewReceiver starts a receiver; it is closed by the caller.
func NewReceiver() *Receiver {
	r := &Receiver{got: make(chan struct{}, 1024)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, Request{Path: req.URL.Path, Header: req.Header.Clone(), Body: b, At: time.Now()})
		code := http.StatusNoContent
		if len(r.script) > 0 {
			code, r.script = r.script[0], r.script[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(code)
		r.got <- struct{}{}
	}))
	return r
}

// Answer makes the next answers have these status codes.
func (r *Receiver) Answer(codes ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, codes...)
}

// Requests returns what the receiver got so far.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// Wait waits until the receiver has got n requests in all, or timeout.
func (r *Receiver) Wait(n int, timeout time.Duration) []Request {
	deadline := time.After(timeout)
	for {
		if rs := r.Requests(); len(rs) >= n {
			return rs
		}
		select {
		case <-r.got:
		case <-deadline:
			return r.Requests()
		}
	}
}
