package setting

import (
	"context"
	"testing"

	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

func TestSettings(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		s := NewStore(d)
		ctx := context.Background()
		got, err := s.Get(ctx, "site.name", "site.accent")
		if err != nil || len(got) != 0 {
			t.Fatalf("empty: %v %v", got, err)
		}
		if err := s.Set(ctx, map[string]string{"site.name": "Desk", "site.accent": "#112233"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, map[string]string{"site.name": "Help desk", "site.logo": ""}); err != nil {
			t.Fatal(err)
		}
		got, err = s.Get(ctx, "site.name", "site.accent", "site.logo", "site.tagline")
		if err != nil || len(got) != 3 || got["site.name"] != "Help desk" || got["site.accent"] != "#112233" || got["site.logo"] != "" {
			t.Fatalf("after set: %v %v", got, err)
		}
		if err := s.Set(ctx, map[string]string{"": "x"}); err == nil {
			t.Error("an empty key was accepted")
		}
		if got, err := s.Get(ctx); err != nil || len(got) != 0 {
			t.Errorf("no keys: %v %v", got, err)
		}
		// Ensure: the first value wins.
		v1, err := s.Ensure(ctx, "secret", "first")
		if err != nil || v1 != "first" {
			t.Fatalf("ensure: %q %v", v1, err)
		}
		if v2, err := s.Ensure(ctx, "secret", "second"); err != nil || v2 != "first" {
			t.Fatalf("ensure again: %q %v", v2, err)
		}
	})
}
