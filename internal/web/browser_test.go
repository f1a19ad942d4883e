package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/helpmesh/helpmesh/internal/testenv"
)

// shot saves a full-page PNG screenshot into the test artifacts.
func shot(t *testing.T, name string) chromedp.Action { return testenv.Screenshot(t, "web", name) }

func signIn(base, email string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Navigate(base + "/login"),
		chromedp.WaitVisible(`#email`, chromedp.ByID),
		chromedp.SendKeys(`#email`, email, chromedp.ByID),
		chromedp.SendKeys(`#password`, testPassword, chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`.nav`, chromedp.ByQuery),
	}
}

func TestBrowser(t *testing.T) {
	open := testenv.Browser(t)
	e := newEnv(t, filepath.Join(t.TempDir(), "h.db"))
	base := e.srv.URL
	ctx := context.Background()

	// Payloads: if any of them runs, window.__xss is set or a dialog opens.
	subject := `Cannot log in <script>window.__xss=1</script><img src=x onerror="window.__xss=2">`
	body := "Since this morning the portal says \"access denied\".\n<img src=x onerror=\"window.__xss=3;alert(3)\">\n<b>bold?</b>"
	fileName := `<img src=x onerror="window.__xss=4">.log`
	dir := t.TempDir()
	file := filepath.Join(dir, fileName)
	if err := os.WriteFile(file, []byte("2026-05-04 ERROR access denied for ada\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The requester signs in: the protected page sends her to /login first.
	rctx, rcancel := open()
	defer rcancel()
	var loc, ticketURL string
	err := chromedp.Run(rctx,
		chromedp.Navigate(base+"/tickets"),
		chromedp.WaitVisible(`#email`, chromedp.ByID),
		chromedp.Location(&loc),
		shot(t, "01-login"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(loc, "/login?next=%2Ftickets") {
		t.Fatalf("signed-out visitor at %s", loc)
	}
	err = chromedp.Run(rctx,
		chromedp.SendKeys(`#email`, "ada@example.org", chromedp.ByID),
		chromedp.SendKeys(`#password`, testPassword, chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`.page-head h1`, chromedp.ByQuery),
		chromedp.Location(&loc),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(loc, "/tickets") {
		t.Fatalf("after sign-in at %s, want /tickets", loc)
	}

	// She opens a ticket with an attachment, searching the catalogue.
	var hidden bool
	err = chromedp.Run(rctx,
		chromedp.Navigate(base+"/tickets/new"),
		chromedp.WaitVisible(`#subject`, chromedp.ByID),
		shot(t, "03-new-ticket"),
		chromedp.SendKeys(`#svc-search`, "batch", chromedp.ByID),
		chromedp.Sleep(100*time.Millisecond),
		chromedp.Evaluate(`document.querySelector('label[for=svc-0]').closest('li').hidden`, &hidden),
		chromedp.Click(`label[for=svc-1]`, chromedp.ByQuery),
		chromedp.SendKeys(`#subject`, subject, chromedp.ByID),
		chromedp.SendKeys(`#body`, body, chromedp.ByID),
		chromedp.Click(`input[name=priority][value=very_urgent] + span`, chromedp.ByQuery),
		chromedp.SetUploadFiles(`#attachments`, []string{file}, chromedp.ByID),
		chromedp.Submit(`#subject`, chromedp.ByID),
		chromedp.WaitVisible(`.ticket-head`, chromedp.ByQuery),
		chromedp.Location(&ticketURL),
		shot(t, "04-ticket-requester"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !hidden {
		t.Error("catalogue search did not filter out Cloud Compute for “batch”")
	}
	if !regexp.MustCompile(`/tickets/\d+$`).MatchString(ticketURL) {
		t.Fatalf("after sending the form the browser is at %s", ticketURL)
	}
	var h1, files, xss string
	err = chromedp.Run(rctx,
		chromedp.Text(`.ticket-head h1`, &h1, chromedp.ByQuery),
		chromedp.Text(`.files`, &files, chromedp.ByQuery),
		chromedp.Evaluate(`String(window.__xss) + "/" + (document.querySelectorAll('main img[src=x], main script').length + [...document.querySelectorAll('main b')].filter(b => b.textContent === 'bold?').length)`, &xss),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h1, "<script>window.__xss=1</script>") || !strings.Contains(files, `<img src=x onerror=`) {
		t.Errorf("payloads not shown as text: h1=%q files=%q", h1, files)
	}
	if xss != "undefined/0" {
		t.Errorf("XSS payload became markup or ran: %s", xss)
	}

	// Staff work the queue: a public reply and an internal note.
	sctx, scancel := open()
	defer scancel()
	const reply, note = "Your account was locked by mistake; unlocked now.", "Root cause: LDAP sync job #4711 (do not tell the user)."
	err = chromedp.Run(sctx,
		signIn(base, "sam@support.example.org"),
		chromedp.Navigate(base+"/queue/compute"),
		chromedp.WaitVisible(`.qtable`, chromedp.ByQuery),
		shot(t, "05-queue"),
		chromedp.Navigate(ticketURL),
		chromedp.WaitVisible(`#reply`, chromedp.ByID),
		chromedp.SendKeys(`#reply`, reply, chromedp.ByID),
		chromedp.Submit(`#reply`, chromedp.ByID),
		waitFlash("replied"),
		chromedp.SendKeys(`#note`, note, chromedp.ByID),
		chromedp.Submit(`#note`, chromedp.ByID),
		waitFlash("noted"),
		chromedp.SetValue(`#f-status`, "in_progress", chromedp.ByID),
		chromedp.SetValue(`#f-assignee`, fmt.Sprint(e.staff.ID), chromedp.ByID),
		chromedp.Submit(`#f-status`, chromedp.ByID),
		waitFlash("updated"),
		shot(t, "06-ticket-staff"),
	)
	if err != nil {
		t.Fatal(err)
	}
	var staffThread string
	if err := chromedp.Run(sctx, chromedp.Text(`.thread`, &staffThread, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(staffThread, note) || !strings.Contains(strings.ToLower(staffThread), "only support staff see this") {
		t.Errorf("staff thread lacks the marked internal note: %q", staffThread)
	}

	// The requester sees the reply, not the note.
	var thread, status string
	err = chromedp.Run(rctx,
		chromedp.Navigate(ticketURL),
		chromedp.WaitVisible(`.thread`, chromedp.ByQuery),
		chromedp.Text(`main`, &thread, chromedp.ByQuery),
		chromedp.Text(`.ticket-sub .badge`, &status, chromedp.ByQuery),
		shot(t, "07-ticket-requester-after-reply"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(thread, reply) {
		t.Error("the requester does not see the public reply")
	}
	if strings.Contains(thread, "LDAP") || strings.Contains(thread, "internal note") {
		t.Error("the requester sees the internal note")
	}
	if status != "In progress" {
		t.Errorf("status shown to the requester: %q", status)
	}

	// A forged cross-site POST: a page on another site (localhost is not
	// 127.0.0.1) auto-submits a form to helpmesh while she is signed in.
	evil := evilSite(t, base+"/tickets/new")
	var evilText string
	err = chromedp.Run(rctx,
		chromedp.Navigate(evil),
		chromedp.WaitVisible(`.errorcard`, chromedp.ByQuery),
		chromedp.Text(`.errorcard`, &evilText, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(evilText, "403") {
		t.Errorf("forged post answered: %q", evilText)
	}
	n, err := e.tickets.Count(ctx)
	if err != nil || n != 1 {
		t.Fatalf("tickets after the forged post: %d (%v), want 1", n, err)
	}

	// Live update: staff change the ticket, her open page follows.
	var liveText string
	err = chromedp.Run(rctx,
		chromedp.Navigate(ticketURL),
		chromedp.WaitVisible(`.thread`, chromedp.ByQuery),
		chromedp.Sleep(300*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(sctx, chromedp.SendKeys(`#reply`, "Live check: please try again.", chromedp.ByID), chromedp.Submit(`#reply`, chromedp.ByID), chromedp.Sleep(200*time.Millisecond), waitFlash("replied")); err != nil {
		t.Fatal(err)
	}
	lctx, lcancel := context.WithTimeout(rctx, 10*time.Second)
	err = chromedp.Run(lctx, chromedp.Poll(`document.querySelector('.thread').innerText.includes('Live check')`, nil, chromedp.WithPollingInterval(100*time.Millisecond)),
		chromedp.Text(`.thread`, &liveText, chromedp.ByQuery))
	lcancel()
	if err != nil {
		t.Errorf("live update did not reach the requester's page: %v", err)
	}

	// The other main pages, for the record (and for people to look at).
	err = chromedp.Run(rctx,
		chromedp.Navigate(base+"/"), chromedp.WaitVisible(`.hero`, chromedp.ByQuery), shot(t, "02-home"),
		chromedp.Navigate(base+"/tickets"), chromedp.WaitVisible(`.tlist`, chromedp.ByQuery), shot(t, "08-my-tickets"),
		chromedp.Navigate(base+"/tickets/999"), chromedp.WaitVisible(`.errorcard`, chromedp.ByQuery), shot(t, "09-not-found"),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(ticketURL), chromedp.WaitVisible(`.thread`, chromedp.ByQuery), shot(t, "10-ticket-phone"),
		chromedp.Navigate(base+"/tickets/new"), chromedp.WaitVisible(`#subject`, chromedp.ByID), shot(t, "11-new-ticket-phone"),
	)
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := open()
	defer acancel()
	err = chromedp.Run(actx,
		signIn(base, "root@example.org"),
		chromedp.Navigate(base+"/admin/units"), chromedp.WaitVisible(`.dtable`, chromedp.ByQuery), shot(t, "12-admin-units"),
		chromedp.Navigate(base+"/admin/units/compute"), chromedp.WaitVisible(`.members`, chromedp.ByQuery), shot(t, "13-admin-unit"),
		chromedp.Navigate(base+"/admin/services"), chromedp.WaitVisible(`.dtable`, chromedp.ByQuery), shot(t, "14-admin-services"),
		chromedp.Navigate(base+"/admin/users"), chromedp.WaitVisible(`.dtable`, chromedp.ByQuery), shot(t, "15-admin-users"),
		chromedp.Navigate(base+"/admin/settings"), chromedp.WaitVisible(`#s-name`, chromedp.ByID), shot(t, "16-admin-settings"),
		chromedp.Navigate(base+"/queue/tht"), chromedp.WaitVisible(`.tabs`, chromedp.ByQuery), shot(t, "17-queue-handler-team"),
		chromedp.Navigate(base+"/admin/events"), chromedp.WaitVisible(`.dtable`, chromedp.ByQuery), shot(t, "18-admin-events"),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(base+"/admin/events"), chromedp.WaitVisible(`.dtable`, chromedp.ByQuery), shot(t, "19-admin-events-phone"),
	)
	if err != nil {
		t.Fatal(err)
	}
}

// waitFlash waits for the flash message of the next page.
func waitFlash(key string) chromedp.Action {
	return chromedp.WaitVisible(`.flash[data-flash=`+key+`]`, chromedp.ByQuery)
}

// evilSite serves, on http://localhost:PORT (another site than
// 127.0.0.1), a page whose own script posts a form to target.
func evilSite(t *testing.T, target string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><form id=f method=post action=%q><input name=subject value="forged"><input name=body value="forged"><input name=csrf value="guess"></form><script>document.getElementById('f').submit()</script>`, target)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return fmt.Sprintf("http://localhost:%d/", ln.Addr().(*net.TCPAddr).Port)
}
