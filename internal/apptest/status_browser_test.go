package apptest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/helpmesh/helpmesh/client"
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

// TestNewTicketKnownErrorBrowser: a requester who chooses a service with
// an active known error sees it, with its workaround, on the new-ticket
// form (at desktop and phone widths); a retired one is not shown.
func TestNewTicketKnownErrorBrowser(t *testing.T) {
	open := testenv.Browser(t)
	in := Start(t, SQLite)
	in.NewUnit(t, "grid", false)
	in.NewService(t, "storage", "grid")
	in.NewService(t, "compute", "grid")
	ctx := context.Background()
	const pw = "a long enough password"
	if _, err := in.Admin.CreateUser(ctx, client.NewUser{Email: "rita@example.org", Name: "Rita", Password: pw}); err != nil {
		t.Fatal(err)
	}
	for _, ke := range []map[string]any{
		{"title": "Uploads over 2 GB fail", "symptom": "PUT of a large file answers 403 after a minute.", "workaround": "Split the file: split -b 1G big.tar", "services": []string{"storage"}, "status": "workaround"},
		{"title": "Old retired problem", "symptom": "s", "workaround": "w", "services": []string{"storage"}, "status": "retired"},
	} {
		if err := in.Admin.Do(ctx, "POST", "/api/v1/known-errors", ke, nil); err != nil {
			t.Fatal(err)
		}
	}
	bctx, cancel := open()
	defer cancel()
	if err := chromedp.Run(bctx,
		chromedp.Navigate(in.URL+"/login"),
		chromedp.WaitVisible(`#email`, chromedp.ByID),
		chromedp.SendKeys(`#email`, "rita@example.org", chromedp.ByID),
		chromedp.SendKeys(`#password`, pw, chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`.nav`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	for _, width := range []int64{1280, 390} {
		var shown, hidden bool
		var text string
		err := chromedp.Run(bctx,
			chromedp.EmulateViewport(width, 900),
			chromedp.Navigate(in.URL+"/tickets/new?service=storage"),
			chromedp.WaitVisible(`input[value="storage"]:checked ~ .known-errors`, chromedp.ByQuery),
			chromedp.Text(`input[value="storage"] ~ .known-errors`, &text, chromedp.ByQuery),
			chromedp.Evaluate(`getComputedStyle(document.querySelector('input[value="storage"] ~ .known-errors')).display !== 'none'`, &shown),
			chromedp.Evaluate(`!document.querySelector('input[value="compute"] ~ .known-errors')`, &hidden),
			testenv.Screenshot(t, "status", fmt.Sprintf("new-ticket-known-error-%d", width)),
		)
		if err != nil {
			t.Fatalf("/tickets/new at %d px: %v", width, err)
		}
		if !shown || !hidden || !strings.Contains(text, "split -b 1G big.tar") || strings.Contains(text, "Old retired problem") {
			t.Errorf("at %d px: shown %v, none for compute %v, text %q", width, shown, hidden, text)
		}
	}

	// The staff ticket page shows the service's known error too.
	sam, err := in.Admin.CreateUser(ctx, client.NewUser{Email: "sam@example.org", Name: "Sam", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	in.AddMember(t, "grid", sam.ID, "member")
	tk, err := in.Admin.CreateTicket(ctx, client.NewTicket{Subject: "upload fails", Body: "403", Service: "storage"})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := open()
	defer scancel()
	var notes string
	err = chromedp.Run(sctx,
		chromedp.Navigate(in.URL+"/login"),
		chromedp.WaitVisible(`#email`, chromedp.ByID),
		chromedp.SendKeys(`#email`, "sam@example.org", chromedp.ByID),
		chromedp.SendKeys(`#password`, pw, chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`.nav`, chromedp.ByQuery),
		chromedp.Navigate(fmt.Sprintf("%s/tickets/%d", in.URL, tk.ID)),
		chromedp.WaitVisible(`.service-notices`, chromedp.ByQuery),
		chromedp.Text(`.service-notices`, &notes, chromedp.ByQuery),
		testenv.Screenshot(t, "status", "staff-ticket-known-error-1280"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notes, "Uploads over 2 GB fail") || strings.Contains(notes, "Old retired problem") {
		t.Errorf("staff ticket page notices: %q", notes)
	}
}
