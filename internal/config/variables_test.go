package config

import (
	"strings"
	"testing"
)

func TestMailDomainWarning(t *testing.T) {
	for _, c := range []struct {
		domain, base string
		warn         string // substring; "" for none
	}{
		{"helpdesk.example.org", "", ""},
		{"", "https://support.example.org/", ""},
		{"vm", "", "has no dot"},
		{"", "http://127.0.0.1:8080", "is an IP address"},
		{"helpmesh.local", "", "local name"},
		{"localhost", "", "has no dot"},
		{"", "https://desk.internal", "local name"},
	} {
		cfg := Default()
		cfg.MailDomain, cfg.BaseURL = c.domain, c.base
		got := cfg.mailDomainWarning()
		if c.warn == "" && got != "" || !strings.Contains(got, c.warn) {
			t.Errorf("domain %q base %q: warning %q, want one containing %q", c.domain, c.base, got, c.warn)
		}
	}
}

func TestUnknownVariables(t *testing.T) {
	got := UnknownVariables([]string{"HELPMESH_DATA=x", "HELPMESH_LOGLEVEL=debug", "HELPMESH_FROBNICATE=1", "HELPMESH_BENCH_TOKEN=t", "HOME=/root"})
	want := []string{
		"HELPMESH_FROBNICATE is not a helpmesh setting and is ignored",
		"HELPMESH_LOGLEVEL is not a helpmesh setting and is ignored; did you mean HELPMESH_LOG_LEVEL?",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
}
