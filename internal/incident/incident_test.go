package incident

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

func TestStoreIncidents(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		units := unit.NewStore(d)
		net, err := units.CreateUnit(ctx, unit.Unit{Slug: "net", Name: "Network"})
		if err != nil {
			t.Fatal(err)
		}
		for _, slug := range []string{"storage", "compute"} {
			if _, err := units.CreateService(ctx, unit.Service{Slug: slug, Name: slug, UnitID: net.ID, UnitSlug: "net"}); err != nil {
				t.Fatal(err)
			}
		}
		u, err := user.NewStore(d).Create(ctx, user.NewUser{Email: "sam@example.org", Name: "Sam", Role: auth.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		staff := &auth.Principal{UserID: u.ID, Role: auth.RoleUser, Units: map[int64]auth.UnitRole{net.ID: auth.UnitMember}}
		log := event.New(d, event.Options{})
		fail := false
		changed := 0
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		s := NewStore(d, Options{Services: units, Now: func() time.Time { return now }, Changed: func() { changed++ },
			Emit: func(ctx context.Context, q db.Querier, typ string, data any) error {
				if fail {
					return errors.New("the stream refuses")
				}
				return log.Append(ctx, q, typ, 0, data)
			}})

		// The event cannot be written: nothing is.
		fail = true
		n := NewIncident{Title: "Disks", Impact: "major", Body: "Failing.", Components: []ComponentChange{{"storage", MajorOutage}, {"compute", PartialOutage}}}
		if _, err := s.Create(ctx, staff, n); err == nil {
			t.Fatal("created without its event")
		}
		if ins, err := s.List(ctx, Filter{}); err != nil || len(ins) != 0 {
			t.Fatalf("half-written incident: %v %v", ins, err)
		}
		fail = false
		in, err := s.Create(ctx, staff, n)
		if err != nil {
			t.Fatal(err)
		}
		if in.Status != Investigating || len(in.Components) != 2 || len(in.Updates) != 1 || changed != 1 {
			t.Fatalf("created: %+v (changed %d)", in, changed)
		}
		now = now.Add(time.Hour)
		in, err = s.AddUpdate(ctx, staff, in.ID, NewUpdate{Status: Monitoring, Body: "Compute is back.", Components: []ComponentChange{{"compute", Operational}, {"storage", PartialOutage}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range in.Components {
			switch c.Service {
			case "compute":
				if c.RecoveredAt == nil || !c.RecoveredAt.Equal(now) || c.Worst != PartialOutage {
					t.Errorf("compute: %+v", c)
				}
			case "storage":
				if c.RecoveredAt != nil || c.Status != PartialOutage || c.Worst != MajorOutage {
					t.Errorf("storage keeps its worst: %+v", c)
				}
			}
		}
		if in.MonitoringAt == nil || !in.MonitoringAt.Equal(now) {
			t.Errorf("monitoring_at %v", in.MonitoringAt)
		}
		unresolved, err := s.List(ctx, Filter{Unresolved: true, Service: "storage"})
		if err != nil || len(unresolved) != 1 {
			t.Fatalf("unresolved: %v %v", unresolved, err)
		}
		now = now.Add(time.Hour)
		if in, err = s.AddUpdate(ctx, staff, in.ID, NewUpdate{Status: Resolved, Body: "Done."}); err != nil {
			t.Fatal(err)
		}
		if in.ResolvedAt == nil || len(in.Updates) != 3 || in.Updates[0].Status != Resolved {
			t.Fatalf("resolved: %+v", in)
		}
		if _, err := s.AddUpdate(ctx, staff, in.ID, NewUpdate{Status: Identified, Body: "x"}); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("update after resolve: %v", err)
		}
		outs, err := s.Outages(ctx, now.Add(-24*time.Hour))
		if err != nil || len(outs) != 2 {
			t.Fatalf("outages: %v %v", outs, err)
		}
		for _, o := range outs {
			if o.End == nil || o.End.Sub(o.Start) < time.Hour {
				t.Errorf("outage %+v", o)
			}
		}
		evs, err := log.Read(ctx, 0, 10)
		if err != nil || len(evs) != 3 || evs[0].Type != "incident.created" || evs[2].Type != "incident.updated" {
			t.Errorf("events: %+v %v", evs, err)
		}
		// Plain text only, and only staff of the services.
		if _, err := s.Create(ctx, staff, NewIncident{Title: "<b>x</b>", Impact: "minor", Body: "b", Components: n.Components}); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("HTML title: %v", err)
		}
		outsider := &auth.Principal{UserID: u.ID, Role: auth.RoleUser}
		if _, err := s.Create(ctx, outsider, n); !apperr.Is(err, apperr.Forbidden) {
			t.Errorf("outsider: %v", err)
		}
		if _, err := s.Create(ctx, &auth.Principal{Actor: auth.ActorTimer}, n); !apperr.Is(err, apperr.Forbidden) {
			t.Errorf("timer: %v", err)
		}
	})
}
