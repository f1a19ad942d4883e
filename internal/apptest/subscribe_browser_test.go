package apptest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/helpmesh/helpmesh/internal/mail"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// TestSubscribeFormBrowser: on a phone (390 px) a visitor follows "Get
// updates by e-mail" from /status, chooses a service, sends the form and
// is told to check the mailbox; the confirmation mail is in the outbox.
// Nothing runs out of the phone's width.
func TestSubscribeFormBrowser(t *testing.T) {
	open := testenv.Browser(t)
	in := Start(t, SQLite)
	in.NewUnit(t, "grid", false)
	for _, s := range []string{"storage", "compute", "portal"} {
		in.NewService(t, s, "grid")
	}
	seen := lastOutboxID(t, in)
	bctx, cancel := open()
	defer cancel()
	const width = 390
	var formScroll, sentScroll int64
	var sent string
	err := chromedp.Run(bctx,
		chromedp.EmulateViewport(width, 844),
		chromedp.Navigate(in.URL+"/status"),
		chromedp.WaitVisible(`#subscribe-link`, chromedp.ByID),
		chromedp.Click(`#subscribe-link`, chromedp.ByID),
		chromedp.WaitVisible(`#subscribe-form`, chromedp.ByID),
		chromedp.SendKeys(`#email`, "visitor@example.org", chromedp.ByID),
		chromedp.Click(`#scope-some`, chromedp.ByID),
		chromedp.Click(`input[name="services"][value="storage"]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &formScroll),
		testenv.Screenshot(t, "status", fmt.Sprintf("subscribe-form-%d", width)),
		chromedp.Submit(`#email`, chromedp.ByID),
		chromedp.WaitVisible(`#subscribe-sent`, chromedp.ByID),
		chromedp.Text(`#subscribe-sent`, &sent, chromedp.ByID),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &sentScroll),
		testenv.Screenshot(t, "status", fmt.Sprintf("subscribe-sent-%d", width)),
	)
	if err != nil {
		t.Fatalf("subscribe at %d px: %v", width, err)
	}
	if formScroll > width || sentScroll > width {
		t.Errorf("at %d px the pages are %d and %d px wide", width, formScroll, sentScroll)
	}
	if !strings.Contains(sent, "visitor@example.org") {
		t.Errorf("after sending: %q", sent)
	}
	ms := outboxAfter(t, in, mail.KindSubscription, seen, 1)
	if len(ms) != 1 || ms[0].To != "visitor@example.org" || !strings.Contains(ms[0].Text, "Service storage") || strings.Contains(ms[0].Text, "Service compute") {
		t.Fatalf("confirmation mail: %+v", ms)
	}
}
