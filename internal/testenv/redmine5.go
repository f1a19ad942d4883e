package testenv

import (
	"strconv"
	"testing"
)

// Environment variables of the test Redmine 5 (scripts/lib/redmine5.sh).
const (
	// EnvRedmine5URL is the base URL of the test Redmine,
	// http://127.0.0.1:3055.
	EnvRedmine5URL = "HELPMESH_TEST_REDMINE5_URL"
	// EnvRedmine5Key is the REST API key of Redmine's admin, the account a
	// connector uses.
	EnvRedmine5Key = "HELPMESH_TEST_REDMINE5_KEY"
	// EnvRedmine5OtherKey is the REST API key of a second user (hmother, a
	// Manager of the project): a person working in Redmine.
	EnvRedmine5OtherKey = "HELPMESH_TEST_REDMINE5_OTHER_KEY"
	// EnvRedmine5Project is the identifier of the project for the tests.
	EnvRedmine5Project = "HELPMESH_TEST_REDMINE5_PROJECT"
	// EnvRedmine5Tracker is the id of the tracker for the tests.
	EnvRedmine5Tracker = "HELPMESH_TEST_REDMINE5_TRACKER"
)

// Redmine5Instance is the test Redmine 5 and its accounts.
type Redmine5Instance struct {
	URL       string
	Key       string // the admin's API key (the connector's account)
	OtherKey  string // another user's API key
	Project   string // project identifier
	TrackerID int64
}

// Redmine5 returns the test Redmine 5, or stops the test (skip, or fail
// when CI=true) when the services do not include it. Tests share the
// instance and its project: each creates issues (or projects) of its own
// and looks only at those.
func Redmine5(t testing.TB) Redmine5Instance {
	t.Helper()
	r := Redmine5Instance{
		URL:      Required(t, EnvRedmine5URL),
		Key:      Required(t, EnvRedmine5Key),
		OtherKey: Required(t, EnvRedmine5OtherKey),
		Project:  Required(t, EnvRedmine5Project),
	}
	tracker := Required(t, EnvRedmine5Tracker)
	id, err := strconv.ParseInt(tracker, 10, 64)
	if err != nil || id <= 0 {
		t.Fatalf("testenv: %s=%q is not a tracker id", EnvRedmine5Tracker, tracker)
	}
	r.TrackerID = id
	return r
}
