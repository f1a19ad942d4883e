package unit

import (
	"context"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/user"
)

func TestStoreUnitsMembersServices(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		s, users := NewStore(d), user.NewStore(d)
		ctx := context.Background()
		ops, err := s.CreateUnit(ctx, Unit{Slug: "ops", Name: " Operations ", Email: "OPS@example.org", CommentEmail: "ops-comment@example.org"})
		if err != nil || ops.Name != "Operations" || ops.Email != "ops@example.org" || ops.QoSLevel != QoSBase || ops.Mode != Direct {
			t.Fatalf("create: %+v %v", ops, err)
		}
		for _, c := range []struct {
			u    Unit
			kind apperr.Kind
		}{
			{Unit{Slug: "ops", Name: "again"}, apperr.Conflict},
			{Unit{Slug: "Ops", Name: "x"}, apperr.Invalid},
			{Unit{Slug: "", Name: "x"}, apperr.Invalid},
			{Unit{Slug: "x", Name: ""}, apperr.Invalid},
			{Unit{Slug: "x", Name: "x", QoSLevel: "gold"}, apperr.Invalid},
			{Unit{Slug: "x", Name: "x", Mode: "fax"}, apperr.Invalid},
			{Unit{Slug: "x", Name: "x", Email: "a@example.org", CommentEmail: "A@example.org"}, apperr.Invalid},
		} {
			if _, err := s.CreateUnit(ctx, c.u); apperr.KindOf(err) != c.kind {
				t.Errorf("create %+v: %v, want %s", c.u, err, c.kind)
			}
		}
		// One ticket handler team.
		if _, err := s.Handler(ctx); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("handler before any: %v", err)
		}
		triage, err := s.CreateUnit(ctx, Unit{Slug: "triage", Name: "Triage", Handler: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateUnit(ctx, Unit{Slug: "triage2", Name: "T2", Handler: true}); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("second handler: %v", err)
		}
		ops.Handler = true
		if _, err := s.UpdateUnit(ctx, *ops); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("update to second handler: %v", err)
		}
		ops.Handler = false
		if h, err := s.Handler(ctx); err != nil || h.ID != triage.ID {
			t.Errorf("handler: %+v %v", h, err)
		}
		if u, isComment, err := s.UnitByEmail(ctx, "Ops-Comment@example.org"); err != nil || u.ID != ops.ID || !isComment {
			t.Errorf("by comment address: %+v %v %v", u, isComment, err)
		}
		// Members.
		ann, _ := users.Create(ctx, user.NewUser{Email: "ann@example.org", Name: "Ann"})
		if err := s.SetMember(ctx, ops.ID, ann.ID, auth.UnitMember); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMember(ctx, ops.ID, ann.ID, auth.UnitAdmin); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMember(ctx, triage.ID, ann.ID, auth.UnitMember); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMember(ctx, ops.ID, ann.ID, "owner"); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("role owner: %v", err)
		}
		if err := s.SetMember(ctx, ops.ID, 999999, auth.UnitMember); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("no such user: %v", err)
		}
		ms, _ := s.Members(ctx, ops.ID)
		if len(ms) != 1 || ms[0].Role != auth.UnitAdmin {
			t.Errorf("members: %+v", ms)
		}
		p, err := users.Principal(ctx, ann.ID)
		if err != nil || p.Units[ops.ID] != auth.UnitAdmin || !p.Handler || !p.CanManageUnit(ops.ID) || p.CanManageUnit(triage.ID) {
			t.Errorf("principal: %+v %v", p, err)
		}
		us, roles, _ := s.UnitsOf(ctx, ann.ID)
		if len(us) != 2 || us[0].Slug != "ops" || roles[0] != auth.UnitAdmin || roles[1] != auth.UnitMember {
			t.Errorf("units of: %+v %v", us, roles)
		}
		if err := s.RemoveMember(ctx, triage.ID, ann.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveMember(ctx, triage.ID, ann.ID); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("remove twice: %v", err)
		}
		if p, _ := users.Principal(ctx, ann.ID); p.Handler {
			t.Errorf("still handler after leaving the team")
		}
		// Services.
		sv, err := s.CreateService(ctx, Service{Slug: "storage", Name: "Storage", UnitSlug: "ops"})
		if err != nil || sv.UnitID != ops.ID || sv.Mode != Direct {
			t.Fatalf("service: %+v %v", sv, err)
		}
		for _, c := range []struct {
			sv   Service
			kind apperr.Kind
		}{
			{Service{Slug: "storage", Name: "x", UnitSlug: "ops"}, apperr.Conflict},
			{Service{Slug: "x", Name: "x", UnitSlug: "nope"}, apperr.Invalid},
			{Service{Slug: "x", Name: "x", UnitSlug: ""}, apperr.Invalid},
			{Service{Slug: "x y", Name: "x", UnitSlug: "ops"}, apperr.Invalid},
			{Service{Slug: "x", Name: "x", UnitSlug: "ops", Mode: "fax"}, apperr.Invalid},
		} {
			if _, err := s.CreateService(ctx, c.sv); apperr.KindOf(err) != c.kind {
				t.Errorf("create %+v: %v, want %s", c.sv, err, c.kind)
			}
		}
		sv.UnitSlug, sv.Mode = "triage", External
		if got, err := s.UpdateService(ctx, *sv); err != nil || got.UnitID != triage.ID {
			t.Errorf("move service: %+v %v", got, err)
		}
		if got, err := s.Service(ctx, "storage"); err != nil || got.UnitSlug != "triage" || got.Mode != External {
			t.Errorf("service after update: %+v %v", got, err)
		}
		if _, err := s.Service(ctx, "nope"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("no service: %v", err)
		}
	})
}

// TestLookupsCache checks the cached look-ups of routing: the Store's own
// writes show at once, callers get copies, and another Store (another
// process) sees a change once the entry is older than lookupTTL.
func TestLookupsCache(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		s, other := NewStore(d), NewStore(d)
		ctx := context.Background()
		if _, err := s.Handler(ctx); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("no handler yet: %v", err)
		}
		a, err := s.CreateUnit(ctx, Unit{Slug: "a", Name: "A", Handler: true})
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.CreateUnit(ctx, Unit{Slug: "b", Name: "B"})
		if err != nil {
			t.Fatal(err)
		}
		if h, err := s.Handler(ctx); err != nil || h.ID != a.ID {
			t.Fatalf("handler after create: %+v %v", h, err)
		}
		sv, err := s.CreateService(ctx, Service{Slug: "svc", Name: "Svc", UnitSlug: "a"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Service(ctx, "svc")
		if err != nil || got.UnitID != a.ID {
			t.Fatalf("service: %+v %v", got, err)
		}
		got.UnitID = 999 // a copy: the cache keeps its own
		if again, _ := s.Service(ctx, "svc"); again.UnitID != a.ID {
			t.Fatalf("cached service changed by a caller: %+v", again)
		}
		if _, err := other.Service(ctx, "svc"); err != nil {
			t.Fatal(err)
		}
		sv.UnitSlug = "b"
		if _, err := s.UpdateService(ctx, *sv); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Service(ctx, "svc"); got.UnitID != b.ID || got.UnitSlug != "b" {
			t.Fatalf("service after its update: %+v", got)
		}
		a.Handler, b.Handler = false, true
		if _, err := s.UpdateUnit(ctx, *a); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateUnit(ctx, *b); err != nil {
			t.Fatal(err)
		}
		if h, err := s.Handler(ctx); err != nil || h.ID != b.ID {
			t.Fatalf("handler after the change: %+v %v", h, err)
		}
		if _, err := s.Service(ctx, "nope"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("unknown service: %v", err)
		}
		// The other Store still has the service's old unit, until the TTL.
		if got, _ := other.Service(ctx, "svc"); got.UnitID != a.ID {
			t.Fatalf("other store: %+v, want the cached entry", got)
		}
		time.Sleep(lookupTTL)
		if got, _ := other.Service(ctx, "svc"); got.UnitID != b.ID {
			t.Fatalf("other store after the TTL: %+v", got)
		}
	})
}
