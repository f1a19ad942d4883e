package web_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/text/language"

	"github.com/helpmesh/helpmesh/internal/app"
	"github.com/helpmesh/helpmesh/internal/config"
)

// testApp is a running helpmesh on loopback.
type testApp struct {
	*app.App
	URL string
}

// startApp runs helpmesh (SQLite in a temp dir) on ln, or on a new
// loopback listener; edit adjusts the configuration.
func startApp(t *testing.T, ln net.Listener, edit func(c *config.Config)) *testApp {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.MailBatch = 0 // each mail at once
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = ln.Addr().String()
	cfg.BaseURL = "http://" + ln.Addr().String()
	cfg.BootstrapToken = "bootstrap-token-for-tests-0123456789"
	if edit != nil {
		edit(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	return &testApp{App: a, URL: cfg.PublicURL()}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// testOP is a real OpenID provider (zitadel/oidc's op package with its
// example storage) on loopback. Users have extra userinfo claims that the
// test can change between sign-ins.
type testOP struct {
	Issuer string
	claims *claimStore
}

type claimStore struct {
	mu sync.Mutex
	by map[string]map[string]any // user id -> claims
}

func (c *claimStore) Set(userID string, claims map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.by[userID] = claims
}

func (c *claimStore) get(userID string) map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.by[userID]
}

// opStorage adds the test's claims to userinfo.
type opStorage struct {
	*storage.Storage
	claims *claimStore
}

func (s *opStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	for k, v := range s.claims.get(ui.Subject) {
		ui.AppendClaims(k, v)
	}
	return nil
}

type opUsers map[string]*storage.User

func (u opUsers) GetUserByID(id string) *storage.User { return u[id] }
func (u opUsers) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}
func (u opUsers) ExampleClientID() string { return "service" }

// The provider's people.
const (
	opPassword = "verysecure"
	aliceID    = "alice-sub-1"
	bobID      = "bob-sub-2" // email not verified
)

func startOP(t *testing.T, clientID, secret string, redirectURIs ...string) *testOP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String() + "/"
	users := opUsers{
		aliceID: {ID: aliceID, Username: "alice", Password: opPassword, FirstName: "Alice", LastName: "Liddell",
			Email: "alice@example.org", EmailVerified: true, PreferredLanguage: language.English},
		bobID: {ID: bobID, Username: "bob", Password: opPassword, FirstName: "Bob", LastName: "Mallory",
			Email: "bob@example.org", EmailVerified: false, PreferredLanguage: language.English},
	}
	// NewStorageWithClients: no package-global client registry.
	clients := map[string]*storage.Client{clientID: storage.WebClient(clientID, secret, redirectURIs...)}
	cs := &claimStore{by: map[string]map[string]any{}}
	st := &opStorage{Storage: storage.NewStorageWithClients(users, clients), claims: cs}
	router := exampleop.SetupServer(issuer, st, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &testOP{Issuer: issuer, claims: cs}
}

// newClient is a browser-like HTTP client with its own cookie jar. It
// records every URL it is redirected to.
func newClient(t *testing.T) (*http.Client, *[]string) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	return &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		seen = append(seen, req.URL.String())
		if len(via) > 20 {
			return http.ErrUseLastResponse
		}
		return nil
	}}, &seen
}

var hiddenID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// opSignIn starts the sign-in at helpmesh with c, fills in the provider's
// login form and follows everything back. It returns the final response's
// status, body and the callback URL the provider sent the browser to.
func opSignIn(t *testing.T, c *http.Client, seen *[]string, base, name, username string) (int, string, string) {
	t.Helper()
	resp, err := c.Get(base + "/auth/oidc/" + name)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := hiddenID.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no login form at the provider (%d): %s", resp.StatusCode, body)
	}
	loginURL := resp.Request.URL.ResolveReference(mustURL(t, "/login/username")).String()
	*seen = (*seen)[:0]
	resp, err = c.PostForm(loginURL, map[string][]string{"id": {string(m[1])}, "username": {username}, "password": {opPassword}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	callback := ""
	for _, u := range *seen {
		if strings.Contains(u, "/auth/oidc/"+name+"/callback") {
			callback = u
		}
	}
	return resp.StatusCode, string(body), callback
}

func dataFile(t *testing.T, name string) string { return filepath.Join(t.TempDir(), name) }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formToken loads the page at url with c and returns its form token.
func formToken(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no form token on %s: %.300s", url, b)
	}
	return string(m[1])
}
