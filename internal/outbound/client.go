package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Timeout is how long one outbound request may take, answer included.
const Timeout = 10 * time.Second

// Client returns an HTTP client whose connections go only to addresses p
// allows (checked on the dialed address), that never follows a redirect
// and gives up after timeout (Timeout when zero). Proxies from the
// environment are not used: they would dial for it.
func (p *Policy) Client(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = Timeout
	}
	d := &net.Dialer{Timeout: timeout, Control: p.Control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Poster sends JSON bodies by POST with a client (from Policy.Client).
type Poster struct {
	Client *http.Client
	// UserAgent is sent with every request.
	UserAgent string
}

// maxAnswer bounds what is read of an answer (to reuse the connection).
const maxAnswer = 64 << 10

// Post sends body to url with the headers and returns the answer's status
// code. A redirect is an answer like any other (its 3xx code); err is set
// only when no answer came (refused address, timeout, connection error).
func (ps Poster) Post(ctx context.Context, url string, header map[string]string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("outbound: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if ps.UserAgent != "" {
		req.Header.Set("User-Agent", ps.UserAgent)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := ps.Client.Do(req)
	if err != nil {
		return 0, err // errors.Is(err, ErrRefused) for a refused address
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	return resp.StatusCode, nil
}

// Getter fetches documents by GET with a client (from Policy.Client).
type Getter struct {
	Client *http.Client
	// UserAgent is sent with every request.
	UserAgent string
}

// ErrTooLarge is the error of an answer longer than Get's limit.
var ErrTooLarge = errors.New("outbound: the answer is too large")

// Get fetches url and returns its body, at most max bytes (ErrTooLarge
// beyond). An answer other than 200 is an error naming its status.
func (g Getter) Get(ctx context.Context, url string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("outbound: %w", err)
	}
	if g.UserAgent != "" {
		req.Header.Set("User-Agent", g.UserAgent)
	}
	resp, err := g.Client.Do(req)
	if err != nil {
		return nil, err // errors.Is(err, ErrRefused) for a refused address
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		return nil, fmt.Errorf("outbound: %s answered %s", req.URL.Host, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("outbound: reading the answer: %w", err)
	}
	if int64(len(b)) > max {
		return nil, ErrTooLarge
	}
	return b, nil
}
