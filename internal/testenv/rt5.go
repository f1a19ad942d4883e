package testenv

import (
	"net/url"
	"testing"
)

// Environment variables of the test Request Tracker 5 (scripts/lib/rt5.sh).
const (
	// EnvRT5URL is the base URL of the test RT, http://127.0.0.1:55480
	// (REST2 under /REST/2.0).
	EnvRT5URL = "HELPMESH_TEST_RT5_URL"
	// EnvRT5Token is an auth token of RT's user "helpmesh", the account a
	// connector uses.
	EnvRT5Token = "HELPMESH_TEST_RT5_TOKEN"
	// EnvRT5RootToken is an auth token of RT's root, for tests that play
	// a person working in RT.
	EnvRT5RootToken = "HELPMESH_TEST_RT5_ROOT_TOKEN"
	// EnvRT5Queue is the queue the connector creates tickets in.
	EnvRT5Queue = "HELPMESH_TEST_RT5_QUEUE"
)

// RT5Service is the test Request Tracker 5.
type RT5Service struct {
	URL       string // base URL, without /REST/2.0
	Token     string // the connector account's token
	RootToken string // root's token (another user than the connector)
	Queue     string
}

// RT5 returns the test Request Tracker 5, or stops the test (skip, or fail
// when CI=true) when scripts/services did not start it. RT is shared by
// every test: tests create tickets of their own and look only at those.
func RT5(t testing.TB) RT5Service {
	t.Helper()
	s := RT5Service{
		URL:       Required(t, EnvRT5URL),
		Token:     Required(t, EnvRT5Token),
		RootToken: Required(t, EnvRT5RootToken),
		Queue:     Required(t, EnvRT5Queue),
	}
	if u, err := url.Parse(s.URL); err != nil || u.Host == "" {
		t.Fatalf("testenv: %s=%q is not a URL", EnvRT5URL, s.URL)
	}
	return s
}
