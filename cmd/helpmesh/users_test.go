package main

import (
	"context"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/identity"
	"github.com/helpmesh/helpmesh/internal/user"
)

// TestUserInsertValidatesAlike: the one path that adds a user refuses a
// bad address or a name with control characters with the same message
// whoever calls it: the CLI (user add), the API (POST /api/v1/users), the
// mail gateway's account creation (EnsureTx) and the in-transaction path of
// sign-up through an identity provider (CreateTx). Identity never passes a
// provider's bad name on: it uses the address's local part instead, and
// refuses a bad address.
func TestUserInsertValidatesAlike(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		env := map[string]string{"HELPMESH_DATA": t.TempDir(), "HELPMESH_DB": apptest.DSN(t, e)}
		if code, out, errs := cli(t, env, "", "user", "add", "--email", "ops@example.org", "--name", "Operator", "--role", "admin"); code != 0 {
			t.Fatalf("user add: %d %q %q", code, out, errs)
		}
		code, out, errs := cli(t, env, "", "token", "create", "--email", "ops@example.org")
		if code != 0 {
			t.Fatalf("token create: %d %q %q", code, out, errs)
		}
		a, srv := serveCLIData(t, env)
		ctx := context.Background()
		admin := client.New(srv.URL, strings.TrimSpace(out), nil)

		for _, c := range []struct{ email, name string }{
			{"not-an-address", "Xavier"},
			{"Ann <ann@example.org>", "Ann"},
			{"ann@example.org", "Ann\x01Bob"},
			{"ann@example.org", "Ann\nBcc: eve@example.org"},
			{"ann@example.org", "Ann\x7f"},
			{"ann@example.org", strings.Repeat("a", 201)},
		} {
			_, want := user.NormalizeEmail(c.email)
			if want == nil {
				_, want = user.CheckName(c.name)
			}
			if want == nil {
				t.Fatalf("%q %q: the case is valid", c.email, c.name)
			}
			msg := want.Error()

			code, _, errs := cli(t, env, "", "user", "add", "--email", c.email, "--name", c.name)
			if code != 1 || !strings.Contains(errs, msg) {
				t.Errorf("CLI %q %q: exit %d, stderr %q, want %q", c.email, c.name, code, errs, msg)
			}
			_, err := admin.CreateUser(ctx, client.NewUser{Email: c.email, Name: c.name})
			if client.StatusOf(err) != 422 && client.StatusOf(err) != 400 || err == nil || !strings.Contains(err.Error(), msg) {
				t.Errorf("API %q %q: %v, want a 4xx with %q", c.email, c.name, err, msg)
			}
			err = a.DB.Tx(ctx, func(q db.Querier) error {
				_, _, err := a.Users.EnsureTx(ctx, q, c.email, c.name)
				return err
			})
			if !apperr.Is(err, apperr.Invalid) || !strings.Contains(err.Error(), msg) {
				t.Errorf("mail (EnsureTx) %q %q: %v, want %q", c.email, c.name, err, msg)
			}
			err = a.DB.Tx(ctx, func(q db.Querier) error {
				_, err := a.Users.CreateTx(ctx, q, user.NewUser{Email: c.email, Name: c.name})
				return err
			})
			if !apperr.Is(err, apperr.Invalid) || !strings.Contains(err.Error(), msg) {
				t.Errorf("CreateTx %q %q: %v, want %q", c.email, c.name, err, msg)
			}
		}
		if n, err := a.Users.Count(ctx); err != nil || n != 1 {
			t.Fatalf("refused users were stored: %d users, %v", n, err)
		}

		// Identity: a bad address is refused, a bad name replaced.
		if _, _, err := a.Identity.Link(ctx, identity.External{Provider: "p", Issuer: "https://idp.example", Subject: "s0",
			Email: "not-an-address", EmailVerified: true, Name: "Xavier"}); !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("identity with a bad address: %v", err)
		}
		for i, name := range []string{"Eve\x07Bell", "Eve\x7f", strings.Repeat("\u200b", 3) + "\x00"} {
			email := "eve" + string(rune('a'+i)) + "@example.org"
			id, created, err := a.Identity.Link(ctx, identity.External{Provider: "p", Issuer: "https://idp.example", Subject: email,
				Email: email, EmailVerified: true, Name: name})
			if err != nil || !created {
				t.Fatalf("identity %q: %v %v", name, created, err)
			}
			u, err := a.Users.Get(ctx, id)
			if err != nil || u.Name != strings.TrimSuffix(email, "@example.org") {
				t.Errorf("identity %q: stored %+v %v, want the local part", name, u, err)
			}
		}
		id, _, err := a.Identity.Link(ctx, identity.External{Provider: "p", Issuer: "https://idp.example", Subject: "ok",
			Email: "zoe@example.org", EmailVerified: true, Name: "  Zoë   Quinn "})
		if u, _ := a.Users.Get(ctx, id); err != nil || u == nil || u.Name != "Zoë Quinn" {
			t.Errorf("identity with a good name: %+v %v", u, err)
		}
	})
}
