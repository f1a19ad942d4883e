package notify

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/incident"
	"github.com/helpmesh/helpmesh/internal/subscription"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// audiences: subscribers and requesters per service slug.
type audiences struct {
	subs map[string][]string
	reqs map[string][]string
}

func (a audiences) Subscribers(_ context.Context, services []string) ([]subscription.Subscriber, error) {
	var out []subscription.Subscriber
	for _, s := range services {
		for _, addr := range a.subs[s] {
			out = append(out, subscription.Subscriber{Addr: addr, Unsubscribe: "u-" + addr})
		}
	}
	return out, nil
}

func (a audiences) Requesters(_ context.Context, services []string) ([]string, error) {
	var out []string
	for _, s := range services {
		out = append(out, a.reqs[s]...)
	}
	return out, nil
}

type catalogue map[string]string

func (c catalogue) Service(_ context.Context, slug string) (*unit.Service, error) {
	if n, ok := c[slug]; ok {
		return &unit.Service{Slug: slug, Name: n}, nil
	}
	return nil, apperr.New(apperr.NotFound, "no such service")
}

type incidents map[int64]*incident.Incident

func (m incidents) Get(_ context.Context, id int64) (*incident.Incident, error) {
	if in, ok := m[id]; ok {
		return in, nil
	}
	return nil, apperr.New(apperr.NotFound, "no such incident")
}

func toldOfServices(d *ServiceDecision) string {
	if d == nil {
		return ""
	}
	var out []string
	for _, n := range d.Notices {
		out = append(out, n.To.Addr+"/"+string(n.To.Role))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func TestServiceNotices(t *testing.T) {
	ctx := context.Background()
	n := NewServiceNotifier(ServiceOptions{
		Audiences: audiences{
			subs: map[string][]string{"storage": {"sub@ext.example", "both@ext.example", "helpdesk@hm.test"}, "compute": {"sub@ext.example", "cpu@ext.example"}},
			reqs: map[string][]string{"storage": {"both@ext.example", "req@ext.example"}, "compute": {"req@ext.example"}},
		},
		Services: catalogue{"storage": "Storage", "compute": "Compute"},
		Incidents: incidents{5: {ID: 5, Components: []incident.Component{{Service: "storage", Status: "major_outage"},
			{Service: "compute", Status: "partial_outage", RecoveredAt: nil}}, Updates: []incident.Update{{Body: "newest"}, {Body: "older"}}}},
		Internal: func(a string) bool { return strings.HasSuffix(a, "@hm.test") },
	})
	ev := func(typ string, data any) event.Event {
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		return event.Event{ID: 99, Type: typ, Data: b}
	}
	for name, c := range map[string]struct {
		e    event.Event
		want string
	}{
		// An update naming one service tells the subscribers of every
		// service of the incident, each once; never our own address.
		"incident update": {ev(event.IncidentUpdated, incident.EventData{ID: 5, Title: "t", Status: "identified", Components: []incident.ComponentChange{{Service: "compute", Status: "operational"}}}),
			"both@ext.example/subscriber,cpu@ext.example/subscriber,sub@ext.example/subscriber"},
		"change": {ev(event.ChangeCreated, ChangeWindow{ID: 1, Title: "fw", Services: []string{"compute"}}),
			"cpu@ext.example/subscriber,sub@ext.example/subscriber"},
		"reminder": {ev(event.ChangeReminder, ChangeWindow{ID: 1, Title: "fw", Services: []string{"storage"}, Lead: "1h"}),
			"both@ext.example/subscriber,sub@ext.example/subscriber"},
		// Requesters and subscribers: each address once, a subscriber
		// first (its mail carries the unsubscribe link).
		"announcement to both": {ev(event.AnnouncementCreated, subscription.EventData{ID: 2, Title: "a", Services: []string{"storage", "compute"}, Audience: []string{"requesters", "subscribers"}}),
			"both@ext.example/subscriber,cpu@ext.example/subscriber,req@ext.example/service_requester,sub@ext.example/subscriber"},
		"announcement to requesters": {ev(event.AnnouncementCreated, subscription.EventData{ID: 3, Title: "a", Services: []string{"storage"}, Audience: []string{"requesters"}}),
			"both@ext.example/service_requester,req@ext.example/service_requester"},
		"no services":  {ev(event.ChangeCreated, ChangeWindow{ID: 1, Title: "fw"}), ""},
		"ticket event": {ev(event.TicketCreated, map[string]any{}), ""},
	} {
		d, err := n.Decide(ctx, c.e)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := toldOfServices(d); got != c.want {
			t.Errorf("%s: told %q, want %q", name, got, c.want)
		}
	}
	d, err := n.Decide(ctx, ev(event.IncidentUpdated, incident.EventData{ID: 5, Title: "t", Status: "identified"}))
	if err != nil || d.Body != "newest" || len(d.Services) != 2 || d.Services[0].Name != "Storage" {
		t.Fatalf("incident decision: %+v %v", d, err)
	}
	for _, no := range d.Notices {
		if no.Unsubscribe != "u-"+no.To.Addr {
			t.Errorf("%s: unsubscribe token %q", no.To.Addr, no.Unsubscribe)
		}
	}
	if _, err := n.Decide(ctx, event.Event{Type: event.IncidentCreated, Data: []byte("not json")}); err == nil {
		t.Errorf("bad data decided")
	}
}
