package savedview

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/user"
)

func TestSavedViews(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		s, users := NewStore(d, nil), user.NewStore(d)
		ctx := context.Background()
		ann, err := users.Create(ctx, user.NewUser{Email: "ann@example.org", Name: "Ann"})
		if err != nil {
			t.Fatal(err)
		}
		bob, err := users.Create(ctx, user.NewUser{Email: "bob@example.org", Name: "Bob"})
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.Save(ctx, ann.ID, " Urgent ", "/queue/ops?priority=urgent")
		if err != nil || v.ID == 0 || v.Name != "Urgent" {
			t.Fatalf("save: %+v %v", v, err)
		}
		for _, c := range []struct{ name, path, field string }{
			{"", "/queue/ops", "name"},
			{strings.Repeat("x", 61), "/queue/ops", "name"},
			{"a\nb", "/queue/ops", "name"},
			{"x", "/tickets", "path"},
			{"x", "/queue/" + strings.Repeat("x", 500), "path"},
		} {
			_, err := s.Save(ctx, ann.ID, c.name, c.path)
			if !apperr.Is(err, apperr.Invalid) || !strings.Contains(err.Error(), c.field+":") {
				t.Errorf("save %q %q: %v, want a field error on %s", c.name, c.path, err, c.field)
			}
		}
		if vs, err := s.List(ctx, bob.ID); err != nil || len(vs) != 0 {
			t.Errorf("bob sees %+v %v", vs, err)
		}
		if err := s.Delete(ctx, bob.ID, v.ID); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("bob deletes ann's view: %v", err)
		}
		for i := 1; i < MaxPerUser; i++ {
			if _, err := s.Save(ctx, ann.ID, fmt.Sprintf("View %02d", i), "/queue/ops"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Save(ctx, ann.ID, "one too many", "/queue/ops"); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("view %d: %v", MaxPerUser+1, err)
		}
		vs, err := s.List(ctx, ann.ID)
		if err != nil || len(vs) != MaxPerUser || vs[0].Name != "Urgent" || vs[len(vs)-1].Name != "View 49" {
			t.Fatalf("list: %d %v", len(vs), err)
		}
		if err := s.Delete(ctx, ann.ID, v.ID); err != nil {
			t.Fatal(err)
		}
		if vs, _ := s.List(ctx, ann.ID); len(vs) != MaxPerUser-1 {
			t.Errorf("after delete: %d", len(vs))
		}
	})
}
