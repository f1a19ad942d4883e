// Package rt5 is the kind of peer that speaks Request Tracker 5's REST2
// API (research/federation.md §2.1): it creates tickets in one queue,
// pushes helpmesh's replies as correspondence and its internal notes as
// comments, sets status and priority by the mapping of §3, polls the
// transactions of the linked tickets made by anyone but the connector's
// own RT account, and reads a whole queue for `helpmesh import`.
package rt5

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/outbound"
)

// maxAnswer bounds what is read of one answer of RT (attachments come
// base64 encoded in it).
const maxAnswer = 64 << 20

// userAgent names helpmesh to RT. It must not look like a browser: RT
// answers a browser-like request whose login expired with a redirect.
const userAgent = "helpmesh-connector-rt5"

// Client talks to one RT through REST2 as the connector account: it
// trades the account's auth token for an RT session (session.go). It implements connector.Peer and connector.Source.
type Client struct {
	rest     string // the REST2 base, <url>/REST/2.0
	web      string // RT's base URL, for the links people open
	origin   string // RT's origin, sent with the session cookie
	token    string
	queue    string
	instance string
	hc       *http.Client
	// sourcePage is the page size of Tickets (sourcePage; tests lower it).
	sourcePage int

	// sess is the RT session the requests use (session.go).
	sess session

	mu sync.Mutex
	// self is the RT user name of the connector's account, learnt from
	// the Creator of a ticket it created ("" until then).
	self string
	// users caches RT users by name.
	users map[string]connector.Person
}

var (
	_ connector.Peer   = (*Client)(nil)
	_ connector.Source = (*Client)(nil)
)

// New returns the client of the RT at cfg.URL. cfg.Client must come from
// outbound.Policy.Client (it follows no redirect and times out).
func New(cfg connector.Config) (*Client, error) {
	u, err := outbound.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("rt5: url: %w", err)
	}
	if u.RawQuery != "" {
		return nil, errors.New("rt5: the url must not have a query")
	}
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("rt5: the token is empty")
	}
	if strings.TrimSpace(cfg.Queue) == "" {
		return nil, errors.New("rt5: the queue is empty")
	}
	if cfg.Client == nil {
		return nil, errors.New("rt5: no HTTP client")
	}
	web := strings.TrimRight(u.String(), "/")
	return &Client{
		rest:       web + "/REST/2.0",
		web:        web,
		origin:     origin(web),
		token:      cfg.Token,
		queue:      cfg.Queue,
		instance:   strings.TrimRight(cfg.Instance, "/"),
		hc:         cfg.Client,
		sourcePage: sourcePage,
		users:      map[string]connector.Person{},
	}, nil
}

// NewPeer is New as the engine's registry (connector.Kinds) wants it.
func NewPeer(cfg connector.Config) (connector.Peer, error) { return New(cfg) }

// statusError is an answer of RT that is not a success.
type statusError struct {
	method, path string
	code         int
	location     string
	message      string
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("rt5: %s %s: RT answered %d", e.method, e.path, e.code)
	if e.location != "" {
		s += " (a redirect to " + e.location + ": an expired login or a wrong URL)"
	}
	if e.message != "" {
		s += ": " + e.message
	}
	return s
}

// Unwrap makes the answers that retrying cannot fix connector.ErrPermanent:
// redirects and 4xx other than 408 and 429.
func (e *statusError) Unwrap() error {
	if e.code >= 300 && e.code < 500 && e.code != http.StatusRequestTimeout && e.code != http.StatusTooManyRequests {
		return connector.ErrPermanent
	}
	return nil
}

// permanent wraps err as one that retrying cannot fix.
func permanent(format string, args ...any) error {
	return fmt.Errorf("rt5: "+format+": %w", append(args, connector.ErrPermanent)...)
}

// call sends one request to REST2 (path below /REST/2.0, with its query)
// and decodes the JSON answer into out (when not nil). It returns the
// answer's Location header. It authenticates with the session (session.go),
// logging in again once when RT refused the session's cookie.
func (c *Client) call(ctx context.Context, method, path string, in, out any) (string, error) {
	var payload []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return "", fmt.Errorf("rt5: encoding %s %s: %w", method, path, err)
		}
		payload = b
	}
	cookie, err := c.sessionCookie(ctx)
	if err != nil {
		return "", err
	}
	resp, raw, err := c.send(ctx, method, path, payload, cookie)
	if err != nil {
		return "", err
	}
	if refused, crossSite := sessionRefused(resp.StatusCode, raw); cookie != "" && refused {
		if cookie, err = c.renewSession(ctx, cookie, crossSite); err != nil {
			return "", err
		}
		if resp, raw, err = c.send(ctx, method, path, payload, cookie); err != nil {
			return "", err
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := &statusError{method: method, path: path, code: resp.StatusCode, message: errorMessage(raw)}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			se.location = resp.Header.Get("Location")
		}
		return "", se
	}
	if len(raw) > maxAnswer {
		return "", permanent("%s %s: the answer is larger than %d bytes", method, path, maxAnswer)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return "", permanent("%s %s: the answer is not the expected JSON (%v)", method, path, err)
		}
	}
	return resp.Header.Get("Location"), nil
}

// send sends one request with the session cookie, or with the token when
// cookie is "", and reads its answer (at most maxAnswer+1 bytes).
func (c *Client) send(ctx context.Context, method, path string, payload []byte, cookie string) (*http.Response, []byte, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.rest+path, body)
	if err != nil {
		return nil, nil, permanent("%s %s", method, path)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Origin", c.origin)
	} else {
		req.Header.Set("Authorization", "token "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, outbound.ErrRefused) {
			return nil, nil, fmt.Errorf("rt5: %s %s: %w: %w", method, path, err, connector.ErrPermanent)
		}
		return nil, nil, fmt.Errorf("rt5: %s %s: %w", method, path, err) // timeouts, refused connections: retried
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, nil, fmt.Errorf("rt5: %s %s: reading the answer: %w", method, path, err)
	}
	return resp, raw, nil
}

// errorMessage returns RT's {"message": ...} of an error answer, short.
func errorMessage(raw []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	if len(m.Message) > 200 {
		return m.Message[:200] + "…"
	}
	return m.Message
}

// ticketPath is the REST2 path of a ticket named by ref.
func ticketPath(ref connector.Ref) (string, error) {
	id, err := parseID(ref.RemoteID)
	if err != nil {
		return "", permanent("ticket id %q: %v", ref.RemoteID, err)
	}
	return fmt.Sprintf("/ticket/%d", id), nil
}

// ticketURL is the page of ticket id in RT's web interface.
func (c *Client) ticketURL(id int64) string {
	return fmt.Sprintf("%s/Ticket/Display.html?id=%d", c.web, id)
}

// query builds a URL query.
func query(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return "?" + v.Encode()
}
