package web

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/helpmesh/helpmesh/internal/testenv"
)

// TestSetupBrowser shows the first-run setup page at desktop and phone
// widths, creates the first administrator through it in a browser, and
// shows the users page with a user's edit form open.
func TestSetupBrowser(t *testing.T) {
	open := testenv.Browser(t)
	e := newEmptyEnv(t, filepath.Join(t.TempDir(), "h.db"))
	token := e.setupToken()
	ctx, cancel := open()
	defer cancel()
	for _, width := range []int64{1280, 390} {
		err := chromedp.Run(ctx,
			chromedp.EmulateViewport(width, 900),
			chromedp.Navigate(e.srv.URL+"/setup/"+token),
			chromedp.WaitVisible(`#name`, chromedp.ByID),
			shot(t, fmt.Sprintf("setup-%d", width)),
		)
		if err != nil {
			t.Fatalf("setup page at %d px: %v", width, err)
		}
	}
	var loc, flash string
	err := chromedp.Run(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.SendKeys(`#name`, "Rita Root", chromedp.ByID),
		chromedp.SendKeys(`#email`, "rita@example.org", chromedp.ByID),
		chromedp.SendKeys(`#password`, testPassword, chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`.nav`, chromedp.ByQuery),
		chromedp.Location(&loc),
		chromedp.Text(`.flash`, &flash, chromedp.ByQuery),
		shot(t, "setup-done"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(loc, "/admin/units") || !strings.Contains(flash, "You are the administrator") {
		t.Errorf("after setup at %s: %q", loc, flash)
	}
	for _, width := range []int64{1280, 390} {
		err := chromedp.Run(ctx,
			chromedp.EmulateViewport(width, 900),
			chromedp.Navigate(e.srv.URL+"/admin/users"),
			chromedp.WaitVisible(`details.edit summary`, chromedp.ByQuery),
			chromedp.Click(`details.edit summary`, chromedp.ByQuery),
			chromedp.WaitVisible(`#name-1`, chromedp.ByID),
			shot(t, fmt.Sprintf("admin-users-edit-%d", width)),
		)
		if err != nil {
			t.Fatalf("users page at %d px: %v", width, err)
		}
	}
}
