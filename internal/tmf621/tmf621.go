// Package tmf621 is the wire format of helpmesh's profile of TMF621
// (Trouble Ticket Management, v5) under /federation/v1/: the JSON of a
// trouble ticket, of a note, of the catch-up feed and of a hub
// subscription, their validation, the mapping of helpmesh's fine statuses
// to TMF621's coarse ones, and the verification of signed deliveries
// (Standard Webhooks). Both sides use it: the helpmesh kind of peer
// (connector/hmpeer) and the server (federation).
package tmf621

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Characteristic names of the helpmesh profile.
const (
	CharStatus     = "helpmesh.status"     // the fine (GGUS) status
	CharTicketType = "helpmesh.ticketType" // incident | service_request
	CharKind       = "helpmesh.kind"       // user | team | alarm
)

// Visibility of a note.
const (
	Public   = "public"
	Internal = "internal"
)

// NoteType is the @type of a helpmesh note.
const NoteType = "HelpmeshNote"

// Limits of what is accepted.
const (
	MaxName        = 500
	MaxText        = 1 << 20
	MaxListItems   = 100
	MaxValueLength = 2000
)

// Party is someone related to a ticket: the requester, a note's author.
type Party struct {
	Role  string `json:"role,omitempty"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// ExternalIdentifier names the ticket on another system.
type ExternalIdentifier struct {
	ID    string `json:"id"`
	Owner string `json:"owner,omitempty"`
	Href  string `json:"href,omitempty"`
}

// Characteristic is a name/value pair of the helpmesh profile.
type Characteristic struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Note is a message of a ticket: a public reply or an internal note.
type Note struct {
	ID         string     `json:"id,omitempty"`
	Type       string     `json:"@type,omitempty"`
	Text       string     `json:"text"`
	Visibility string     `json:"visibility,omitempty"` // public (default) | internal
	Author     *Party     `json:"author,omitempty"`
	Date       *time.Time `json:"date,omitempty"`
	// Origin is hm:<instance>/<ticket>/<message> of the message this
	// note copies: a peer skips its own origins (echoes).
	Origin string `json:"origin,omitempty"`
	// Attachment are the note's files, content inline (attachment.go).
	Attachment []Attachment `json:"attachment,omitempty"`
}

// Internal tells whether n is an internal note.
func (n Note) Internal() bool { return n.Visibility == Internal }

// TroubleTicket is a ticket of the helpmesh profile. On create, Name,
// Description and RelatedParty (the requester) are required; on PATCH
// every field is optional and only Priority and the status
// characteristic (or the coarse Status) change anything.
type TroubleTicket struct {
	ID                 string               `json:"id,omitempty"`
	Href               string               `json:"href,omitempty"`
	Type               string               `json:"@type,omitempty"`
	Name               string               `json:"name,omitempty"`
	Description        string               `json:"description,omitempty"`
	Severity           string               `json:"severity,omitempty"`
	Priority           string               `json:"priority,omitempty"`
	Status             string               `json:"status,omitempty"`
	CreationDate       *time.Time           `json:"creationDate,omitempty"`
	LastUpdate         *time.Time           `json:"lastUpdate,omitempty"`
	RelatedParty       []Party              `json:"relatedParty,omitempty"`
	ExternalIdentifier []ExternalIdentifier `json:"externalIdentifier,omitempty"`
	ExternalReference  []ExternalIdentifier `json:"externalReference,omitempty"` // TMF621 v4's name, read as ExternalIdentifier
	Characteristic     []Characteristic     `json:"troubleTicketCharacteristic,omitempty"`
	Note               []Note               `json:"note,omitempty"`
	// Attachment are the files of the description (the first message),
	// on create, content inline as a note's (attachment.go).
	Attachment []Attachment `json:"attachment,omitempty"`
}

// Char returns the value of characteristic name, "" when absent.
func (t *TroubleTicket) Char(name string) string {
	for _, c := range t.Characteristic {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// SetChar sets characteristic name to value.
func (t *TroubleTicket) SetChar(name, value string) {
	for i := range t.Characteristic {
		if t.Characteristic[i].Name == name {
			t.Characteristic[i].Value = value
			return
		}
	}
	t.Characteristic = append(t.Characteristic, Characteristic{Name: name, Value: value})
}

// Requester returns the party with role "requester" (or the first party).
func (t *TroubleTicket) Requester() (Party, bool) {
	for _, p := range t.RelatedParty {
		if strings.EqualFold(p.Role, "requester") {
			return p, true
		}
	}
	if len(t.RelatedParty) > 0 {
		return t.RelatedParty[0], true
	}
	return Party{}, false
}

// FineStatus is the helpmesh status the ticket carries: the
// characteristic, else the coarse status mapped (FromCoarse).
func (t *TroubleTicket) FineStatus() string {
	if s := t.Char(CharStatus); s != "" {
		return s
	}
	return FromCoarse(t.Status)
}

// Event is one entry of the catch-up feed.
type Event struct {
	ID       string    `json:"id"`
	Type     string    `json:"type"` // helpmesh's event type (ticket.message, ...)
	At       time.Time `json:"at"`
	TicketID string    `json:"ticketId"`
	Note     *Note     `json:"note,omitempty"`     // ticket.message, ticket.note
	Status   string    `json:"status,omitempty"`   // the fine status after the change
	Priority string    `json:"priority,omitempty"` // the priority after the change
	Changed  []string  `json:"changed,omitempty"`  // fields changed: status, priority
	Echo     bool      `json:"echo,omitempty"`     // made by the reader's own account
}

// EventPage is an answer of GET /federation/v1/events.
type EventPage struct {
	Items      []Event `json:"items"`
	NextCursor string  `json:"next_cursor"`
}

// Hub is a subscription of the hub: changes to the subscriber's tickets
// are delivered to Callback.
type Hub struct {
	ID       string `json:"id,omitempty"`
	Callback string `json:"callback"`
	Query    string `json:"query,omitempty"`
	// Secret (whsec_...) signs the deliveries; shown once, on create.
	Secret string `json:"secret,omitempty"`
}

// Delivery is the body of a pushed (thin) delivery: which ticket changed;
// the receiver reads the changes from the catch-up feed.
type Delivery struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		TicketID string `json:"ticketId"`
		EventID  string `json:"eventId"`
	} `json:"data"`
}

// ErrInvalid marks JSON that is not a valid document of the profile.
var ErrInvalid = errors.New("tmf621: invalid")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// DecodeJSON reads one JSON object (at most max bytes) into v; unknown
// fields are allowed (other TMF621 clients send @baseType, href, ...).
// Any failure wraps ErrInvalid.
func DecodeJSON(r io.Reader, max int64, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return fmt.Errorf("tmf621: read: %w", err)
	}
	if int64(len(data)) > max {
		return invalid("the document is larger than %d bytes", max)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return invalid("the document must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return invalid("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("the document must hold exactly one JSON object")
	}
	return nil
}

// MaxDocument bounds a trouble ticket, a note or a feed page.
const MaxDocument = 8 << 20

// DecodeTicket reads and validates a trouble ticket. create says whether
// it creates one (name, description and a requester with an email are
// required then).
func DecodeTicket(r io.Reader, create bool) (*TroubleTicket, error) {
	var t TroubleTicket
	if err := DecodeJSON(r, MaxDocument, &t); err != nil {
		return nil, err
	}
	t.ExternalIdentifier = append(t.ExternalIdentifier, t.ExternalReference...)
	t.ExternalReference = nil
	return &t, t.Validate(create)
}

// Validate checks t (see DecodeTicket).
func (t *TroubleTicket) Validate(create bool) error {
	if create {
		if strings.TrimSpace(t.Name) == "" {
			return invalid("name is required")
		}
		if strings.TrimSpace(t.Description) == "" {
			return invalid("description is required")
		}
		p, ok := t.Requester()
		if !ok || !validEmail(p.Email) {
			return invalid("relatedParty must name the requester with an email")
		}
	}
	switch {
	case len(t.Name) > MaxName || !utf8.ValidString(t.Name):
		return invalid("name must be valid UTF-8 of at most %d bytes", MaxName)
	case len(t.Description) > MaxText || !utf8.ValidString(t.Description):
		return invalid("description must be valid UTF-8 of at most %d bytes", MaxText)
	case len(t.RelatedParty) > MaxListItems || len(t.ExternalIdentifier) > MaxListItems || len(t.Characteristic) > MaxListItems || len(t.Note) > MaxListItems:
		return invalid("a list holds at most %d items", MaxListItems)
	case t.Status != "" && !slices.Contains(CoarseStatuses, t.Status):
		return invalid("status %q is not a TMF621 status", t.Status)
	}
	for _, p := range t.RelatedParty {
		if len(p.Name) > MaxName || len(p.Role) > MaxName || (p.Email != "" && !validEmail(p.Email)) {
			return invalid("a relatedParty has an invalid name, role or email")
		}
	}
	for _, e := range t.ExternalIdentifier {
		if e.ID == "" || len(e.ID) > MaxName || len(e.Owner) > MaxName || len(e.Href) > MaxValueLength {
			return invalid("an externalIdentifier needs an id of at most %d bytes", MaxName)
		}
	}
	for _, c := range t.Characteristic {
		if c.Name == "" || len(c.Name) > MaxName || len(c.Value) > MaxValueLength {
			return invalid("a characteristic needs a name and a value of at most %d bytes", MaxValueLength)
		}
	}
	if err := validAttachments(t.Attachment); err != nil {
		return err
	}
	for _, n := range t.Note {
		if err := n.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// DecodeNote reads and validates a note.
func DecodeNote(r io.Reader) (*Note, error) {
	var n Note
	if err := DecodeJSON(r, MaxDocument, &n); err != nil {
		return nil, err
	}
	return &n, n.Validate()
}

// Validate checks a note: text, a known visibility, sizes.
func (n Note) Validate() error {
	switch {
	case strings.TrimSpace(n.Text) == "":
		return invalid("a note needs a text")
	case len(n.Text) > MaxText || !utf8.ValidString(n.Text):
		return invalid("a note's text must be valid UTF-8 of at most %d bytes", MaxText)
	case n.Visibility != "" && n.Visibility != Public && n.Visibility != Internal:
		return invalid("visibility must be public or internal")
	case len(n.Origin) > MaxValueLength:
		return invalid("origin is too long")
	case n.Author != nil && (len(n.Author.Name) > MaxName || (n.Author.Email != "" && !validEmail(n.Author.Email))):
		return invalid("the note's author has an invalid name or email")
	}
	return validAttachments(n.Attachment)
}

// DecodeEventPage reads a page of the catch-up feed.
func DecodeEventPage(r io.Reader) (*EventPage, error) {
	var p EventPage
	if err := DecodeJSON(r, MaxDocument, &p); err != nil {
		return nil, err
	}
	if len(p.Items) > 1000 {
		return nil, invalid("a feed page holds at most 1000 items")
	}
	for _, e := range p.Items {
		if e.ID == "" || e.TicketID == "" || e.Type == "" {
			return nil, invalid("a feed item needs an id, a type and a ticketId")
		}
		if e.Note != nil {
			if err := e.Note.Validate(); err != nil {
				return nil, err
			}
		}
	}
	return &p, nil
}

// DecodeHub reads and validates a hub subscription.
func DecodeHub(r io.Reader) (*Hub, error) {
	var h Hub
	if err := DecodeJSON(r, 64<<10, &h); err != nil {
		return nil, err
	}
	if h.Callback == "" || len(h.Callback) > MaxValueLength {
		return nil, invalid("callback is required")
	}
	return &h, nil
}

// validEmail is a light check: one @, something either side, no spaces
// or control characters, at most 254 bytes.
func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && domain != "" && len(s) <= 254 && !strings.ContainsAny(s, " \t\r\n<>,;\"") &&
		!strings.Contains(domain, "@") && utf8.ValidString(s)
}
