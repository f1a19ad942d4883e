package testenv

import (
	"strings"
	"testing"
)

// setRT5Env sets the RT variables and CI for one test.
func setRT5Env(t *testing.T, rtURL, ci string) {
	t.Setenv(EnvRT5URL, rtURL)
	t.Setenv(EnvRT5Token, "t")
	t.Setenv(EnvRT5RootToken, "r")
	t.Setenv(EnvRT5Queue, "q")
	t.Setenv(EnvCI, ci)
}

func TestRT5MissingSkipsOrFailsInCI(t *testing.T) {
	setRT5Env(t, "", "")
	if f := runFake(t, func(tb testing.TB) { RT5(tb) }); !f.skipped || f.failed || !strings.Contains(f.msg, EnvRT5URL) {
		t.Errorf("outside CI: skipped=%v failed=%v msg=%q", f.skipped, f.failed, f.msg)
	}
	t.Setenv(EnvCI, "true")
	if f := runFake(t, func(tb testing.TB) { RT5(tb) }); !f.failed || f.skipped {
		t.Errorf("CI=true: skipped=%v failed=%v; want a failure", f.skipped, f.failed)
	}
}

func TestRT5Present(t *testing.T) {
	setRT5Env(t, "http://127.0.0.1:55480", "true")
	var got RT5Service
	if f := runFake(t, func(tb testing.TB) { got = RT5(tb) }); f.failed || f.skipped {
		t.Fatalf("failed=%v skipped=%v %s", f.failed, f.skipped, f.msg)
	}
	if got != (RT5Service{URL: "http://127.0.0.1:55480", Token: "t", RootToken: "r", Queue: "q"}) {
		t.Fatalf("%+v", got)
	}
	t.Setenv(EnvRT5URL, "not a url")
	if f := runFake(t, func(tb testing.TB) { RT5(tb) }); !f.failed {
		t.Fatal("a URL without host was accepted")
	}
}
