package user

import (
	"context"
	"errors"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

// TestCreatePathsValidateAlike: Create, CreateTx and EnsureTx refuse the
// same inputs with the same field error, and store nothing.
func TestCreatePathsValidateAlike(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		s := NewStore(d)
		ctx := context.Background()
		inTx := func(fn func(q db.Querier) error) error { return d.Tx(ctx, fn) }
		for _, c := range []struct {
			nu    NewUser
			field string
		}{
			{NewUser{Email: "", Name: "Ann"}, "email"},
			{NewUser{Email: "ann", Name: "Ann"}, "email"},
			{NewUser{Email: "Ann <ann@example.org>", Name: "Ann"}, "email"},
			{NewUser{Email: "ann@example.org", Name: " "}, "name"},
			{NewUser{Email: "ann@example.org", Name: "Ann\r\nBcc: x@example.org"}, "name"},
			{NewUser{Email: "ann@example.org", Name: "Ann\x00"}, "name"},
			{NewUser{Email: "ann@example.org", Name: "\xff"}, "name"},
			{NewUser{Email: "ann@example.org", Name: "Ann", Role: "root"}, "role"},
			{NewUser{Email: "ann@example.org", Name: "Ann", Team: "vo\nx"}, "team"},
			{NewUser{Email: "ann@example.org", Name: "Ann", Team: "VO Atlas"}, "team"},
			{NewUser{Email: "ann@example.org", Name: "Ann", CertificateDNs: []string{"CN=x\nO=y"}}, "certificate_dns"},
		} {
			_, errCreate := s.Create(ctx, c.nu)
			errTx := inTx(func(q db.Querier) error { _, err := s.CreateTx(ctx, q, c.nu); return err })
			errs := []error{errCreate, errTx}
			if c.nu.Role == "" && c.nu.Team == "" && c.nu.CertificateDNs == nil {
				errs = append(errs, inTx(func(q db.Querier) error { _, _, err := s.EnsureTx(ctx, q, c.nu.Email, c.nu.Name); return err }))
			}
			for i, err := range errs {
				var ae *apperr.Error
				if !errors.As(err, &ae) || ae.Kind != apperr.Invalid || ae.Field != c.field || err.Error() != errs[0].Error() {
					t.Errorf("%+v: path %d: %v, want the field error on %s of Create (%v)", c.nu, i, err, c.field, errs[0])
				}
			}
		}
		if n, _ := s.Count(ctx); n != 0 {
			t.Errorf("refused users were stored: %d", n)
		}
	})
}

// TestCreateTxEnsureTxAndRoles: CreateTx writes in the caller's
// transaction and GetTx and GetByEmailTx read there, a duplicate is a Conflict that leaves the transaction usable
// (also on PostgreSQL), EnsureTx finds the existing account, and RoleTx and
// SetRoleTx read and change the instance role.
func TestCreateTxEnsureTxAndRoles(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		s := NewStore(d)
		ctx := context.Background()
		var ann *User
		err := d.Tx(ctx, func(q db.Querier) error {
			var err error
			if ann, err = s.CreateTx(ctx, q, NewUser{Email: "Ann@Example.org", Name: " Ann ", Team: "vo.example.org", CertificateDNs: []string{"CN=Ann"}}); err != nil {
				return err
			}
			if _, err := s.CreateTx(ctx, q, NewUser{Email: "ann@example.org", Name: "Again"}); !apperr.Is(err, apperr.Conflict) {
				t.Errorf("duplicate in the same transaction: %v", err)
			}
			// The transaction goes on after the conflict.
			u, created, err := s.EnsureTx(ctx, q, "ANN@example.org", "Someone else")
			if err != nil || created || u.ID != ann.ID || u.Name != "Ann" {
				t.Errorf("ensure existing: %+v %v %v", u, created, err)
			}
			if u, err := s.GetTx(ctx, q, ann.ID); err != nil || u.Email != "ann@example.org" || u.Team != "vo.example.org" {
				t.Errorf("get in the transaction: %+v %v", u, err)
			}
			if u, err := s.GetByEmailTx(ctx, q, " ANN@example.org"); err != nil || u.ID != ann.ID {
				t.Errorf("get by email in the transaction: %+v %v", u, err)
			}
			if _, err := s.GetByEmailTx(ctx, q, "nobody@example.org"); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("get nobody: %v", err)
			}
			role, err := s.RoleTx(ctx, q, ann.ID)
			if err != nil || role != auth.RoleUser {
				t.Errorf("role: %q %v", role, err)
			}
			return s.SetRoleTx(ctx, q, ann.ID, auth.RoleAdmin)
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, ann.ID)
		if err != nil || got.Email != "ann@example.org" || got.Name != "Ann" || got.Team != "vo.example.org" || got.Role != auth.RoleAdmin ||
			got.HasPassword || len(got.CertificateDNs) != 1 {
			t.Errorf("stored: %+v %v", got, err)
		}
		// A transaction that fails leaves no user behind.
		boom := errors.New("boom")
		err = d.Tx(ctx, func(q db.Querier) error {
			if _, err := s.CreateTx(ctx, q, NewUser{Email: "bob@example.org", Name: "Bob"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("rolled back: %v", err)
		}
		if _, err := s.GetByEmail(ctx, "bob@example.org"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("a rolled-back user exists: %v", err)
		}
		err = d.Tx(ctx, func(q db.Querier) error {
			u, created, err := s.EnsureTx(ctx, q, "bob@example.org", "Bob")
			if err != nil || !created || u.Role != auth.RoleUser {
				t.Errorf("ensure new: %+v %v %v", u, created, err)
			}
			if err := s.SetRoleTx(ctx, q, u.ID, "root"); !apperr.Is(err, apperr.Invalid) {
				t.Errorf("set role root: %v", err)
			}
			if err := s.SetRoleTx(ctx, q, 999999, auth.RoleUser); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("set role of nobody: %v", err)
			}
			if _, err := s.RoleTx(ctx, q, 999999); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("role of nobody: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
