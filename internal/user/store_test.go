package user

import (
	"context"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

func TestStoreUsers(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		s := NewStore(d)
		ctx := context.Background()
		u, err := s.Create(ctx, NewUser{Email: " Ann@Example.ORG ", Name: " Ann  ", Password: "a long enough password", CertificateDNs: []string{"CN=Ann,O=Example"}})
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "ann@example.org" || u.Name != "Ann" || u.Role != auth.RoleUser || !u.HasPassword {
			t.Errorf("created: %+v", u)
		}
		for _, nu := range []NewUser{
			{Email: "ANN@example.org", Name: "dup"},
			{Email: "bob@example.org", Name: "Bob", CertificateDNs: []string{"CN=Ann,O=Example"}},
		} {
			if _, err := s.Create(ctx, nu); !apperr.Is(err, apperr.Conflict) {
				t.Errorf("create %+v: %v, want conflict", nu, err)
			}
		}
		if n, _ := s.Count(ctx); n != 1 {
			t.Errorf("a failed create left a user behind: %d users", n)
		}
		got, err := s.GetByEmail(ctx, "ANN@example.org")
		if err != nil || got.ID != u.ID || len(got.CertificateDNs) != 1 {
			t.Errorf("by email: %+v %v", got, err)
		}
		if _, err := s.Get(ctx, 999999); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("no user: %v", err)
		}
		if _, err := s.CheckPassword(ctx, "ann@example.org", "a long enough password"); err != nil {
			t.Errorf("password: %v", err)
		}
		for _, c := range [][2]string{{"ann@example.org", "wrong password!"}, {"nobody@example.org", "a long enough password"}} {
			if _, err := s.CheckPassword(ctx, c[0], c[1]); !apperr.Is(err, apperr.Unauthorized) {
				t.Errorf("check %v: %v", c, err)
			}
		}
		if err := s.SetPassword(ctx, u.ID, "another long password"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CheckPassword(ctx, "ann@example.org", "another long password"); err != nil {
			t.Errorf("new password: %v", err)
		}
		if p, err := s.PrincipalByCertificate(ctx, "CN=Ann,O=Example"); err != nil || p.UserID != u.ID || p.Via != "certificate" {
			t.Errorf("by certificate: %+v %v", p, err)
		}
		if _, err := s.PrincipalByCertificate(ctx, "CN=Mallory"); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("unknown certificate: %v", err)
		}
	})
}

func TestStoreTokens(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		s := NewStore(d)
		ctx := context.Background()
		u, err := s.Create(ctx, NewUser{Email: "ann@example.org", Name: "Ann"})
		if err != nil {
			t.Fatal(err)
		}
		tok, secret, err := s.CreateToken(ctx, u.ID, "laptop", "", nil)
		if err != nil || tok.Scope != "write" || len(secret) < 40 || secret[:3] != auth.TokenPrefix {
			t.Fatalf("token: %+v %q %v", tok, secret, err)
		}
		var stored string
		if err := d.R.QueryRowContext(ctx, `SELECT token_hash FROM api_tokens WHERE id = $1`, tok.ID).Scan(&stored); err != nil || stored != auth.HashToken(secret) {
			t.Errorf("stored %q, want the SHA-256 of the secret", stored)
		}
		p, err := s.PrincipalByToken(ctx, secret)
		if err != nil || p.UserID != u.ID || p.ReadOnly || p.Via != "token" {
			t.Errorf("principal: %+v %v", p, err)
		}
		_, rsecret, err := s.CreateToken(ctx, u.ID, "ro", "read", nil)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := s.PrincipalByToken(ctx, rsecret); err != nil || !p.ReadOnly {
			t.Errorf("read token: %+v %v", p, err)
		}
		for _, c := range []struct {
			name, scope string
			exp         *time.Time
		}{
			{"x", "admin", nil},
			{string(make([]byte, 201)), "", nil},
			{"nul\x00", "", nil},
			{"past", "", ptr(time.Now().Add(-time.Second))},
		} {
			if _, _, err := s.CreateToken(ctx, u.ID, c.name, c.scope, c.exp); !apperr.Is(err, apperr.Invalid) {
				t.Errorf("token %q %q: %v", c.name, c.scope, err)
			}
		}
		if _, _, err := s.CreateToken(ctx, 999999, "x", "", nil); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("token of no user: %v", err)
		}

		// Expiry: a token that expires in a moment works now and not later.
		now := time.Now().UTC()
		s.now = func() time.Time { return now }
		exp := now.Add(time.Hour)
		_, esecret, err := s.CreateToken(ctx, u.ID, "short", "", &exp)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PrincipalByToken(ctx, esecret); err != nil {
			t.Errorf("before expiry: %v", err)
		}
		s.now = func() time.Time { return now.Add(time.Hour + time.Second) }
		if _, err := s.PrincipalByToken(ctx, esecret); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("after expiry: %v", err)
		}
		s.now = func() time.Time { return time.Now().UTC() }

		// Revocation takes effect at once.
		if err := s.RevokeToken(ctx, u.ID, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PrincipalByToken(ctx, secret); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("revoked: %v", err)
		}
		if err := s.RevokeToken(ctx, u.ID, tok.ID); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("revoke twice: %v", err)
		}
		other, _ := s.Create(ctx, NewUser{Email: "bob@example.org", Name: "Bob"})
		ts, _ := s.Tokens(ctx, u.ID)
		if err := s.RevokeToken(ctx, other.ID, ts[1].ID); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("revoke someone else's token: %v", err)
		}
		if len(ts) != 3 || ts[0].RevokedAt == nil || ts[1].RevokedAt != nil || ts[2].ExpiresAt == nil {
			t.Errorf("tokens: %+v", ts)
		}
		for _, bad := range []string{"", "hm_nope", " ", secret + "x"} {
			if _, err := s.PrincipalByToken(ctx, bad); !apperr.Is(err, apperr.Unauthorized) {
				t.Errorf("token %q: %v", bad, err)
			}
		}
		// The bootstrap token.
		if _, err := s.CreateTokenWithSecret(ctx, other.ID, "bootstrap", "hm_bootstrap_secret_value"); err != nil {
			t.Fatal(err)
		}
		if p, err := s.PrincipalByToken(ctx, "hm_bootstrap_secret_value"); err != nil || p.UserID != other.ID {
			t.Errorf("bootstrap token: %+v %v", p, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }
