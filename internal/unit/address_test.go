package unit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

// TestUnitAddressesUnique checks that a reply or comment address belongs to
// one unit only, across both columns and without case, that the helpdesk's
// own addresses are refused, and that a freed address can be taken.
func TestUnitAddressesUnique(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		s := NewStore(d)
		s.Reserved = func(addr string) bool { return addr == "helpdesk@example.org" || strings.Contains(addr, "+t1-") }
		ctx := context.Background()
		compute, err := s.CreateUnit(ctx, Unit{Slug: "compute", Name: "Compute", Email: "compute@example.org", CommentEmail: "compute-comment@example.org"})
		if err != nil {
			t.Fatal(err)
		}
		storage, err := s.CreateUnit(ctx, Unit{Slug: "storage", Name: "Storage", Email: "storage@example.org"})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			email, comment, field string
			kind                  apperr.Kind
		}{
			{"Compute-Comment@example.org", "", "email", apperr.Conflict},
			{"storage@example.org", "compute@example.org", "comment_email", apperr.Conflict},
			{"storage@example.org", "COMPUTE-comment@example.org", "comment_email", apperr.Conflict},
			{"helpdesk@example.org", "", "email", apperr.Invalid},
			{"storage@example.org", "x+t1-abc@example.org", "comment_email", apperr.Invalid},
		} {
			u := *storage
			u.Email, u.CommentEmail = c.email, c.comment
			_, err := s.UpdateUnit(ctx, u)
			var e *apperr.Error
			if apperr.KindOf(err) != c.kind || !asErr(err, &e) || e.Field != c.field {
				t.Errorf("update storage to %s/%s: %v, want %s on %s", c.email, c.comment, err, c.kind, c.field)
			}
			u.Slug = "other"
			if _, err := s.CreateUnit(ctx, u); apperr.KindOf(err) != c.kind {
				t.Errorf("create with %s/%s: %v, want %s", c.email, c.comment, err, c.kind)
			}
		}
		// Nothing of a refused change was kept.
		if u, isComment, err := s.UnitByEmail(ctx, "compute-comment@example.org"); err != nil || u.ID != compute.ID || !isComment {
			t.Errorf("compute's comment address: %+v %v %v", u, isComment, err)
		}
		if u, _ := s.Unit(ctx, "storage"); u.Email != "storage@example.org" || u.CommentEmail != "" {
			t.Errorf("storage after refused changes: %+v", u)
		}
		// A unit keeps its own addresses through an update, and one freed
		// is free for another.
		compute.Name, compute.CommentEmail = "Compute!", "compute-notes@example.org"
		if _, err := s.UpdateUnit(ctx, *compute); err != nil {
			t.Fatal(err)
		}
		storage.CommentEmail = "compute-comment@example.org"
		if _, err := s.UpdateUnit(ctx, *storage); err != nil {
			t.Errorf("take a freed address: %v", err)
		}
		if u, isComment, err := s.UnitByEmail(ctx, "compute-comment@example.org"); err != nil || u.ID != storage.ID || !isComment {
			t.Errorf("freed address: %+v %v %v", u, isComment, err)
		}
		// Two units with one address (written around the store): the
		// lookup is an error, never the first row.
		if _, err := d.W.ExecContext(ctx, `UPDATE units SET email = 'storage@example.org' WHERE id = $1`, compute.ID); err != nil {
			t.Fatal(err)
		}
		if u, _, err := s.UnitByEmail(ctx, "storage@example.org"); err == nil || apperr.KindOf(err) == apperr.NotFound {
			t.Errorf("lookup of a shared address: %+v %v, want an error", u, err)
		}
	})
}

func asErr(err error, e **apperr.Error) bool {
	var x *apperr.Error
	ok := err != nil && errors.As(err, &x)
	*e = x
	return ok
}

// TestCheckChange checks the one rule of the API and the web form: a
// unit's admin changes its settings, not its mail addresses.
func TestCheckChange(t *testing.T) {
	old := &Unit{ID: 7, Name: "Storage", Email: "storage@example.org", CommentEmail: "storage-comment@example.org"}
	unitAdmin := &auth.Principal{UserID: 1, Units: map[int64]auth.UnitRole{7: auth.UnitAdmin}}
	member := &auth.Principal{UserID: 2, Units: map[int64]auth.UnitRole{7: auth.UnitMember}}
	admin := &auth.Principal{UserID: 3, Role: auth.RoleAdmin}
	renamed, moved, noted, cased := *old, *old, *old, *old
	renamed.Name = "Storage team"
	moved.Email = "compute-comment@example.org"
	noted.CommentEmail = ""
	cased.Email = " Storage@Example.org"
	for _, c := range []struct {
		p    *auth.Principal
		u    *Unit
		want apperr.Kind
	}{
		{unitAdmin, &renamed, ""}, {unitAdmin, &cased, ""},
		{unitAdmin, &moved, apperr.Forbidden}, {unitAdmin, &noted, apperr.Forbidden},
		{member, &renamed, apperr.Forbidden},
		{admin, &moved, ""}, {admin, &noted, ""},
	} {
		err := CheckChange(c.p, old, c.u)
		if (c.want == "" && err != nil) || (c.want != "" && !apperr.Is(err, c.want)) {
			t.Errorf("%+v changes to %+v: %v, want %q", c.p, c.u, err, c.want)
		}
	}
}

// TestAddressMigration checks migration 0110 on a database whose units
// share addresses (as the store allowed before it): the oldest unit keeps
// an address, as its reply address before its comment address; the others
// lose it; every address is lower case and unique afterwards.
func TestAddressMigration(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		for _, q := range []string{`DROP TABLE unit_addresses`, `DELETE FROM schema_migrations WHERE version = 110`} {
			if _, err := d.W.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range [][3]string{
			{"compute", "Compute@example.org", "compute-comment@example.org"},
			{"storage", "COMPUTE-comment@example.org", "storage-comment@example.org"}, // takes compute's comment address
			{"net", "net@example.org", "NET@example.org"},                             // its own reply address twice
			{"grid", "grid@example.org", "compute@example.org"},                       // compute's reply address
		} {
			if _, err := d.W.ExecContext(ctx, `INSERT INTO units (slug, name, email, comment_email, created_at, updated_at) VALUES ($1, $1, $2, $3, $4, $4)`,
				u[0], u[1], u[2], time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		s := NewStore(d)
		want := map[string][2]string{
			"compute": {"compute@example.org", "compute-comment@example.org"},
			"storage": {"", "storage-comment@example.org"},
			"net":     {"net@example.org", ""},
			"grid":    {"grid@example.org", ""},
		}
		for slug, w := range want {
			u, err := s.Unit(ctx, slug)
			if err != nil || u.Email != w[0] || u.CommentEmail != w[1] {
				t.Errorf("%s after the migration: %+v %v, want %v", slug, u, err, w)
			}
		}
		if u, isComment, err := s.UnitByEmail(ctx, "compute-comment@example.org"); err != nil || u.Slug != "compute" || !isComment {
			t.Errorf("lookup after the migration: %+v %v %v", u, isComment, err)
		}
		// The guarantee holds for the units the migration found.
		g, _ := s.Unit(ctx, "grid")
		g.CommentEmail = "net@example.org"
		if _, err := s.UpdateUnit(ctx, *g); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("grid takes net's address after the migration: %v", err)
		}
	})
}
