package apptest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/helpmesh/helpmesh/client"
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

// TestAnnounceFormBrowser: a unit admin sends an announcement from the
// workspace form on a phone (390 px); the page then lists it with the
// mails it made. A plain member is refused the page.
func TestAnnounceFormBrowser(t *testing.T) {
	open := testenv.Browser(t)
	in := Start(t, SQLite)
	in.NewUnit(t, "grid", false)
	in.NewUnit(t, "web", false)
	in.NewService(t, "storage", "grid")
	in.NewService(t, "portal", "web")
	ctx := context.Background()
	const pw = "a long enough password"
	boss, err := in.Admin.CreateUser(ctx, client.NewUser{Email: "boss@example.org", Name: "Boss", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	in.AddMember(t, "grid", boss.ID, "admin")
	member, err := in.Admin.CreateUser(ctx, client.NewUser{Email: "member@example.org", Name: "Member", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	in.AddMember(t, "grid", member.ID, "member")
	_, rita := in.NewUser(t, "rita@example.org", "user")
	if _, err := rita.CreateTicket(ctx, client.NewTicket{Subject: "quota", Body: "more please", Service: "storage"}); err != nil {
		t.Fatal(err)
	}
	signIn := func(bctx context.Context, email string) error {
		return chromedp.Run(bctx,
			chromedp.Navigate(in.URL+"/login"),
			chromedp.WaitVisible(`#email`, chromedp.ByID),
			chromedp.SendKeys(`#email`, email, chromedp.ByID),
			chromedp.SendKeys(`#password`, pw, chromedp.ByID),
			chromedp.Submit(`#password`, chromedp.ByID),
			chromedp.WaitVisible(`.nav`, chromedp.ByQuery),
		)
	}
	bctx, cancel := open()
	defer cancel()
	const width = 390
	var scroll int64
	var portal bool
	var row string
	err = chromedp.Run(bctx,
		chromedp.EmulateViewport(width, 844),
		chromedp.ActionFunc(func(ctx context.Context) error { return signIn(ctx, "boss@example.org") }),
		chromedp.Navigate(in.URL+"/announcements"),
		chromedp.WaitVisible(`#announce-form`, chromedp.ByID),
		chromedp.Evaluate(`!!document.querySelector('input[name="services"][value="portal"]')`, &portal),
		chromedp.SendKeys(`#a-title`, "Storage quota raised: 2 TB > 1 TB & more", chromedp.ByID),
		chromedp.SendKeys(`#a-body`, "Every project gets 2 TB more from Monday.", chromedp.ByID),
		chromedp.Click(`input[name="services"][value="storage"]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &scroll),
		testenv.Screenshot(t, "status", fmt.Sprintf("announce-form-%d", width)),
		chromedp.Submit(`#a-title`, chromedp.ByID),
		chromedp.WaitVisible(`#announcements tbody td a`, chromedp.ByQuery),
		chromedp.Text(`#announcements tbody tr`, &row, chromedp.ByQuery),
		testenv.Screenshot(t, "status", fmt.Sprintf("announce-sent-%d", width)),
	)
	if err != nil {
		t.Fatalf("announce at %d px: %v", width, err)
	}
	if scroll > width {
		t.Errorf("the form is %d px wide at %d px", scroll, width)
	}
	if portal {
		t.Errorf("the unit admin of grid is offered portal, a service of another unit")
	}
	if !strings.Contains(row, "Storage quota raised: 2 TB > 1 TB & more") {
		t.Errorf("latest announcement row: %q", row)
	}
	if ms := outboxAfter(t, in, mail.KindAnnouncement, 0, 1); recipients(ms) != "rita@example.org" {
		t.Errorf("announcement mailed to %q", recipients(ms))
	}

	mctx, mcancel := open()
	defer mcancel()
	var status int64
	if err := chromedp.Run(mctx,
		chromedp.ActionFunc(func(ctx context.Context) error { return signIn(ctx, "member@example.org") }),
		chromedp.Navigate(in.URL+"/announcements"),
		chromedp.Evaluate(`document.body.innerText.includes('Only administrators of a unit') ? 403 : 200`, &status),
	); err != nil {
		t.Fatal(err)
	}
	if status != 403 {
		t.Errorf("a member got the announcement form")
	}
}
