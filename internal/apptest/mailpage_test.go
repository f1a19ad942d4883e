package apptest_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
)

// TestAdminMailPage reads the gateway's real outbox on the admin mail
// page: a mail's kind, subject and the start of its text; discarding it
// there keeps it from going out.
func TestAdminMailPage(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		ctx := context.Background()
		const pw = "a long enough password"
		if _, err := in.Admin.CreateUser(ctx, client.NewUser{Email: "rita@example.org", Name: "Rita Root", Role: "admin", Password: pw}); err != nil {
			t.Fatal(err)
		}
		if err := in.App.Mail.SendText(ctx, "ada@example.org", "Your sign-in link", "Open https://x/login/abc to sign in.\nIt works once."); err != nil {
			t.Fatal(err)
		}
		out, err := in.App.Mail.Outbox(ctx, "", 0, 1)
		if err != nil || len(out) != 1 {
			t.Fatalf("outbox: %v %v", out, err)
		}
		br := newBrowser(t, in)
		br.signIn("rita@example.org", pw)
		st, page := br.get("/admin/outbox")
		for _, want := range []string{"Account", "Your sign-in link", "Open https://x/login/abc to sign in. It works once.", "Discard"} {
			if st != 200 || !strings.Contains(page, want) {
				t.Errorf("mail page (%d) lacks %q", st, want)
			}
		}
		m := formTokenRe.FindStringSubmatch(page)
		res, err := br.hc.PostForm(in.URL+"/admin/outbox/"+strconv.FormatInt(out[0].ID, 10)+"/discard", url.Values{"csrf": {m[1]}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if out, _ = in.App.Mail.Outbox(ctx, "", 0, 1); res.StatusCode != 303 || out[0].State != "suppressed" {
			t.Errorf("discard: %d, state %s", res.StatusCode, out[0].State)
		}
	})
}
