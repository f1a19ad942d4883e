package testenv

import "testing"

func setRedmine5Env(t *testing.T, tracker string) {
	t.Setenv(EnvRedmine5URL, "http://127.0.0.1:3055")
	t.Setenv(EnvRedmine5Key, "key")
	t.Setenv(EnvRedmine5OtherKey, "other")
	t.Setenv(EnvRedmine5Project, "helpmesh-test")
	t.Setenv(EnvRedmine5Tracker, tracker)
}

func TestRedmine5(t *testing.T) {
	t.Setenv(EnvCI, "")
	setRedmine5Env(t, "4")
	var got Redmine5Instance
	f := runFake(t, func(tb testing.TB) { got = Redmine5(tb) })
	want := Redmine5Instance{URL: "http://127.0.0.1:3055", Key: "key", OtherKey: "other", Project: "helpmesh-test", TrackerID: 4}
	if f.skipped || f.failed || got != want {
		t.Errorf("Redmine5 = %+v (skipped=%v failed=%v %q), want %+v", got, f.skipped, f.failed, f.msg, want)
	}
}

func TestRedmine5BadTracker(t *testing.T) {
	t.Setenv(EnvCI, "")
	setRedmine5Env(t, "Support")
	f := runFake(t, func(tb testing.TB) { Redmine5(tb) })
	if !f.failed {
		t.Errorf("a tracker name instead of an id: failed=%v skipped=%v, want a failure", f.failed, f.skipped)
	}
}

func TestRedmine5Missing(t *testing.T) {
	for ci, wantFail := range map[string]bool{"": false, "true": true} {
		t.Setenv(EnvCI, ci)
		setRedmine5Env(t, "4")
		t.Setenv(EnvRedmine5Key, "")
		f := runFake(t, func(tb testing.TB) { Redmine5(tb) })
		if f.failed != wantFail || f.skipped == wantFail {
			t.Errorf("CI=%q without a key: failed=%v skipped=%v, want failed=%v", ci, f.failed, f.skipped, wantFail)
		}
	}
}
