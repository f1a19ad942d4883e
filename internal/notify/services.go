package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/incident"
	"github.com/helpmesh/helpmesh/internal/subscription"
)

// Who is told of what happens to services (not tickets):
//   - a new incident and each update of one (incident.created,
//     incident.updated): the confirmed subscribers of any service the
//     incident affects;
//   - a new change and its reminders 24 h and 1 h before its start
//     (change.created, change.reminder): the subscribers of its services;
//   - an announcement (announcement.created): its audience, the
//     subscribers of its services and/or the people with tickets on them
//     lately (subscription.Store.Requesters), each address once, as a
//     subscriber when it is both (its mail then has an unsubscribe link).

// Kinds of notice about services.
const (
	IncidentNotice     Kind = "incident"
	ChangeNotice       Kind = "change"
	AnnouncementNotice Kind = "announcement"
)

// Roles of those told of services.
const (
	// Subscriber confirmed a subscription on the status page.
	Subscriber Role = "subscriber"
	// ServiceRequester has tickets on the service (announcements).
	ServiceRequester Role = "service_requester"
)

// Audiences is who may be told of services (the subscription store).
type Audiences interface {
	Subscribers(ctx context.Context, services []string) ([]subscription.Subscriber, error)
	Requesters(ctx context.Context, services []string) ([]string, error)
}

// Incidents reads an incident (the incident store).
type Incidents interface {
	Get(ctx context.Context, id int64) (*incident.Incident, error)
}

// ServiceOptions configure ServiceNotifier. Audiences and Services are
// required; without Incidents an incident tells the subscribers of the
// services its event names.
type ServiceOptions struct {
	Audiences Audiences
	Services  Services
	Incidents Incidents
	// Internal tells whether addr is one of the helpdesk's own addresses.
	Internal func(addr string) bool
}

// ServiceNotifier decides who is told of incidents, changes and
// announcements.
type ServiceNotifier struct{ opts ServiceOptions }

// NewServiceNotifier returns a ServiceNotifier.
func NewServiceNotifier(opts ServiceOptions) *ServiceNotifier {
	if opts.Internal == nil {
		opts.Internal = func(string) bool { return false }
	}
	return &ServiceNotifier{opts: opts}
}

// ServiceEvents are the event types ServiceNotifier decides on.
var ServiceEvents = []string{event.IncidentCreated, event.IncidentUpdated, event.ChangeCreated, event.ChangeReminder, event.AnnouncementCreated}

// NamedService is a service as told: its slug and name.
type NamedService struct{ Slug, Name string }

// ServiceNotice is one address told of one thing about services.
type ServiceNotice struct {
	Kind Kind
	To   Recipient
	// Unsubscribe is the subscriber's unsubscribe token ("" for a
	// requester who is no subscriber).
	Unsubscribe string
}

// ChangeWindow is what a change event tells (the data the change package
// appends).
type ChangeWindow struct {
	ID             int64     `json:"id"`
	Title          string    `json:"title"`
	Services       []string  `json:"services"`
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	TimeZone       string    `json:"time_zone"`
	Severity       string    `json:"severity"`
	Classification string    `json:"classification"`
	Status         string    `json:"status"`
	Lead           string    `json:"lead"` // "24h" or "1h": a reminder
}

// ServiceDecision is who is told of one event about services, with what
// the telling needs.
type ServiceDecision struct {
	Type     string
	EventID  int64
	ID       int64 // of the incident, change or announcement
	Title    string
	Body     string // the announcement, or the incident's latest update
	Services []NamedService
	// Incident: its status and impact, and each service's state.
	Status, Impact string
	Components     []incident.ComponentChange
	// Change: its window.
	Change  *ChangeWindow
	Notices []ServiceNotice
}

// Decide returns who is told of e; nil when e is of no type it decides
// on, or tells nobody.
func (n *ServiceNotifier) Decide(ctx context.Context, e event.Event) (*ServiceDecision, error) {
	d := &ServiceDecision{Type: e.Type, EventID: e.ID}
	var slugs []string
	kind := IncidentNotice
	audience := []string{subscription.AudienceSubscribers}
	switch e.Type {
	case event.IncidentCreated, event.IncidentUpdated:
		var data incident.EventData
		if err := json.Unmarshal(e.Data, &data); err != nil {
			return nil, fmt.Errorf("notify: event %d: %w", e.ID, err)
		}
		d.ID, d.Title, d.Status, d.Impact, d.Components = data.ID, data.Title, data.Status, data.Impact, data.Components
		for _, c := range data.Components {
			slugs = append(slugs, c.Service)
		}
		if err := n.incident(ctx, d, &slugs); err != nil {
			return nil, err
		}
	case event.ChangeCreated, event.ChangeReminder:
		kind = ChangeNotice
		var data ChangeWindow
		if err := json.Unmarshal(e.Data, &data); err != nil {
			return nil, fmt.Errorf("notify: event %d: %w", e.ID, err)
		}
		d.ID, d.Title, d.Change, slugs = data.ID, data.Title, &data, data.Services
		if e.Type == event.ChangeReminder && data.Lead == "" {
			data.Lead = "soon"
		}
	case event.AnnouncementCreated:
		kind = AnnouncementNotice
		var data subscription.EventData
		if err := json.Unmarshal(e.Data, &data); err != nil {
			return nil, fmt.Errorf("notify: event %d: %w", e.ID, err)
		}
		d.ID, d.Title, d.Body, slugs, audience = data.ID, data.Title, data.Body, data.Services, data.Audience
	default:
		return nil, nil
	}
	slugs = unique(slugs)
	if len(slugs) == 0 {
		return nil, nil
	}
	if err := n.names(ctx, d, slugs); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	add := func(addr string, role Role, unsub string) {
		addr = strings.ToLower(strings.TrimSpace(addr))
		if addr == "" || seen[addr] || n.opts.Internal(addr) {
			return
		}
		seen[addr] = true
		d.Notices = append(d.Notices, ServiceNotice{Kind: kind, To: Recipient{Addr: addr, Role: role}, Unsubscribe: unsub})
	}
	if slices.Contains(audience, subscription.AudienceSubscribers) {
		subs, err := n.opts.Audiences.Subscribers(ctx, slugs)
		if err != nil {
			return nil, fmt.Errorf("notify: subscribers: %w", err)
		}
		for _, s := range subs {
			add(s.Addr, Subscriber, s.Unsubscribe)
		}
	}
	if slices.Contains(audience, subscription.AudienceRequesters) {
		addrs, err := n.opts.Audiences.Requesters(ctx, slugs)
		if err != nil {
			return nil, fmt.Errorf("notify: requesters: %w", err)
		}
		for _, a := range addrs {
			add(a, ServiceRequester, "")
		}
	}
	return d, nil
}

// incident reads the incident of d: every service it affects, and the
// body of its latest update.
func (n *ServiceNotifier) incident(ctx context.Context, d *ServiceDecision, slugs *[]string) error {
	if n.opts.Incidents == nil {
		return nil
	}
	in, err := n.opts.Incidents.Get(ctx, d.ID)
	if apperr.Is(err, apperr.NotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("notify: incident %d: %w", d.ID, err)
	}
	d.Components = d.Components[:0]
	for _, c := range in.Components {
		*slugs = append(*slugs, c.Service)
		st := c.Status
		if c.RecoveredAt != nil {
			st = "operational"
		}
		d.Components = append(d.Components, incident.ComponentChange{Service: c.Service, Status: st})
	}
	if len(in.Updates) > 0 {
		d.Body = in.Updates[0].Body
	}
	return nil
}

// names sets the services of d, by name; a service gone since keeps its
// slug.
func (n *ServiceNotifier) names(ctx context.Context, d *ServiceDecision, slugs []string) error {
	for _, slug := range slugs {
		ns := NamedService{Slug: slug, Name: slug}
		sv, err := n.opts.Services.Service(ctx, slug)
		switch {
		case apperr.Is(err, apperr.NotFound):
		case err != nil:
			return fmt.Errorf("notify: service %s: %w", slug, err)
		default:
			ns.Name = sv.Name
		}
		d.Services = append(d.Services, ns)
	}
	return nil
}

func unique(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
