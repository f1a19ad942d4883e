// Package hmpeer is the kind of peer "helpmesh": another helpmesh
// instance, spoken to through its TMF621 profile under /federation/v1/
// (package tmf621 has the wire format). Create posts a trouble ticket,
// Push appends a note (public reply or internal note) or patches the
// status and priority, Poll reads the catch-up feed.
package hmpeer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/tmf621"
)

// Options configures a Peer.
type Options struct {
	// URL is the other helpmesh's base URL (http or https).
	URL string
	// Token is the API token of the account its administrator made for us.
	Token string
	// Unit is the remote unit that gets the tickets ("" for its default).
	Unit string
	// Instance names this helpmesh in origins and external identifiers
	// (its host name).
	Instance string
	// Client sends the requests: one from outbound.Policy.Client, which
	// dials only allowed addresses, follows no redirect and times out.
	Client *http.Client
	// Connector, Callback and Subscriptions, when set, subscribe the
	// connector to the peer's hub at its first poll: the peer then pushes
	// its changes to Callback (this instance's receiver of that
	// connector), and Subscriptions keeps the secret they are signed with.
	Connector     string
	Callback      string
	Subscriptions Subscriptions
}

// Subscriptions keeps the hub subscriptions of the connectors
// (federation.Store).
type Subscriptions interface {
	Subscribed(ctx context.Context, connector string) (bool, error)
	SaveSubscription(ctx context.Context, connector string, hub *tmf621.Hub) error
}

// Peer is another helpmesh.
type Peer struct {
	base       *url.URL
	o          Options
	subscribed atomic.Bool
}

var _ connector.Peer = (*Peer)(nil)

// New checks the options and returns the peer.
func New(o Options) (*Peer, error) {
	u, err := url.Parse(strings.TrimRight(o.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("hmpeer: the url must be http(s)://host[/path] of a helpmesh")
	}
	if o.Token == "" || strings.ContainsAny(o.Token, " \r\n") {
		return nil, fmt.Errorf("hmpeer: a token is required")
	}
	if o.Client == nil {
		return nil, fmt.Errorf("hmpeer: an outbound HTTP client is required")
	}
	if o.Instance == "" {
		o.Instance = "helpmesh"
	}
	return &Peer{base: u, o: o}, nil
}

// maxAnswer bounds what is read of an answer.
const maxAnswer = tmf621.MaxDocument

// endpoint returns the URL of path under /federation/v1/.
func (p *Peer) endpoint(path string, q url.Values) string {
	u := *p.base
	u.Path = strings.TrimRight(u.Path, "/") + "/federation/v1/" + path
	u.RawQuery = q.Encode()
	return u.String()
}

// do sends a request and decodes a 2xx answer into out (when not nil).
// Errors that retrying cannot fix wrap connector.ErrPermanent.
func (p *Peer) do(ctx context.Context, method, path string, q url.Values, header map[string]string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("hmpeer: %w: %w", connector.ErrPermanent, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.endpoint(path, q), body)
	if err != nil {
		return fmt.Errorf("hmpeer: %w: %w", connector.ErrPermanent, err)
	}
	req.Header.Set("Authorization", "Bearer "+p.o.Token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "helpmesh-federation")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := p.o.Client.Do(req)
	if err != nil {
		if errors.Is(err, outbound.ErrRefused) {
			return fmt.Errorf("hmpeer: %s %s: %w: %w", method, path, connector.ErrPermanent, err)
		}
		return fmt.Errorf("hmpeer: %s %s: %w", method, path, err) // timeouts, refused connections: retried
	}
	defer resp.Body.Close()
	if err := statusError(method, path, resp); err != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return err
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	if err := decodeAnswer(resp.Body, out); err != nil {
		return fmt.Errorf("hmpeer: %s %s: %w: %w", method, path, connector.ErrPermanent, err)
	}
	return nil
}

// statusError turns a non-2xx answer into an error: 5xx, 408 and 429 are
// retried; redirects (never followed: they could lead to another host)
// and other 4xx are permanent.
func statusError(method, path string, resp *http.Response) error {
	c := resp.StatusCode
	switch {
	case c >= 200 && c < 300:
		return nil
	case c >= 500 || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout:
		return fmt.Errorf("hmpeer: %s %s: the peer answered %d", method, path, c)
	case c >= 300 && c < 400:
		return fmt.Errorf("hmpeer: %s %s: %w: the peer redirects (%d to %q), which is not followed", method, path, connector.ErrPermanent, c, resp.Header.Get("Location"))
	}
	return fmt.Errorf("hmpeer: %s %s: %w: the peer answered %d", method, path, connector.ErrPermanent, c)
}

// decodeAnswer decodes a JSON answer with tmf621's validating decoders.
func decodeAnswer(r io.Reader, out any) error {
	switch o := out.(type) {
	case *tmf621.TroubleTicket:
		t, err := tmf621.DecodeTicket(r, false)
		if err != nil {
			return err
		}
		if t.ID == "" {
			return fmt.Errorf("the trouble ticket has no id")
		}
		*o = *t
	case *tmf621.EventPage:
		pg, err := tmf621.DecodeEventPage(r)
		if err != nil {
			return err
		}
		*o = *pg
	default:
		return json.NewDecoder(io.LimitReader(r, maxAnswer)).Decode(out)
	}
	return nil
}

// origin is the origin of local ticket id (and message mid, when not
// empty) on this instance.
func (p *Peer) origin(id int64, mid string) string {
	s := "hm:" + p.o.Instance + "/" + strconv.FormatInt(id, 10)
	if mid != "" {
		s += "/" + mid
	}
	return s
}

// Create posts the ticket as a TMF621 trouble ticket, with our id as its
// external identifier and an Idempotency-Key, so that a retried create
// after a lost answer opens it once.
func (p *Peer) Create(ctx context.Context, t connector.Ticket) (connector.Ref, error) {
	files, left := carry(t.Attachments)
	tt := tmf621.TroubleTicket{
		Type: "TroubleTicket", Name: t.Subject, Description: t.Body + notCarried(left), Priority: t.Priority, Severity: t.Priority,
		Attachment:   files,
		Status:       tmf621.ToCoarse(t.Status),
		RelatedParty: []tmf621.Party{{Role: "requester", Name: t.Requester.Name, Email: t.Requester.Email}},
		ExternalIdentifier: []tmf621.ExternalIdentifier{{
			ID: strconv.FormatInt(t.LocalID, 10), Owner: "hm:" + p.o.Instance,
		}},
	}
	if p.o.Unit != "" {
		tt.SetChar("helpmesh.unit", p.o.Unit)
	}
	var got tmf621.TroubleTicket
	key := map[string]string{"Idempotency-Key": p.origin(t.LocalID, "")}
	if err := p.do(ctx, http.MethodPost, "troubleTicket", nil, key, tt, &got); err != nil {
		return connector.Ref{}, err
	}
	return connector.Ref{RemoteID: got.ID, RemoteURL: p.TicketURL(got.ID)}, nil
}

// TicketURL is the page of remote ticket id.
func (p *Peer) TicketURL(id string) string {
	u := *p.base
	u.Path = strings.TrimRight(u.Path, "/") + "/tickets/" + url.PathEscape(id)
	return u.String()
}

// Push appends a message or note, patches the status, or asks for a
// priority in an internal note.
func (p *Peer) Push(ctx context.Context, ref connector.Ref, c connector.Change) error {
	if ref.RemoteID == "" {
		return fmt.Errorf("hmpeer: push: %w: no remote ticket", connector.ErrPermanent)
	}
	path := "troubleTicket/" + url.PathEscape(ref.RemoteID)
	switch c.Kind {
	case connector.KindMessage, connector.KindNote:
		files, left := carry(c.Attachments)
		text := c.Body + notCarried(left)
		if strings.TrimSpace(text) == "" {
			text = "(files: " + fileNames(c.Attachments) + ")"
		}
		n := tmf621.Note{Type: tmf621.NoteType, Text: text, Visibility: tmf621.Public, Attachment: files}
		if c.Kind == connector.KindNote {
			n.Visibility = tmf621.Internal
		}
		if c.Author.Email != "" || c.Author.Name != "" {
			n.Author = &tmf621.Party{Name: c.Author.Name, Email: c.Author.Email}
		}
		if !c.At.IsZero() {
			at := c.At.UTC()
			n.Date = &at
		}
		var header map[string]string
		if c.RemoteID != "" {
			n.Origin = "hm:" + p.o.Instance + "/" + c.RemoteID
			header = map[string]string{"Idempotency-Key": n.Origin}
		}
		return p.do(ctx, http.MethodPost, path+"/note", nil, header, n, nil)
	case connector.KindStatus:
		if c.Status == "" {
			return fmt.Errorf("hmpeer: push: %w: a status change without a status", connector.ErrPermanent)
		}
		tt := tmf621.TroubleTicket{Status: tmf621.ToCoarse(c.Status)}
		tt.SetChar(tmf621.CharStatus, c.Status)
		return p.do(ctx, http.MethodPatch, path, nil, nil, tt, nil)
	case connector.KindPriority:
		if c.Priority == "" {
			return fmt.Errorf("hmpeer: push: %w: a priority change without a priority", connector.ErrPermanent)
		}
		// research/federation.md §5 rule 7: the peer, the working side,
		// owns the priority (it answers a PATCH of it with 409): ask for
		// it in an internal note its support unit reads.
		return p.Push(ctx, ref, connector.Change{Kind: connector.KindNote, Author: c.Author, At: c.At,
			Body: "The requester's side (" + p.o.Instance + ") asks for the priority " + c.Priority + "; the support unit here sets it."})
	}
	return fmt.Errorf("hmpeer: push: %w: unknown change kind %q", connector.ErrPermanent, c.Kind)
}

// PollLimit is the page size asked of the feed.
const PollLimit = 100

// Poll reads one page of the catch-up feed after cursor ("" asks the
// peer for the position of "now"). Changes made by our own account
// (echo) and changes to tickets not in refs (when refs is not empty) are
// left out.
func (p *Peer) Poll(ctx context.Context, cursor string, refs []connector.Ref) ([]connector.Change, string, error) {
	p.subscribe(ctx)
	after := cursor
	if after == "" {
		after = "now"
	}
	q := url.Values{"after": {after}, "limit": {strconv.Itoa(PollLimit)}}
	var pg tmf621.EventPage
	if err := p.do(ctx, http.MethodGet, "events", q, nil, nil, &pg); err != nil {
		return nil, cursor, err
	}
	next := pg.NextCursor
	if next == "" {
		next = cursor
	}
	if cursor == "" {
		return nil, next, nil
	}
	ids := make(map[string]connector.Ref, len(refs))
	for _, r := range refs {
		ids[r.RemoteID] = r
	}
	var out []connector.Change
	for _, e := range pg.Items {
		ref, linked := ids[e.TicketID]
		if e.Echo || (len(refs) > 0 && !linked) {
			continue
		}
		if !linked {
			ref = connector.Ref{RemoteID: e.TicketID, RemoteURL: p.TicketURL(e.TicketID)}
		}
		out = append(out, changesOf(e, ref)...)
	}
	return out, next, nil
}

// changesOf turns a feed entry into changes: a message or note, a status
// and a priority change (RemoteIDs told apart by a suffix).
func changesOf(e tmf621.Event, ref connector.Ref) []connector.Change {
	var out []connector.Change
	base := connector.Change{At: e.At, Ticket: ref}
	if e.Note != nil {
		c := base
		c.Kind, c.Body, c.RemoteID = connector.KindMessage, e.Note.Text, e.ID
		c.Attachments, c.Body = received(e.Note.Attachment, c.Body)
		if e.Note.Internal() {
			c.Kind = connector.KindNote
		}
		if a := e.Note.Author; a != nil {
			c.Author = connector.Person{Email: a.Email, Name: a.Name}
		}
		out = append(out, c)
	}
	if slices.Contains(e.Changed, "status") && e.Status != "" {
		c := base
		c.Kind, c.Status, c.RemoteID = connector.KindStatus, e.Status, e.ID+"/status"
		out = append(out, c)
	}
	if slices.Contains(e.Changed, "priority") && e.Priority != "" {
		c := base
		c.Kind, c.Priority, c.RemoteID = connector.KindPriority, e.Priority, e.ID+"/priority"
		out = append(out, c)
	}
	return out
}

// Subscribe registers callback at the peer's hub: the peer then pushes a
// signed delivery to callback/listener/<type> for each change to our
// tickets there that we did not make. The answer holds the secret that
// signs them (federation.Store.SaveSubscription keeps it).
func (p *Peer) Subscribe(ctx context.Context, callback string) (*tmf621.Hub, error) {
	var h tmf621.Hub
	if err := p.do(ctx, http.MethodPost, "hub", nil, nil, tmf621.Hub{Callback: callback}, &h); err != nil {
		return nil, err
	}
	if h.ID == "" || !strings.HasPrefix(h.Secret, "whsec_") {
		return nil, fmt.Errorf("hmpeer: subscribe: %w: the hub answered no id or secret", connector.ErrPermanent)
	}
	return &h, nil
}

// subscribe subscribes the connector to the peer's hub once, when
// Options ask for it and it is not yet. A failure is left for the next
// poll: the feed alone keeps the tickets in sync, the pushes only make
// it faster.
func (p *Peer) subscribe(ctx context.Context) {
	if p.o.Subscriptions == nil || p.o.Callback == "" || p.subscribed.Load() {
		return
	}
	if ok, err := p.o.Subscriptions.Subscribed(ctx, p.o.Connector); err != nil || ok {
		p.subscribed.Store(ok)
		return
	}
	hub, err := p.Subscribe(ctx, p.o.Callback)
	if err != nil {
		return
	}
	if p.o.Subscriptions.SaveSubscription(ctx, p.o.Connector, hub) == nil {
		p.subscribed.Store(true)
	}
}

// carry turns the files of a change into the note's attachments, as
// many as the profile's bounds take (tmf621.MaxAttachments, together
// tmf621.MaxNoteFiles); left are the files not carried.
func carry(as []connector.Attachment) (files []tmf621.Attachment, left []connector.Attachment) {
	var total int64
	for _, a := range as {
		size := int64(len(a.Data))
		if len(files) == tmf621.MaxAttachments || total+size > tmf621.MaxNoteFiles {
			left = append(left, a)
			continue
		}
		total += size
		files = append(files, tmf621.NewAttachment(a.Filename, a.ContentType, a.Data))
	}
	return files, left
}

// received decodes the attachments of a note read from the peer. The
// type of each is decided from its content (tmf621.FileType), never from
// the peer's word alone; a file whose content does not decode is left
// out and named in the body.
func received(as []tmf621.Attachment, body string) ([]connector.Attachment, string) {
	var out []connector.Attachment
	for _, a := range as {
		if a.Content == "" && a.Size > 0 {
			body += fmt.Sprintf("\n\n[file %q (%d bytes) too large to transfer: see the ticket on the other side]", a.Name, a.Size)
			continue
		}
		data, err := a.Data()
		if err != nil {
			body += fmt.Sprintf("\n\n[attachment %q not received: %v]", a.Name, err)
			continue
		}
		out = append(out, connector.Attachment{Filename: a.Name, ContentType: tmf621.FileType(a.MimeType, http.DetectContentType(data)), Data: data})
	}
	return out, body
}

// fileNames lists the names of files.
func fileNames(as []connector.Attachment) string {
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = a.Filename
	}
	return strings.Join(names, ", ")
}

// notCarried names the files a note could not carry (over the profile's
// bounds), so that the note says what the other side misses.
func notCarried(as []connector.Attachment) string {
	if len(as) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n\n[attachments too large to transfer:")
	for _, a := range as {
		fmt.Fprintf(&b, " %s (%d bytes);", a.Filename, len(a.Data))
	}
	b.WriteString(" see the ticket on the other side]")
	return b.String()
}
