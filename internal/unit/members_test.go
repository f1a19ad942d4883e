package unit

import (
	"context"
	"errors"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/user"
)

// TestMembershipTx: the in-transaction membership functions read, add,
// change and remove a membership, and a rolled-back transaction leaves it
// as it was.
func TestMembershipTx(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		s, users := NewStore(d), user.NewStore(d)
		ctx := context.Background()
		ops, err := s.CreateUnit(ctx, Unit{Slug: "ops", Name: "Operations"})
		if err != nil {
			t.Fatal(err)
		}
		ann, err := users.Create(ctx, user.NewUser{Email: "ann@example.org", Name: "Ann"})
		if err != nil {
			t.Fatal(err)
		}
		roleOf := func() auth.UnitRole {
			t.Helper()
			r, err := s.MemberRoleTx(ctx, d.W, ops.ID, ann.ID)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := roleOf(); r != "" {
			t.Fatalf("role before: %q", r)
		}
		err = d.Tx(ctx, func(q db.Querier) error {
			if err := s.SetMemberTx(ctx, q, ops.ID, ann.ID, auth.UnitMember); err != nil {
				return err
			}
			if r, err := s.MemberRoleTx(ctx, q, ops.ID, ann.ID); err != nil || r != auth.UnitMember {
				t.Errorf("role inside the transaction: %q %v", r, err)
			}
			return s.SetMemberTx(ctx, q, ops.ID, ann.ID, auth.UnitAdmin)
		})
		if err != nil {
			t.Fatal(err)
		}
		if r := roleOf(); r != auth.UnitAdmin {
			t.Fatalf("role after: %q", r)
		}
		boom := errors.New("boom")
		err = d.Tx(ctx, func(q db.Querier) error {
			if err := s.RemoveMemberTx(ctx, q, ops.ID, ann.ID); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || roleOf() != auth.UnitAdmin {
			t.Fatalf("rolled-back removal: %v, role %q", err, roleOf())
		}
		err = d.Tx(ctx, func(q db.Querier) error {
			if err := s.SetMemberTx(ctx, q, ops.ID, ann.ID, "owner"); !apperr.Is(err, apperr.Invalid) {
				t.Errorf("role owner: %v", err)
			}
			if err := s.RemoveMemberTx(ctx, q, ops.ID, ann.ID); err != nil {
				return err
			}
			if err := s.RemoveMemberTx(ctx, q, ops.ID, ann.ID); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("second removal: %v", err)
			}
			return nil
		})
		if err != nil || roleOf() != "" {
			t.Fatalf("removal: %v, role %q", err, roleOf())
		}
		if err := s.SetMember(ctx, ops.ID, 999999, auth.UnitMember); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("member who is nobody: %v", err)
		}
	})
}
