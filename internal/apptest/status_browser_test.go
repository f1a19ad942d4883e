package apptest

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/helpmesh/helpmesh/internal/testenv"
)

// TestStatusPageBrowser shows /status with an incident over two services
// (one recovered) at desktop and phone widths, and checks that nothing
// runs out of the phone's width.
func TestStatusPageBrowser(t *testing.T) {
	open := testenv.Browser(t)
	in := Start(t, SQLite)
	in.NewUnit(t, "grid", false)
	for _, s := range []string{"storage", "compute", "portal", "catalogue"} {
		in.NewService(t, s, "grid")
	}
	ctx := context.Background()
	var inc struct{ ID int64 }
	if err := in.Admin.Do(ctx, "POST", "/api/v1/incidents", map[string]any{"title": "Storage & compute unreachable", "impact": "major",
		"body":       "A network switch failed in the data centre; we are replacing it.",
		"components": []map[string]string{{"service": "storage", "status": "major_outage"}, {"service": "compute", "status": "partial_outage"}}}, &inc); err != nil {
		t.Fatal(err)
	}
	if err := in.Admin.Do(ctx, "POST", fmt.Sprintf("/api/v1/incidents/%d/updates", inc.ID), map[string]any{"status": "identified",
		"body": "Compute is back through the spare link.", "components": []map[string]string{{"service": "compute", "status": "operational"}}}, nil); err != nil {
		t.Fatal(err)
	}
	bctx, cancel := open()
	defer cancel()
	for _, width := range []int64{1280, 390} {
		var scroll int64
		err := chromedp.Run(bctx,
			chromedp.EmulateViewport(width, 900),
			chromedp.Navigate(in.URL+"/status"),
			chromedp.WaitVisible(`#service-storage .bars`, chromedp.ByQuery),
			chromedp.Evaluate(`document.documentElement.scrollWidth`, &scroll),
			testenv.Screenshot(t, "status", fmt.Sprintf("status-%d", width)),
		)
		if err != nil {
			t.Fatalf("/status at %d px: %v", width, err)
		}
		if scroll > width {
			t.Errorf("/status at %d px is %d px wide", width, scroll)
		}
	}
}
