package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/testenv"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

func screenshot(t *testing.T, name string) chromedp.Action {
	return testenv.Screenshot(t, "identity", name)
}

// waitAt waits until the browser has arrived at a page under prefix.
func waitAt(prefix string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		for {
			var loc, state string
			if err := chromedp.Location(&loc).Do(ctx); err == nil && strings.HasPrefix(loc, prefix) {
				if err := chromedp.Evaluate(`document.readyState`, &state).Do(ctx); err == nil && state == "complete" {
					return nil
				}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// bodyJSON reads the page (a JSON API answer) into v.
func bodyJSON(v any) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var s string
		if err := chromedp.Evaluate(`document.body.innerText`, &s).Do(ctx); err != nil {
			return err
		}
		return json.Unmarshal([]byte(s), v)
	})
}

// TestBrowserOIDCSignInAndAccessRequest: in Chromium, a person signs in
// at the OP through /auth/oidc/egi, becomes a member of example-support by
// her entitlement, asks to join grid-ops; an admin of grid-ops approves in
// his browser; she is a member, the request ticket is solved; she signs
// out.
func TestBrowserOIDCSignInAndAccessRequest(t *testing.T) {
	newBrowser := testenv.Browser(t)
	a, op := oidcSetup(t, nil)
	ctx := context.Background()
	op.claims.Set(aliceID, map[string]any{"eduperson_entitlement": []string{egiEntitlement}})
	grid, err := a.Units.CreateUnit(ctx, unit.Unit{Slug: "grid-ops", Name: "Grid operations"})
	if err != nil {
		t.Fatal(err)
	}
	carol, err := a.Users.Create(ctx, user.NewUser{Email: "carol@example.org", Name: "Carol Admin", Password: "carol-password-123"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Units.SetMember(ctx, grid.ID, carol.ID, auth.UnitAdmin); err != nil {
		t.Fatal(err)
	}

	bctx, cancel := newBrowser()
	defer cancel()
	var m me
	var loc string
	err = chromedp.Run(bctx,
		chromedp.Navigate(a.URL+"/auth/oidc"),
		chromedp.WaitVisible(`#oidc-egi`, chromedp.ByID),
		screenshot(t, "01-providers"),
		chromedp.Click(`#oidc-egi`, chromedp.ByID),
		chromedp.WaitVisible(`#username`, chromedp.ByID),
		chromedp.SendKeys(`#username`, "alice", chromedp.ByID),
		chromedp.SendKeys(`#password`, opPassword, chromedp.ByID),
		screenshot(t, "02-provider-login"),
		chromedp.Submit(`#password`, chromedp.ByID),
		waitAt(a.URL+"/"),
		chromedp.WaitVisible(`body`),
		chromedp.Location(&loc),
		screenshot(t, "03-signed-in"),
		chromedp.Navigate(a.URL+"/api/v1/me"),
		bodyJSON(&m),
	)
	if err != nil {
		t.Fatalf("sign-in in Chromium: %v", err)
	}
	if !strings.HasPrefix(loc, a.URL) || m.Email != "alice@example.org" || unitRole(&m, "example-support") != "member" {
		t.Fatalf("after sign-in at %s: %+v", loc, m)
	}

	// She asks to join grid-ops.
	var reqURL string
	err = chromedp.Run(bctx,
		chromedp.Navigate(a.URL+"/access"),
		chromedp.WaitVisible(`#access-form`, chromedp.ByID),
		chromedp.SetValue(`#unit`, "grid-ops", chromedp.ByID),
		chromedp.SendKeys(`#reason`, "I run the grid site FZK-LCG2 and answer its tickets.", chromedp.ByID),
		chromedp.Click(`#request-access`, chromedp.ByID),
		chromedp.WaitVisible(`#req-status`, chromedp.ByID),
		chromedp.Location(&reqURL),
		screenshot(t, "04-access-requested"),
	)
	if err != nil {
		t.Fatalf("access request: %v", err)
	}
	if !strings.Contains(reqURL, "/access/requests/") {
		t.Fatalf("landed on %s", reqURL)
	}

	// Carol, admin of grid-ops, signs in with her password and approves.
	cctx, ccancel := newBrowser()
	defer ccancel()
	var status string
	err = chromedp.Run(cctx,
		chromedp.Navigate(a.URL+"/login"),
		chromedp.WaitVisible(`#email`, chromedp.ByID),
		chromedp.SendKeys(`#email`, "carol@example.org", chromedp.ByID),
		chromedp.SendKeys(`#password`, "carol-password-123", chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		// Signed in once the sign-in form is gone (a slow machine may take
		// a while; navigating earlier would cancel the sign-in).
		chromedp.WaitNotPresent(`#password`, chromedp.ByID),
		chromedp.Navigate(a.URL+"/access"),
		chromedp.WaitVisible(`#to-decide a`, chromedp.ByQuery),
		screenshot(t, "05-admin-sees-request"),
		chromedp.Click(`#to-decide a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#approve`, chromedp.ByID),
		chromedp.Click(`#approve`, chromedp.ByID),
		chromedp.WaitNotPresent(`#approve`, chromedp.ByID), // decided: no more buttons
		chromedp.WaitVisible(`#req-status`, chromedp.ByID),
		chromedp.Text(`#req-status`, &status, chromedp.ByID),
		screenshot(t, "06-approved"),
	)
	if err != nil {
		t.Fatalf("approval: %v", err)
	}
	if status != "approved" {
		t.Fatalf("request status %q", status)
	}
	// The identity pages share the portal's layout at desktop and phone
	// widths.
	for _, width := range []int64{1280, 390} {
		for _, pg := range []struct{ path, ready, name string }{
			{"/access", "#access-form", "access"},
			{"/access/requests/1", "#req-status", "access-request"},
			{"/account/tokens", "#token-form", "tokens"},
			{"/auth/oidc", "#oidc-egi", "providers"},
		} {
			err := chromedp.Run(cctx,
				chromedp.EmulateViewport(width, 900),
				chromedp.Navigate(a.URL+pg.path),
				chromedp.WaitVisible(pg.ready, chromedp.ByQuery),
				screenshot(t, fmt.Sprintf("07-%s-%d", pg.name, width)),
			)
			if err != nil {
				t.Fatalf("%s at %d px: %v", pg.path, width, err)
			}
		}
	}
	p, err := a.Users.Principal(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Units[grid.ID] != auth.UnitMember {
		t.Fatalf("alice is not a member of grid-ops: %+v", p.Units)
	}
	// The request was a ticket of grid-ops, now solved.
	ts, err := a.Tickets.List(ctx, p, ticket.Filter{UnitID: grid.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].Status != ticket.Solved || !strings.Contains(ts[0].Subject, "Access request") {
		t.Fatalf("access request ticket: %+v", ts)
	}

	// She signs out: the session is gone.
	var code int64
	// The sign-out form in the account menu posts to /logout, which ends the session and
	// sends the browser on to the provider's end-session page. The test
	// sends the form's own POST (with its token) from the page and waits
	// for the answer, instead of racing the browser's navigation.
	var signedOut bool
	err = chromedp.Run(bctx,
		chromedp.Navigate(a.URL+"/access"),
		chromedp.Click(`.menu summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#logout`, chromedp.ByID),
		chromedp.Evaluate(`(async () => {
			const f = document.querySelector('#logout').form;
			const r = await fetch(f.action, {method: 'POST', body: new URLSearchParams(new FormData(f)), redirect: 'manual'});
			return r.type === 'opaqueredirect';
		})()`, &signedOut, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
	)
	if err != nil || !signedOut {
		t.Fatalf("sign out: %v (redirected: %v)", err, signedOut)
	}
	err = chromedp.Run(bctx,
		chromedp.Navigate(a.URL+"/access"),
		chromedp.WaitReady(`body`),
		chromedp.Location(&loc),
		chromedp.Evaluate(`0`, &code),
	)
	if err != nil {
		t.Fatalf("sign out: %v", err)
	}
	if !strings.Contains(loc, "/login") {
		t.Fatalf("after sign-out /access went to %s, want the sign-in page", loc)
	}
}
