package user

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
)

func openBenchStore(tb testing.TB) *Store {
	tb.Helper()
	d, err := db.Open(context.Background(), filepath.Join(tb.TempDir(), "users.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return NewStore(d)
}

// TestPrincipalCacheForgetsRevokedTokens: a cached token stops working the
// moment it is revoked.
func TestPrincipalCacheForgetsRevokedTokens(t *testing.T) {
	ctx := context.Background()
	s := openBenchStore(t)
	u, err := s.Create(ctx, NewUser{Email: "a@example.org", Name: "A"})
	if err != nil {
		t.Fatal(err)
	}
	tok, secret, err := s.CreateToken(ctx, u.ID, "t", "write", nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second one comes from the cache
		p, err := s.PrincipalByToken(ctx, secret)
		if err != nil || p.UserID != u.ID {
			t.Fatalf("principal %+v, err %v", p, err)
		}
		p.Units[99] = "admin" // a caller's change must not leak into the cache
	}
	p, _ := s.PrincipalByToken(ctx, secret)
	if len(p.Units) != 0 {
		t.Fatalf("the cache handed out a shared principal: %+v", p)
	}
	if err := s.RevokeToken(ctx, u.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PrincipalByToken(ctx, secret); !apperr.Is(err, apperr.Unauthorized) {
		t.Fatalf("revoked token still accepted: %v", err)
	}
}

func BenchmarkPrincipalByToken(b *testing.B) {
	ctx := context.Background()
	s := openBenchStore(b)
	u, err := s.Create(ctx, NewUser{Email: "a@example.org", Name: "A"})
	if err != nil {
		b.Fatal(err)
	}
	_, secret, err := s.CreateToken(ctx, u.ID, "t", "write", nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, cached := range []bool{false, true} {
		name := "uncached"
		if cached {
			name = "cached"
		}
		b.Run(name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !cached {
						s.ForgetPrincipals()
					}
					if _, err := s.PrincipalByToken(ctx, secret); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
