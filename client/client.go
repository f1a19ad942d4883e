// Package client is a Go client for the helpmesh REST API v1.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one helpmesh instance as the owner of one token.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client for the instance at baseURL (e.g.
// http://127.0.0.1:8080) that authenticates with token. hc may be nil.
func New(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: hc}
}

// WithToken returns a client for the same instance with another token.
func (c *Client) WithToken(token string) *Client {
	return &Client{base: c.base, token: token, http: c.http}
}

// Error is an error answer of the API.
type Error struct {
	Status  int    // HTTP status
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("helpmesh: %d %s: %s: %s", e.Status, e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("helpmesh: %d %s: %s", e.Status, e.Code, e.Message)
}

// StatusOf returns the HTTP status of an API error, or 0.
func StatusOf(err error) int {
	if e, ok := err.(*Error); ok {
		return e.Status
	}
	return 0
}

// Do sends a request with an optional JSON body and decodes a JSON answer
// into out (when not nil). Answers of 400 and above become *Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("helpmesh: encode: %w", err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return fmt.Errorf("helpmesh: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out)
}

func (c *Client) send(req *http.Request, out any) error {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("helpmesh: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		var env struct {
			Error Error `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err := json.Unmarshal(b, &env); err != nil || env.Error.Code == "" {
			return &Error{Status: resp.StatusCode, Code: "http_error", Message: strings.TrimSpace(string(b))}
		}
		env.Error.Status = resp.StatusCode
		return &env.Error
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err := io.Copy(w, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("helpmesh: decode %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// Person is a user as shown on tickets and messages.
type Person struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// User is a person with an account.
type User struct {
	ID             int64     `json:"id"`
	Email          string    `json:"email"`
	Name           string    `json:"name"`
	Role           string    `json:"role"`
	Team           string    `json:"team,omitempty"`
	Disabled       bool      `json:"disabled,omitempty"`
	CertificateDNs []string  `json:"certificate_dns,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// UserUpdate is a change to a user (administrators only); nil fields stay
// as they are.
type UserUpdate struct {
	Name           *string   `json:"name,omitempty"`
	Role           *string   `json:"role,omitempty"`
	Team           *string   `json:"team,omitempty"`
	Disabled       *bool     `json:"disabled,omitempty"`
	CertificateDNs *[]string `json:"certificate_dns,omitempty"`
}

// Me is the caller with their units.
type Me struct {
	User
	Units []struct {
		Slug    string `json:"slug"`
		Name    string `json:"name"`
		Role    string `json:"role"`
		Handler bool   `json:"handler"`
	} `json:"units"`
	Handler bool   `json:"handler"`
	Via     string `json:"via"`
}

// NewUser is what creating a user takes.
type NewUser struct {
	Email          string   `json:"email"`
	Name           string   `json:"name"`
	Role           string   `json:"role,omitempty"`
	Password       string   `json:"password,omitempty"`
	Team           string   `json:"team,omitempty"`
	CertificateDNs []string `json:"certificate_dns,omitempty"`
}

// Token is an API token; Token holds the secret only when just created.
type Token struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Scope     string     `json:"scope"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	Token     string     `json:"token"`
}

// NewToken is what creating a token takes.
type NewToken struct {
	Name      string     `json:"name,omitempty"`
	Scope     string     `json:"scope,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Unit is a support unit.
type Unit struct {
	ID           int64  `json:"id,omitempty"`
	Slug         string `json:"slug"`
	Name         string `json:"name"`
	Email        string `json:"email,omitempty"`
	CommentEmail string `json:"comment_email,omitempty"`
	QoSLevel     string `json:"qos_level,omitempty"`
	// QoS is the response time per priority (less_urgent, urgent,
	// very_urgent, top_priority): durations such as "5wd", "4wh", "90s".
	// Set with QoSLevel "custom".
	QoS map[string]string `json:"qos,omitempty"`
	// Calendar is the unit's working time; nil: the instance's default.
	Calendar *Calendar `json:"calendar,omitempty"`
	Mode     string    `json:"mode,omitempty"`
	Handler  bool      `json:"handler,omitempty"`
	// Chat is shown to the unit's admins and administrators only.
	Chat *Chat `json:"chat,omitempty"`
}

// Calendar is a unit's working time.
type Calendar struct {
	Timezone string   `json:"timezone"`
	Days     string   `json:"days"`
	Hours    string   `json:"hours"`
	Holidays []string `json:"holidays,omitempty"`
}

// Chat is a unit's chat: a Slack-compatible incoming webhook that gets a
// post per chosen event of the unit's tickets.
type Chat struct {
	URL    string   `json:"url"`
	Format string   `json:"format"` // mattermost, rocketchat or slack
	Events []string `json:"events"`
}

// Member is a person's membership of a unit.
type Member struct {
	UserID int64  `json:"user_id"`
	Email  string `json:"email,omitempty"`
	Name   string `json:"name,omitempty"`
	Role   string `json:"role"`
}

// Service is an entry of the service catalogue.
type Service struct {
	ID          int64  `json:"id,omitempty"`
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Unit        string `json:"unit"`
	Mode        string `json:"mode,omitempty"`
	// AlarmEmail is the emergency address alarms are mailed to; AlarmTeams
	// the teams whose members may raise them.
	AlarmEmail string   `json:"alarm_email,omitempty"`
	AlarmTeams []string `json:"alarm_teams,omitempty"`
	// Connector names the connector of a service in the external mode.
	Connector string `json:"connector,omitempty"`
}

// Ticket is one request for help.
type Ticket struct {
	ID        int64      `json:"id"`
	Subject   string     `json:"subject"`
	Status    string     `json:"status"`
	Priority  string     `json:"priority"`
	Type      string     `json:"type"`
	Kind      string     `json:"kind"`
	Service   *string    `json:"service"`
	Unit      *string    `json:"unit"`
	Requester Person     `json:"requester"`
	Assignee  *Person    `json:"assignee"`
	Watchers  []string   `json:"watchers"`
	Source    string     `json:"source"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	SolvedAt  *time.Time `json:"solved_at"`
	// EscalationLevel counts the user escalations, 0 to 3 (Escalate).
	EscalationLevel int `json:"escalation_level"`
	// OriginalPriority is the priority the ticket was opened with.
	OriginalPriority string `json:"original_priority"`
	// QoS is the response clock of the ticket's unit; nil without a unit.
	QoS *QoSClock `json:"qos"`
}

// QoSClock is a ticket's response clock: its unit is warned at WarnAt and
// must respond by DueAt; State is running, warning, violated or met.
type QoSClock struct {
	DueAt  time.Time `json:"due_at"`
	WarnAt time.Time `json:"warn_at"`
	State  string    `json:"state"`
}

// NewTicket is what opening a ticket takes.
type NewTicket struct {
	Subject  string   `json:"subject"`
	Body     string   `json:"body"`
	Service  string   `json:"service,omitempty"`
	Unit     string   `json:"unit,omitempty"`
	Type     string   `json:"type,omitempty"`
	Priority string   `json:"priority,omitempty"`
	Kind     string   `json:"kind,omitempty"`
	Watchers []string `json:"watchers,omitempty"`
}

// TicketUpdate changes fields; nil fields are left out. Unassign sends
// "assignee": null.
type TicketUpdate struct {
	Status   *string
	Priority *string
	Type     *string
	Unit     *string
	Service  *string
	Assignee *int64
	Unassign bool
}

func (u TicketUpdate) body() map[string]any {
	m := map[string]any{}
	for k, v := range map[string]*string{"status": u.Status, "priority": u.Priority, "type": u.Type, "unit": u.Unit, "service": u.Service} {
		if v != nil {
			m[k] = *v
		}
	}
	if u.Assignee != nil {
		m["assignee"] = *u.Assignee
	}
	if u.Unassign {
		m["assignee"] = nil
	}
	return m
}

// S returns a pointer to s, for TicketUpdate fields.
func S(s string) *string { return &s }

// Attachment is a file on a message.
type Attachment struct {
	ID          int64  `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	URL         string `json:"url"`
}

// Message is one entry of a ticket's thread.
type Message struct {
	ID          int64        `json:"id"`
	TicketID    int64        `json:"ticket_id"`
	Author      Person       `json:"author"`
	Internal    bool         `json:"internal"`
	Source      string       `json:"source"`
	Body        string       `json:"body"`
	BodyHTML    string       `json:"body_html"`
	CreatedAt   time.Time    `json:"created_at"`
	Attachments []Attachment `json:"attachments"`
}

// File is an attachment to upload.
type File struct {
	Name        string
	ContentType string
	Content     io.Reader
}

// HistoryEntry is one line of a ticket's history.
type HistoryEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Field  string    `json:"field"`
	Old    string    `json:"old"`
	New    string    `json:"new"`
	Source string    `json:"source"`
	// Reason says why a change was propagated along a relation.
	Reason string `json:"reason"`
}

// Event is one entry of the change feed.
type Event struct {
	ID       int64           `json:"id"`
	Type     string          `json:"type"`
	At       time.Time       `json:"at"`
	TicketID int64           `json:"ticket_id"`
	Data     json.RawMessage `json:"data"`
}

// EventPage is a page of the change feed.
type EventPage struct {
	Items      []Event `json:"items"`
	NextCursor string  `json:"next_cursor"`
}

// Relation links two tickets, as seen from the ticket it was read from.
type Relation struct {
	ID           int64  `json:"id"`
	Kind         string `json:"kind"`
	Other        int64  `json:"other"`
	OtherSubject string `json:"other_subject"`
	OtherStatus  string `json:"other_status"`
}

// TicketPage is one page of a ticket list.
type TicketPage struct {
	Items      []Ticket `json:"items"`
	NextCursor string   `json:"next_cursor"`
}

// ListOptions filters a ticket list.
type ListOptions struct {
	Status    string // comma-separated statuses
	Unit      string
	Service   string
	Requester string // id, "me" or email
	Assignee  string // id, "me", email or "none"
	Q         string
	Cursor    string
	Limit     int
}

func (o ListOptions) query() string {
	v := url.Values{}
	for k, s := range map[string]string{"status": o.Status, "unit": o.Unit, "service": o.Service, "requester": o.Requester,
		"assignee": o.Assignee, "q": o.Q, "cursor": o.Cursor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if o.Limit > 0 {
		v.Set("limit", strconv.Itoa(o.Limit))
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

type items[T any] struct {
	Items []T `json:"items"`
}

// Me returns the caller.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var m Me
	return &m, c.Do(ctx, "GET", "/api/v1/me", nil, &m)
}

// CreateUser creates a user (administrators).
func (c *Client) CreateUser(ctx context.Context, u NewUser) (*User, error) {
	var out User
	return &out, c.Do(ctx, "POST", "/api/v1/users", u, &out)
}

// UpdateUser changes user id.
func (c *Client) UpdateUser(ctx context.Context, userID int64, u UserUpdate) (*User, error) {
	var out User
	return &out, c.Do(ctx, "PATCH", "/api/v1/users/"+id(userID), u, &out)
}

// CreateToken creates an API token for user id.
func (c *Client) CreateToken(ctx context.Context, userID int64, t NewToken) (*Token, error) {
	var out Token
	return &out, c.Do(ctx, "POST", "/api/v1/users/"+id(userID)+"/tokens", t, &out)
}

// RevokeToken revokes token tokenID of user userID.
func (c *Client) RevokeToken(ctx context.Context, userID, tokenID int64) error {
	return c.Do(ctx, "DELETE", "/api/v1/users/"+id(userID)+"/tokens/"+id(tokenID), nil, nil)
}

// CreateUnit creates a support unit (administrators).
func (c *Client) CreateUnit(ctx context.Context, u Unit) (*Unit, error) {
	var out Unit
	return &out, c.Do(ctx, "POST", "/api/v1/units", u, &out)
}

// Units lists the support units.
func (c *Client) Units(ctx context.Context) ([]Unit, error) {
	var out items[Unit]
	return out.Items, c.Do(ctx, "GET", "/api/v1/units", nil, &out)
}

// AddMember adds a user to a unit with role member or admin.
func (c *Client) AddMember(ctx context.Context, unit string, userID int64, role string) (*Member, error) {
	var out Member
	return &out, c.Do(ctx, "POST", "/api/v1/units/"+url.PathEscape(unit)+"/members", Member{UserID: userID, Role: role}, &out)
}

// CreateService adds a service to the catalogue (administrators).
func (c *Client) CreateService(ctx context.Context, s Service) (*Service, error) {
	var out Service
	return &out, c.Do(ctx, "POST", "/api/v1/services", s, &out)
}

// Services lists the catalogue.
func (c *Client) Services(ctx context.Context) ([]Service, error) {
	var out items[Service]
	return out.Items, c.Do(ctx, "GET", "/api/v1/services", nil, &out)
}

// CreateTicket opens a ticket.
func (c *Client) CreateTicket(ctx context.Context, t NewTicket) (*Ticket, error) {
	var out Ticket
	return &out, c.Do(ctx, "POST", "/api/v1/tickets", t, &out)
}

// Ticket returns ticket id.
func (c *Client) Ticket(ctx context.Context, ticketID int64) (*Ticket, error) {
	var out Ticket
	return &out, c.Do(ctx, "GET", "/api/v1/tickets/"+id(ticketID), nil, &out)
}

// Tickets lists tickets.
func (c *Client) Tickets(ctx context.Context, o ListOptions) (*TicketPage, error) {
	var out TicketPage
	return &out, c.Do(ctx, "GET", "/api/v1/tickets"+o.query(), nil, &out)
}

// UpdateTicket changes fields of a ticket.
func (c *Client) UpdateTicket(ctx context.Context, ticketID int64, u TicketUpdate) (*Ticket, error) {
	var out Ticket
	return &out, c.Do(ctx, "PATCH", "/api/v1/tickets/"+id(ticketID), u.body(), &out)
}

// Escalate raises a ticket's user escalation level by one (GGUS: 1 the
// unit is reminded, 2 the ticket handler team too, 3 the administrators
// too), giving the reason, and returns the ticket as escalated.
func (c *Client) Escalate(ctx context.Context, ticketID int64, reason string) (*Ticket, error) {
	var out Ticket
	return &out, c.Do(ctx, "POST", "/api/v1/tickets/"+id(ticketID)+"/escalate", map[string]string{"reason": reason}, &out)
}

// Reply adds a public reply; Note adds an internal note.
func (c *Client) Reply(ctx context.Context, ticketID int64, body string) (*Message, error) {
	return c.AddMessage(ctx, ticketID, body, false, nil)
}

// Note adds an internal note.
func (c *Client) Note(ctx context.Context, ticketID int64, body string) (*Message, error) {
	return c.AddMessage(ctx, ticketID, body, true, nil)
}

// AddMessage adds a message, with files sent as multipart/form-data.
func (c *Client) AddMessage(ctx context.Context, ticketID int64, body string, internal bool, files []File) (*Message, error) {
	var out Message
	path := "/api/v1/tickets/" + id(ticketID) + "/messages"
	if len(files) == 0 {
		return &out, c.Do(ctx, "POST", path, map[string]any{"body": body, "internal": internal}, &out)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("body", body)
	_ = mw.WriteField("internal", strconv.FormatBool(internal))
	for _, f := range files {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="file"; filename=%q`, f.Name)}
		ct := f.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		h["Content-Type"] = []string{ct}
		pw, err := mw.CreatePart(h)
		if err != nil {
			return nil, err
		}
		if _, err := io.Copy(pw, f.Content); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+path, &buf)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return &out, c.send(req, &out)
}

// Messages returns a ticket's thread.
func (c *Client) Messages(ctx context.Context, ticketID int64) ([]Message, error) {
	var out items[Message]
	return out.Items, c.Do(ctx, "GET", "/api/v1/tickets/"+id(ticketID)+"/messages", nil, &out)
}

// History returns a ticket's history.
func (c *Client) History(ctx context.Context, ticketID int64) ([]HistoryEntry, error) {
	var out items[HistoryEntry]
	return out.Items, c.Do(ctx, "GET", "/api/v1/tickets/"+id(ticketID)+"/history", nil, &out)
}

// Events returns the change feed after cursor ("" for the oldest kept);
// limit 0 asks for the server's default.
func (c *Client) Events(ctx context.Context, cursor string, limit int) (*EventPage, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("after", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out EventPage
	return &out, c.Do(ctx, "GET", "/api/v1/events?"+q.Encode(), nil, &out)
}

// AddWatcher adds an address to a ticket's watchers.
func (c *Client) AddWatcher(ctx context.Context, ticketID int64, email string) error {
	return c.Do(ctx, "POST", "/api/v1/tickets/"+id(ticketID)+"/watchers", map[string]string{"email": email}, nil)
}

// Relate links two tickets.
func (c *Client) Relate(ctx context.Context, ticketID, other int64, kind string) (*Relation, error) {
	var out Relation
	return &out, c.Do(ctx, "POST", "/api/v1/tickets/"+id(ticketID)+"/relations", map[string]any{"kind": kind, "other": other}, &out)
}

// Relations lists a ticket's relations.
func (c *Client) Relations(ctx context.Context, ticketID int64) ([]Relation, error) {
	var out struct {
		Items []Relation `json:"items"`
	}
	return out.Items, c.Do(ctx, "GET", "/api/v1/tickets/"+id(ticketID)+"/relations", nil, &out)
}

// Unrelate ends relation rid of a ticket.
func (c *Client) Unrelate(ctx context.Context, ticketID, rid int64) error {
	return c.Do(ctx, "DELETE", "/api/v1/tickets/"+id(ticketID)+"/relations/"+id(rid), nil, nil)
}

// Download writes an attachment to w.
func (c *Client) Download(ctx context.Context, attachmentID int64, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/api/v1/attachments/"+id(attachmentID), nil)
	if err != nil {
		return err
	}
	return c.send(req, w)
}
