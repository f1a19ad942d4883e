package subscription

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// fixture is a catalogue of two units (net: storage, compute; web:
// portal) and a store whose confirmation mails and events are kept.
type fixture struct {
	s      *Store
	net    *unit.Unit
	web    *unit.Unit
	mails  []Confirmation
	events []EventData
	now    time.Time
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	units := unit.NewStore(d)
	f := &fixture{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	var err error
	if f.net, err = units.CreateUnit(ctx, unit.Unit{Slug: "net", Name: "Network"}); err != nil {
		t.Fatal(err)
	}
	if f.web, err = units.CreateUnit(ctx, unit.Unit{Slug: "web", Name: "Web"}); err != nil {
		t.Fatal(err)
	}
	for _, sv := range []unit.Service{{Slug: "storage", Name: "Storage", UnitID: f.net.ID, UnitSlug: "net"}, {Slug: "compute", Name: "Compute", UnitID: f.net.ID, UnitSlug: "net"},
		{Slug: "portal", Name: "Portal <b>", UnitID: f.web.ID, UnitSlug: "web"}} {
		if _, err := units.CreateService(ctx, sv); err != nil {
			t.Fatal(err)
		}
	}
	f.s, err = NewStore(d, Options{Services: units, Secret: []byte("test secret"), PerIP: 3,
		Confirm: func(_ context.Context, _ db.Querier, c Confirmation) error {
			f.mails = append(f.mails, c)
			return nil
		},
		Emit: func(_ context.Context, _ db.Querier, typ string, data any) error {
			if typ != event.AnnouncementCreated {
				t.Errorf("event type %s", typ)
			}
			f.events = append(f.events, data.(EventData))
			return nil
		},
		Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func addrs(subs []Subscriber) string {
	var out []string
	for _, s := range subs {
		out = append(out, s.Addr)
	}
	return strings.Join(out, ",")
}

func TestSubscriptionLifecycle(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := newFixture(t, d)
		s := f.s

		// Bad input is Invalid and mails nothing.
		for _, c := range []struct {
			email    string
			services []string
		}{
			{"not an address", nil}, {"", nil}, {"<script>alert(1)</script>@example.org", nil}, {"Ann <ann@example.org>", nil},
			{"ann@example.org", []string{"nosuch"}}, {"ann@example.org", []string{"Bad Slug"}}, {strings.Repeat("a", 300) + "@example.org", nil},
		} {
			if err := s.Request(ctx, c.email, c.services, "192.0.2.1"); !apperr.Is(err, apperr.Invalid) {
				t.Errorf("request %q %v: %v, want invalid", c.email, c.services, err)
			}
		}
		if len(f.mails) != 0 {
			t.Fatalf("bad requests mailed %v", f.mails)
		}

		// A request mails a confirmation; nothing is mailed to it before.
		if err := s.Request(ctx, "Ann@Example.org", []string{"storage", "storage"}, "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		if len(f.mails) != 1 || f.mails[0].To != "ann@example.org" || f.mails[0].All || strings.Join(f.mails[0].Names, ",") != "Storage" {
			t.Fatalf("confirmation: %+v", f.mails)
		}
		if subs, _ := s.Subscribers(ctx, []string{"storage"}); len(subs) != 0 {
			t.Fatalf("unconfirmed subscriber told: %v", subs)
		}
		// Asking again at once mails no second confirmation (no mail bomb).
		if err := s.Request(ctx, "ann@example.org", []string{"compute"}, "192.0.2.2"); err != nil || len(f.mails) != 1 {
			t.Fatalf("second request within the throttle: %v, %d mails", err, len(f.mails))
		}
		first := f.mails[0].Token
		// Later it does, and the first link no longer works.
		f.now = f.now.Add(DefaultThrottle + time.Second)
		if err := s.Request(ctx, "ann@example.org", []string{"storage"}, "192.0.2.1"); err != nil || len(f.mails) != 2 {
			t.Fatalf("request after the throttle: %v, %d mails", err, len(f.mails))
		}
		if _, err := s.Confirm(ctx, first); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("superseded link: %v", err)
		}
		token := f.mails[1].Token
		// Forged, truncated, foreign links are refused.
		for _, bad := range []string{"", "x", token + "x", strings.Replace(token, ".", "0.", 1), "1.2.3", strings.Repeat("a", 500)} {
			if _, err := s.Confirm(ctx, bad); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("confirm %q: %v", bad, err)
			}
		}
		if _, err := s.Unsubscribe(ctx, token); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("a confirmation token unsubscribes: %v", err)
		}
		sub, err := s.Confirm(ctx, token)
		if err != nil || sub.Email != "ann@example.org" || sub.All || strings.Join(sub.Services, ",") != "storage" || sub.ConfirmedAt == nil {
			t.Fatalf("confirm: %+v %v", sub, err)
		}
		if _, err := s.Confirm(ctx, token); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("the link works twice: %v", err)
		}

		// Bob subscribes to every service; his link expires unused first.
		if err := s.Request(ctx, "bob@example.org", nil, "192.0.2.9"); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(DefaultConfirmTTL + time.Minute)
		if _, err := s.Confirm(ctx, f.mails[2].Token); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("expired link: %v", err)
		}
		if err := s.Request(ctx, "bob@example.org", nil, "192.0.2.9"); err != nil || len(f.mails) != 4 || !f.mails[3].All {
			t.Fatalf("bob again: %v %+v", err, f.mails)
		}
		if _, err := s.Confirm(ctx, f.mails[3].Token); err != nil {
			t.Fatal(err)
		}

		for services, want := range map[string]string{"storage": "ann@example.org,bob@example.org", "compute": "bob@example.org",
			"storage,compute": "ann@example.org,bob@example.org"} {
			subs, err := s.Subscribers(ctx, strings.Split(services, ","))
			if err != nil || addrs(subs) != want {
				t.Errorf("subscribers of %s: %q %v, want %q", services, addrs(subs), err, want)
			}
		}
		counts, all, err := s.Counts(ctx)
		if err != nil || counts["storage"] != 1 || counts["compute"] != 0 || all != 1 {
			t.Errorf("counts %v all %d %v", counts, all, err)
		}

		// Who may list them.
		admin := &auth.Principal{UserID: 1, Role: auth.RoleAdmin}
		netAdmin := &auth.Principal{UserID: 2, Role: auth.RoleUser, Units: map[int64]auth.UnitRole{f.net.ID: auth.UnitAdmin}}
		netMember := &auth.Principal{UserID: 3, Role: auth.RoleUser, Units: map[int64]auth.UnitRole{f.net.ID: auth.UnitMember}}
		if got, err := s.List(ctx, admin, ""); err != nil || len(got) != 2 {
			t.Errorf("admin list: %d %v", len(got), err)
		}
		if got, err := s.List(ctx, netAdmin, "storage"); err != nil || len(got) != 2 {
			t.Errorf("unit admin list of storage: %d %v", len(got), err)
		}
		for _, c := range []struct {
			p       *auth.Principal
			service string
			kind    apperr.Kind
		}{{netAdmin, "", apperr.Forbidden}, {netAdmin, "portal", apperr.Forbidden}, {netMember, "storage", apperr.Forbidden},
			{admin, "nosuch", apperr.Invalid}, {admin, "Bad!", apperr.Invalid}} {
			if _, err := s.List(ctx, c.p, c.service); !apperr.Is(err, c.kind) {
				t.Errorf("list %q by %v: %v, want %s", c.service, c.p.Units, err, c.kind)
			}
		}

		// The unsubscribe link of a mail ends the subscription, once.
		subs, _ := s.Subscribers(ctx, []string{"storage"})
		email, err := s.Unsubscribe(ctx, subs[0].Unsubscribe)
		if err != nil || email != "ann@example.org" {
			t.Fatalf("unsubscribe: %q %v", email, err)
		}
		if _, err := s.Unsubscribe(ctx, subs[0].Unsubscribe); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("unsubscribe twice: %v", err)
		}
		if subs, _ := s.Subscribers(ctx, []string{"storage"}); addrs(subs) != "bob@example.org" {
			t.Errorf("after unsubscribing: %q", addrs(subs))
		}
	})
}

// TestSubscriptionThrottlePerClient: one client address may ask for
// PerIP subscriptions an hour, whatever the addresses.
func TestSubscriptionThrottlePerClient(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := newFixture(t, d)
		for i, a := range []string{"a@example.org", "b@example.org", "c@example.org"} {
			if err := f.s.Request(ctx, a, nil, "198.51.100.7"); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		if err := f.s.Request(ctx, "d@example.org", nil, "198.51.100.7"); !apperr.Is(err, apperr.RateLimited) {
			t.Fatalf("fourth request from one client: %v", err)
		}
		if err := f.s.Request(ctx, "d@example.org", nil, "198.51.100.8"); err != nil {
			t.Fatalf("another client: %v", err)
		}
		f.now = f.now.Add(time.Hour + time.Second)
		if err := f.s.Request(ctx, "e@example.org", nil, "198.51.100.7"); err != nil {
			t.Fatalf("an hour later: %v", err)
		}
		if len(f.mails) != 5 {
			t.Errorf("%d confirmation mails, want 5", len(f.mails))
		}
		// Requests never confirmed are forgotten a week after their links
		// expired.
		admin := &auth.Principal{UserID: 1, Role: auth.RoleAdmin}
		if subs, err := f.s.List(ctx, admin, ""); err != nil || len(subs) != 5 {
			t.Fatalf("before: %d %v", len(subs), err)
		}
		f.now = f.now.Add(DefaultConfirmTTL + forgetUnconfirmed + time.Minute)
		if err := f.s.Request(ctx, "f@example.org", nil, "198.51.100.9"); err != nil {
			t.Fatal(err)
		}
		if subs, err := f.s.List(ctx, admin, ""); err != nil || len(subs) != 1 || subs[0].Email != "f@example.org" {
			t.Errorf("after a week: %v %v", subs, err)
		}
	})
}

func TestAnnouncements(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := newFixture(t, d)
		s := f.s
		netAdmin := &auth.Principal{UserID: 0, Role: auth.RoleUser, Units: map[int64]auth.UnitRole{f.net.ID: auth.UnitAdmin}}
		netMember := &auth.Principal{Role: auth.RoleUser, Units: map[int64]auth.UnitRole{f.net.ID: auth.UnitMember}}
		good := NewAnnouncement{Title: "Storage moves to a new data centre", Body: "On 1 April.\nPlan ahead.", Services: []string{"storage", "compute"},
			Audience: []string{"subscribers", "requesters", "subscribers"}}
		for name, c := range map[string]struct {
			p    *auth.Principal
			n    NewAnnouncement
			kind apperr.Kind
		}{
			"member":       {netMember, good, apperr.Forbidden},
			"other unit":   {netAdmin, NewAnnouncement{Title: "t", Body: "b", Services: []string{"storage", "portal"}, Audience: []string{"subscribers"}}, apperr.Forbidden},
			"html body":    {netAdmin, NewAnnouncement{Title: "t", Body: "<script>x</script>", Services: []string{"storage"}, Audience: []string{"subscribers"}}, apperr.Invalid},
			"html title":   {netAdmin, NewAnnouncement{Title: "<b>t</b>", Body: "b", Services: []string{"storage"}, Audience: []string{"subscribers"}}, apperr.Invalid},
			"no services":  {netAdmin, NewAnnouncement{Title: "t", Body: "b", Audience: []string{"subscribers"}}, apperr.Invalid},
			"unknown":      {netAdmin, NewAnnouncement{Title: "t", Body: "b", Services: []string{"nosuch"}, Audience: []string{"subscribers"}}, apperr.Invalid},
			"bad audience": {netAdmin, NewAnnouncement{Title: "t", Body: "b", Services: []string{"storage"}, Audience: []string{"everyone"}}, apperr.Invalid},
			"no audience":  {netAdmin, NewAnnouncement{Title: "t", Body: "b", Services: []string{"storage"}}, apperr.Invalid},
			"empty title":  {netAdmin, NewAnnouncement{Title: " ", Body: "b", Services: []string{"storage"}, Audience: []string{"subscribers"}}, apperr.Invalid},
		} {
			if _, err := s.Announce(ctx, c.p, c.n); !apperr.Is(err, c.kind) {
				t.Errorf("%s: %v, want %s", name, err, c.kind)
			}
		}
		if len(f.events) != 0 {
			t.Fatalf("refused announcements appended events: %v", f.events)
		}
		a, err := s.Announce(ctx, netAdmin, good)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.events) != 1 || f.events[0].ID != a.ID || strings.Join(f.events[0].Audience, ",") != "requesters,subscribers" ||
			strings.Join(f.events[0].Services, ",") != "storage,compute" {
			t.Fatalf("event %+v", f.events)
		}
		got, err := s.Announcement(ctx, a.ID)
		if err != nil || got.Title != good.Title || got.Body != good.Body || strings.Join(got.Services, ",") != "compute,storage" {
			t.Fatalf("get: %+v %v", got, err)
		}
		if _, err := s.Announcement(ctx, a.ID+100); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("missing: %v", err)
		}
		b, err := s.Announce(ctx, &auth.Principal{Role: auth.RoleAdmin}, NewAnnouncement{Title: "Portal news", Body: "b", Services: []string{"portal"}, Audience: []string{"requesters"}})
		if err != nil {
			t.Fatal(err)
		}
		list, err := s.Announcements(ctx, 0, 10)
		if err != nil || len(list) != 2 || list[0].ID != b.ID || list[1].ID != a.ID {
			t.Fatalf("list: %v %v", list, err)
		}
		if page, err := s.Announcements(ctx, b.ID, 10); err != nil || len(page) != 1 || page[0].ID != a.ID {
			t.Errorf("page before %d: %v %v", b.ID, page, err)
		}
		if rs, err := s.Requesters(ctx, []string{"storage"}); err != nil || len(rs) != 0 {
			t.Errorf("requesters with no tickets: %v %v", rs, err)
		}
	})
}
