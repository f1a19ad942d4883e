package web

import (
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/identity"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// screenWidths are the sizes every page is looked at: a desktop and a
// 390 px phone.
var screenWidths = []struct {
	Name          string
	Width, Height int64
	Mobile        bool
}{
	{"desktop", 1280, 900, false},
	{"phone", 390, 844, true},
}

// TestBrowserEveryPageFitsTheScreen visits every page, as the person who
// uses it, at 1280×900 and at 390×844; it saves a screenshot of each and
// fails when a page is wider than the screen (so that a phone would have
// to scroll sideways).
func TestBrowserEveryPageFitsTheScreen(t *testing.T) {
	open := testenv.Browser(t)
	signOn, err := NewSignOn([]config.OIDCProvider{{Name: "egi", Label: "EGI Check-in", Issuer: "https://aai.example.org", ClientID: "helpmesh"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, filepath.Join(t.TempDir(), "h.db"), func(d *Deps) {
		d.Identity = identity.NewStore(d.DB, d.Users, d.Units, time.Now)
		d.SignOn = signOn
		d.Outbox = newFakeOutbox()
	})
	base := e.srv.URL

	// Content that stresses the layout: long subjects, long words, an
	// assigned ticket with a thread, a request for supporter privileges.
	req := e.client()
	req.login("ada@example.org")
	var first string
	for i, subj := range []string{
		"The batch system rejects every job submitted from the new login node since the upgrade",
		"Supercalifragilisticexpialidocious-error-message-without-any-spaces-at-all-0123456789",
		"Quota",
	} {
		r := req.post("/tickets/new", url.Values{"subject": {subj}, "body": {"Details of problem " + fmt.Sprint(i)}, "service": {"hpc"}, "priority": {"very_urgent"}})
		if r.status != 303 {
			t.Fatalf("new ticket: %d %s", r.status, excerpt(r.body))
		}
		if first == "" {
			first = r.location
		}
	}
	if r := req.post("/access", url.Values{"unit": {"compute"}, "role": {"member"}, "reason": {"I answer the compute tickets on call."}}); r.status != 303 {
		t.Fatalf("access request: %d %s", r.status, excerpt(r.body))
	}
	staff := e.client()
	staff.login("sam@support.example.org")
	if r := staff.post(first+"/messages", url.Values{"body": {"We are looking at it; please send the job id."}, "status": {"waiting_for_reply"}}); r.status != 303 {
		t.Fatalf("reply: %d %s", r.status, excerpt(r.body))
	}

	type visit struct{ name, path, ready string }
	people := []struct {
		who    string
		visits []visit
	}{
		{"", []visit{
			{"login", "/login", "#email"},
			{"login-link", "/login/link", "#email"},
			{"forgot", "/password/forgot", "#email"},
			{"oidc", "/auth/oidc", ".oidc"},
		}},
		{"ada@example.org", []visit{
			{"home", "/", ".hero"},
			{"my-tickets", "/tickets", ".page-head"},
			{"new-ticket", "/tickets/new", "#subject"},
			{"ticket-requester", first, ".thread"},
			{"access", "/access", "#access-form"},
			{"tokens", "/account/tokens", "#token-form"},
		}},
		{"sam@support.example.org", []visit{
			{"queue", "/queue/compute", ".qtable"},
			{"ticket-staff", first, "#reply"},
			{"search", "/search?q=batch", "main"},
		}},
		{"root@example.org", []visit{
			{"admin-home", "/admin", "main"},
			{"queue-handler-team", "/queue/tht", ".tabs"},
			{"admin-units", "/admin/units", ".dtable"},
			{"admin-unit", "/admin/units/compute", ".members"},
			{"admin-services", "/admin/services", ".dtable"},
			{"admin-users", "/admin/users", ".dtable"},
			{"admin-mail", "/admin/outbox", "main"},
			{"admin-events", "/admin/events", ".dtable"},
			{"admin-settings", "/admin/settings", "#s-name"},
			{"access-admin", "/access", "#to-decide"},
		}},
	}
	for _, person := range people {
		ctx, cancel := open()
		if person.who != "" {
			if err := chromedp.Run(ctx, signIn(base, person.who)); err != nil {
				cancel()
				t.Fatalf("%s signs in: %v", person.who, err)
			}
		}
		for _, sw := range screenWidths {
			emulate := chromedp.EmulateViewport(sw.Width, sw.Height)
			if sw.Mobile {
				emulate = chromedp.EmulateViewport(sw.Width, sw.Height, chromedp.EmulateMobile)
			}
			for _, v := range person.visits {
				var scroll int64
				err := chromedp.Run(ctx,
					emulate,
					chromedp.Navigate(base+v.path),
					chromedp.WaitVisible(v.ready, chromedp.ByQuery),
					shot(t, fmt.Sprintf("w-%s-%s", sw.Name, v.name)),
					chromedp.Evaluate(`document.documentElement.scrollWidth`, &scroll),
				)
				if err != nil {
					t.Errorf("%s at %s (%s): %v", v.name, sw.Name, v.path, err)
					continue
				}
				// A phone's browser widens the page to its content, so the
				// width is compared with the screen's, not innerWidth.
				if scroll > sw.Width {
					var wide string
					_ = chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(widestElements, sw.Width), &wide))
					t.Errorf("%s at %s is %d px wide on a %d px screen; too wide: %s", v.name, sw.Name, scroll, sw.Width, wide)
				}
			}
		}
		cancel()
	}
}

// widestElements names the elements that reach past the right edge of the
// screen, for the failure message.
const widestElements = `[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > %d + 1)
  .slice(0, 6).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '') + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ')`
