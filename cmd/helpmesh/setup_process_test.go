package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeLogsSetupURL runs `helpmesh serve` on an empty data directory
// without a bootstrap token: it logs the setup URL once, whose form
// creates the first administrator and signs them in; the URL then answers
// 404. A later start logs no setup URL.
func TestServeLogsSetupURL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dataDir := t.TempDir()
	s := startProcess(t, dataDir, "", "")
	urlRe := regexp.MustCompile(`setup_url=(http://\S+/setup/[A-Za-z0-9_-]+)`)
	var setupURL string
	for deadline := time.Now().Add(10 * time.Second); setupURL == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := urlRe.FindAllStringSubmatch(s.log(), -1); m != nil {
			if len(m) != 1 {
				t.Errorf("the setup URL was logged %d times", len(m))
			}
			setupURL = m[0][1]
		}
	}
	if setupURL == "" {
		t.Fatalf("no setup URL in the log:\n%s", s.log())
	}
	if !strings.HasPrefix(setupURL, s.url+"/setup/") {
		t.Errorf("setup URL %s is not under %s", setupURL, s.url)
	}

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (int, string) {
		t.Helper()
		res, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	status, page := get(setupURL)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if status != 200 || m == nil {
		t.Fatalf("setup page: %d", status)
	}
	res, err := hc.PostForm(setupURL, url.Values{"csrf": {m[1]}, "email": {"first@example.org"}, "name": {"First Admin"}, "password": {"a long enough password"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("setup: status %d", res.StatusCode)
	}
	if status, page := get(s.url + "/api/v1/me"); status != 200 || !strings.Contains(page, `"role":"admin"`) {
		t.Errorf("signed in after setup: %d %s", status, page)
	}
	if status, _ := get(setupURL); status != 404 {
		t.Errorf("setup URL after use: status %d, want 404", status)
	}

	// A restart on the same data directory has a user: no setup URL.
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	s.wait(30 * time.Second)
	s2 := startProcess(t, dataDir, "", "")
	time.Sleep(200 * time.Millisecond)
	if strings.Contains(s2.log(), "setup_url") {
		t.Errorf("a start with a user logged a setup URL:\n%s", s2.log())
	}
}
