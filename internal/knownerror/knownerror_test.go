package knownerror

import (
	"context"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

func ptr[T any](v T) *T { return &v }

func TestStoreKnownErrors(t *testing.T) {
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
		var events []EventData
		s := NewStore(d, units, nil, func(_ context.Context, _ db.Querier, typ string, _ int64, data any) error {
			events = append(events, data.(EventData))
			return nil
		})
		ke, err := s.Create(ctx, staff, Fields{Title: ptr("100% full_disk"), Symptom: ptr("No space left"), Workaround: ptr("Clean /tmp"), Services: ptr([]string{"storage"})})
		if err != nil || ke.Status != "open" || len(events) != 1 {
			t.Fatalf("create: %+v %v %v", ke, err, events)
		}
		if _, err := s.Create(ctx, staff, Fields{Title: ptr("x"), Symptom: ptr("s"), Services: ptr([]string{"storage"})}); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("no workaround: %v", err)
		}
		if _, err := s.Update(ctx, staff, ke.ID, Fields{Workaround: ptr("<a href=x>here</a>")}); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("HTML: %v", err)
		}
		if ke, err = s.Update(ctx, staff, ke.ID, Fields{Status: ptr("workaround"), Services: ptr([]string{"storage", "compute"})}); err != nil || len(ke.Services) != 2 {
			t.Fatalf("update: %+v %v", ke, err)
		}
		// LIKE's wildcards in q are plain characters.
		for q, want := range map[string]int{"100%": 1, "full_disk": 1, "1%0": 0, "full_d_sk": 0, "SPACE clean": 1} {
			if got, err := s.List(ctx, Filter{Q: q}); err != nil || len(got) != want {
				t.Errorf("q %q: %d, want %d (%v)", q, len(got), want, err)
			}
		}
		by, err := s.ActiveByService(ctx)
		if err != nil || len(by["storage"]) != 1 || len(by["compute"]) != 1 {
			t.Errorf("active by service: %v %v", by, err)
		}
		if _, err := s.Update(ctx, staff, ke.ID, Fields{Status: ptr("retired")}); err != nil {
			t.Fatal(err)
		}
		if by, err := s.ActiveByService(ctx); err != nil || len(by) != 0 {
			t.Errorf("a retired known error is active: %v %v", by, err)
		}
		if _, err := s.Update(ctx, &auth.Principal{UserID: u.ID, Role: auth.RoleUser}, ke.ID, Fields{Status: ptr("open")}); !apperr.Is(err, apperr.Forbidden) {
			t.Errorf("outsider: %v", err)
		}
	})
}
