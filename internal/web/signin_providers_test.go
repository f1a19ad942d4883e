package web

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/config"
)

// The sign-in page offers a button per single sign-on provider, and keeps
// the page the visitor wanted in the provider's link.
func TestLoginOffersSignInProviders(t *testing.T) {
	e := newEnv(t, filepath.Join(t.TempDir(), "hm.db"))
	plain := e.client().get("/login?next=/tickets/7")
	if strings.Contains(plain.body, "/auth/oidc/") {
		t.Fatalf("without providers the page links to /auth/oidc:\n%s", excerpt(plain.body))
	}
	so, err := NewSignOn([]config.OIDCProvider{{Name: "egi", Label: "EGI Check-in", Issuer: "https://aai.egi.eu/auth/realms/egi", ClientID: "helpmesh"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := New(Deps{DB: e.db, Users: e.users, Units: e.units, Tickets: e.tickets, Blobs: e.blobs, SignOn: so})
	srv := httptest.NewServer(h)
	defer srv.Close()
	e.srv = srv
	r := e.client().get("/login?next=/tickets/7")
	for _, want := range []string{`href="/auth/oidc/egi?next=%2ftickets%2f7"`, "Sign in with EGI Check-in", `name="password"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("sign-in page lacks %q:\n%s", want, excerpt(r.body))
		}
	}
}
