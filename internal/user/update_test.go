package user

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

func TestUpdate(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		s := NewStore(d)
		ctx := context.Background()
		ann, err := s.Create(ctx, NewUser{Email: "ann@example.org", Name: "Ann", CertificateDNs: []string{"CN=Ann"}})
		if err != nil {
			t.Fatal(err)
		}
		bob, err := s.Create(ctx, NewUser{Email: "bob@example.org", Name: "Bob"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, 999999, Change{Name: ptr("x")}); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("an unknown user: %v", err)
		}
		if _, err := s.Update(ctx, bob.ID, Change{CertificateDNs: &[]string{"/CN=Ann"}}); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("another user's subject: %v, want Conflict", err)
		}
		if u, _ := s.Get(ctx, ann.ID); !slices.Equal(u.CertificateDNs, []string{"CN=Ann"}) {
			t.Errorf("the refused change moved the subject: %v", u.CertificateDNs)
		}
		// Concurrent changes of different fields both hold.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { _, errs[0] = s.Update(ctx, bob.ID, Change{Name: ptr("Robert")}) })
		wg.Go(func() { _, errs[1] = s.Update(ctx, bob.ID, Change{Team: ptr("atlas")}) })
		wg.Wait()
		if u, _ := s.Get(ctx, bob.ID); errs[0] != nil || errs[1] != nil || u.Name != "Robert" || u.Team != "atlas" {
			t.Errorf("concurrent changes: %+v, %v", u, errs)
		}
		if u, err := s.Update(ctx, ann.ID, Change{CertificateDNs: &[]string{}}); err != nil || len(u.CertificateDNs) != 0 {
			t.Errorf("removing the subjects: %+v, %v", u, err)
		}

		// Disabling revokes the tokens at once, cached or not.
		_, secret, err := s.CreateToken(ctx, bob.ID, "t", "write", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PrincipalByToken(ctx, secret); err != nil {
			t.Fatal(err)
		}
		disabled := true
		if _, err := s.Update(ctx, bob.ID, Change{Disabled: &disabled}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PrincipalByToken(ctx, secret); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("the token of a disabled user: %v", err)
		}
		ts, _ := s.Tokens(ctx, bob.ID)
		if len(ts) != 1 || ts[0].RevokedAt == nil {
			t.Errorf("tokens after disabling: %+v", ts)
		}
		if err := CheckOwnChange(bob.ID, bob.ID, Change{Disabled: &disabled}); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("disabling oneself: %v", err)
		}
		if err := CheckOwnChange(ann.ID, bob.ID, Change{Disabled: &disabled}); err != nil {
			t.Errorf("disabling another: %v", err)
		}
	})
}

func TestSetupToken(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		s := NewStore(d)
		ctx := context.Background()
		token, err := s.NewSetupToken(ctx)
		if err != nil || token == "" {
			t.Fatalf("setup token: %q, %v", token, err)
		}
		var stored string
		if err := d.R.QueryRowContext(ctx, `SELECT token_hash FROM setup_tokens`).Scan(&stored); err != nil || stored != auth.HashToken(token) {
			t.Errorf("stored %q, %v: want the token's hash", stored, err)
		}
		for _, bad := range []string{"", "nope", token + "x"} {
			if err := s.CheckSetupToken(ctx, bad); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("token %q: %v", bad, err)
			}
		}
		if _, err := s.Setup(ctx, token, NewUser{Email: "root@example.org", Name: "Root"}); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("setup without a password: %v", err)
		}
		u, err := s.Setup(ctx, token, NewUser{Email: "root@example.org", Name: "Root", Role: auth.RoleUser, Password: "a long enough password"})
		if err != nil || u.Role != auth.RoleAdmin {
			t.Fatalf("setup: %+v, %v", u, err)
		}
		if err := s.CheckSetupToken(ctx, token); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("the token after use: %v", err)
		}
		if again, err := s.NewSetupToken(ctx); err != nil || again != "" {
			t.Errorf("a setup token once a user exists: %q, %v", again, err)
		}
	})
}
