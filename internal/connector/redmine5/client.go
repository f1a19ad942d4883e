// Package redmine5 is the kind of peer for Redmine 5: it speaks Redmine's
// REST JSON API (research/federation.md §2.2) with the API key of the
// connector's account. It creates issues in one project and tracker,
// pushes helpmesh's changes as notes (private notes for internal ones),
// uploads, status and priority, polls the journals of the linked issues,
// and reads whole projects for `helpmesh import`.
package redmine5

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/outbound"
)

// Limits on what the client reads from Redmine.
const (
	maxJSON       = 16 << 20 // one JSON answer
	maxAttachment = 32 << 20 // one attachment
	pageSize      = 100      // issues per list request (Redmine's maximum)
)

// errNotFound marks a 404 (besides connector.ErrPermanent).
var errNotFound = errors.New("not found")

// projectIdentifier is a Redmine project's identifier or numeric id.
var projectIdentifier = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,99}$`)

// Client talks to one Redmine. It is a connector.Peer and a
// connector.Source. Safe for concurrent use.
type Client struct {
	base      *url.URL
	key       string
	project   string
	trackerID int64
	instance  string
	http      *http.Client
	// sourcePage is how many issues one page of Tickets holds (each is
	// read again with its journals and files).
	sourcePage int

	mu     sync.Mutex
	lookup *lookups // nil until the first successful look-up
}

// lookups are the instance's ids, read once.
type lookups struct {
	me             int64
	projectID      int64
	statusID       map[string]int64 // by lower-case name
	statusByID     map[int64]statusInfo
	priorityID     map[string]int64 // by lower-case name
	priorityByID   map[int64]string
	defaultStatus  int64
	userCacheGuard sync.Mutex
	users          map[int64]connector.Person
}

type statusInfo struct {
	name   string
	closed bool
}

// New returns a client for the Redmine at cfg.URL, with cfg.Token as the
// API key; cfg.Project (identifier) and cfg.TrackerID say where Create
// opens issues (a Source needs only the project). cfg.Client sends the
// requests; the client copies it and refuses redirects to another host.
func New(cfg connector.Config) (*Client, error) {
	if cfg.Client == nil {
		return nil, errors.New("redmine5: no HTTP client")
	}
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("redmine5: %q is not an http(s) URL", cfg.URL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("redmine5: the URL %q must have no user, query or fragment", cfg.URL)
	}
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("redmine5: no API key")
	}
	if !projectIdentifier.MatchString(cfg.Project) {
		return nil, fmt.Errorf("redmine5: %q is not a Redmine project identifier (lower-case letters, digits, - and _) or id", cfg.Project)
	}
	if cfg.TrackerID < 0 {
		return nil, errors.New("redmine5: the tracker id is negative")
	}
	hc := *cfg.Client
	host := u.Host
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != host {
			return fmt.Errorf("redmine5: redirected to another host, %s: %w", req.URL.Host, connector.ErrPermanent)
		}
		if len(via) >= 3 {
			return fmt.Errorf("redmine5: more than 3 redirects: %w", connector.ErrPermanent)
		}
		return nil
	}
	return &Client{
		base:       u,
		key:        cfg.Token,
		project:    strings.TrimSpace(cfg.Project),
		trackerID:  cfg.TrackerID,
		instance:   strings.TrimRight(cfg.Instance, "/"),
		http:       &hc,
		sourcePage: 25,
	}, nil
}

// NewPeer is New as a constructor of connector.Kinds.
func NewPeer(cfg connector.Config) (connector.Peer, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// issueURL is the page of an issue.
func (c *Client) issueURL(id int64) string {
	return c.base.String() + "/issues/" + strconv.FormatInt(id, 10)
}

// request is one call to Redmine.
type request struct {
	method      string
	path        string // below the base URL, e.g. /issues.json
	query       url.Values
	body        []byte
	contentType string
	limit       int64 // the most bytes read of the answer (maxJSON if 0)
}

// answer is Redmine's answer to a request.
type answer struct {
	status int
	body   []byte
	date   time.Time // the Date header, zero if none
}

// do sends a request. A 2xx answer is returned; anything else is an
// error: 5xx, 408, 429 and transport errors are retryable, the rest
// (other 4xx, redirects, an oversized answer) wraps connector.ErrPermanent.
func (c *Client) do(ctx context.Context, r request) (answer, error) {
	u := *c.base
	u.Path = c.base.Path + r.path
	u.RawPath = ""
	if r.query != nil {
		u.RawQuery = r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return answer{}, fmt.Errorf("redmine5: %s %s: %v: %w", r.method, r.path, err, connector.ErrPermanent)
	}
	req.Header.Set("X-Redmine-API-Key", c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "helpmesh-redmine5")
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// A refused redirect wraps ErrPermanent, and so does an address
		// HELPMESH_OUTBOUND_ALLOW does not allow; timeouts and refused
		// connections are retried.
		if errors.Is(err, outbound.ErrRefused) && !errors.Is(err, connector.ErrPermanent) {
			return answer{}, fmt.Errorf("redmine5: %s %s: %w (%w)", r.method, r.path, err, connector.ErrPermanent)
		}
		return answer{}, fmt.Errorf("redmine5: %s %s: %w", r.method, r.path, err)
	}
	defer resp.Body.Close()
	limit := r.limit
	if limit <= 0 {
		limit = maxJSON
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return answer{}, fmt.Errorf("redmine5: %s %s: reading the answer: %w", r.method, r.path, err)
	}
	a := answer{status: resp.StatusCode, body: data}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		a.date = d.UTC()
	}
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		if int64(len(data)) > limit {
			return answer{}, fmt.Errorf("redmine5: %s %s: the answer is larger than %d bytes: %w", r.method, r.path, limit, connector.ErrPermanent)
		}
		return a, nil
	case s >= 500, s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s == http.StatusConflict:
		return answer{}, fmt.Errorf("redmine5: %s %s: %s", r.method, r.path, resp.Status)
	case s == http.StatusUnprocessableEntity && redmineErrors(data) == "":
		// Redmine answers a concurrent update of the issue (its
		// StaleObjectError) with a 422 that names no error: try again.
		return answer{}, fmt.Errorf("redmine5: %s %s: %s naming no error: the issue was being updated by another request", r.method, r.path, resp.Status)
	case s >= 300 && s < 400:
		return answer{}, fmt.Errorf("redmine5: %s %s: redirected to %q, not followed: %w", r.method, r.path, resp.Header.Get("Location"), connector.ErrPermanent)
	case s == http.StatusNotFound:
		return answer{}, fmt.Errorf("redmine5: %s %s: %s: %w (%w)", r.method, r.path, resp.Status, connector.ErrPermanent, errNotFound)
	default:
		return answer{}, fmt.Errorf("redmine5: %s %s: %s%s: %w", r.method, r.path, resp.Status, redmineErrors(data), connector.ErrPermanent)
	}
}

// redmineErrors is the text of a 422 answer's {"errors": [...]}, if any.
func redmineErrors(data []byte) string {
	var e struct {
		Errors []string `json:"errors"`
	}
	if decodeJSON(data, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return " (" + strings.Join(e.Errors, "; ") + ")"
}

// getJSON GETs path with query and decodes the JSON answer into v.
func (c *Client) getJSON(ctx context.Context, path string, query url.Values, v any) (answer, error) {
	a, err := c.do(ctx, request{method: http.MethodGet, path: path, query: query})
	if err != nil {
		return a, err
	}
	if err := decodeJSON(a.body, v); err != nil {
		return a, fmt.Errorf("GET %s: %w", path, err)
	}
	return a, nil
}

// ids reads, once, the connector's own user, the project and the ids of
// statuses and priorities. A failed look-up is tried again next time.
func (c *Client) ids(ctx context.Context) (*lookups, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lookup != nil {
		return c.lookup, nil
	}
	l := &lookups{
		statusID:     map[string]int64{},
		statusByID:   map[int64]statusInfo{},
		priorityID:   map[string]int64{},
		priorityByID: map[int64]string{},
		users:        map[int64]connector.Person{},
	}
	var me userAnswer
	if _, err := c.getJSON(ctx, "/users/current.json", nil, &me); err != nil {
		return nil, err
	}
	if me.User == nil || me.User.ID <= 0 {
		return nil, fmt.Errorf("redmine5: /users/current.json names no user: %w", connector.ErrPermanent)
	}
	l.me = me.User.ID
	var p projectAnswer
	if _, err := c.getJSON(ctx, "/projects/"+c.project+".json", nil, &p); err != nil {
		return nil, fmt.Errorf("redmine5: project %q: %w", c.project, err)
	}
	if p.Project == nil || p.Project.ID <= 0 {
		return nil, fmt.Errorf("redmine5: project %q: no such project: %w", c.project, connector.ErrPermanent)
	}
	l.projectID = p.Project.ID
	var st statusList
	if _, err := c.getJSON(ctx, "/issue_statuses.json", nil, &st); err != nil {
		return nil, err
	}
	for _, s := range st.IssueStatuses {
		l.statusID[strings.ToLower(s.Name)] = s.ID
		l.statusByID[s.ID] = statusInfo{name: s.Name, closed: s.IsClosed}
	}
	var pr priorityList
	if _, err := c.getJSON(ctx, "/enumerations/issue_priorities.json", nil, &pr); err != nil {
		return nil, err
	}
	for _, p := range pr.IssuePriorities {
		l.priorityID[strings.ToLower(p.Name)] = p.ID
		l.priorityByID[p.ID] = p.Name
	}
	c.lookup = l
	return l, nil
}

// person is a Redmine user as a connector.Person: the name from the
// journal, the mail address when the API key may read it.
func (c *Client) person(ctx context.Context, l *lookups, u named) connector.Person {
	l.userCacheGuard.Lock()
	p, ok := l.users[u.ID]
	l.userCacheGuard.Unlock()
	if ok {
		return p
	}
	p = connector.Person{Name: u.Name}
	var a userAnswer
	if u.ID > 0 {
		_, err := c.getJSON(ctx, "/users/"+strconv.FormatInt(u.ID, 10)+".json", nil, &a)
		if err != nil && !errors.Is(err, connector.ErrPermanent) {
			return p // not kept: asked again next time
		}
		if a.User != nil {
			p.Email = a.User.Mail
		}
	}
	l.userCacheGuard.Lock()
	l.users[u.ID] = p
	l.userCacheGuard.Unlock()
	return p
}

// The client is both kinds of connector.
var (
	_ connector.Peer   = (*Client)(nil)
	_ connector.Source = (*Client)(nil)
)
