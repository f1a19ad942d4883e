package config

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestLoadPrecedence(t *testing.T) {
	env := map[string]string{"HELPMESH_DATA": "/env/data", "HELPMESH_HTTP": "127.0.0.1:9000", "HELPMESH_MAX_BODY": "2MiB",
		"HELPMESH_SHUTDOWN_GRACE": "3s", "HELPMESH_BOOTSTRAP_TOKEN": "0123456789abcdef"}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, err := Load(fs, []string{"--http", "127.0.0.1:9001", "rest"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/env/data" || c.HTTPAddr != "127.0.0.1:9001" || c.MaxBodyBytes != 2<<20 || c.ShutdownGrace != 3*time.Second ||
		c.BootstrapToken != "0123456789abcdef" || fs.Arg(0) != "rest" {
		t.Errorf("loaded: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
	d := Default()
	if err := d.Validate(); err != nil || d.DataDir != "helpmesh-data" || d.HTTPAddr != "127.0.0.1:8080" || d.MaxBodyBytes != 10<<20 || d.IsPostgres() {
		t.Errorf("defaults: %+v %v", d, err)
	}
	if d.SQLitePath() != "helpmesh-data/helpmesh.db" || d.PublicURL() != "http://127.0.0.1:8080" {
		t.Errorf("paths: %s %s", d.SQLitePath(), d.PublicURL())
	}
}

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct{ env, val, want string }{
		{"HELPMESH_MAX_BODY", "lots", `HELPMESH_MAX_BODY: "lots" is not a size`},
		{"HELPMESH_MAX_UPLOAD", "-1", "HELPMESH_MAX_UPLOAD"},
		{"HELPMESH_SHUTDOWN_GRACE", "soon", "HELPMESH_SHUTDOWN_GRACE"},
		{"HELPMESH_SSO_ONLY", "maybe", `HELPMESH_SSO_ONLY: "maybe" is not true or false`},
		{"HELPMESH_OIDC_PROVIDERS", "{", "HELPMESH_OIDC_PROVIDERS: not a JSON list"},
	} {
		_, err := Load(nil, nil, func(k string) string {
			if k == c.env {
				return c.val
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: %v, want %q", c.env, c.val, err, c.want)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := Load(fs, []string{"--nope"}, func(string) string { return "" }); err == nil {
		t.Error("unknown flag accepted")
	}
}

func TestValidateMessages(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(c *Config)
		want string
	}{
		{"empty data", func(c *Config) { c.DataDir = "" }, "HELPMESH_DATA (--data): must not be empty"},
		{"db scheme", func(c *Config) { c.DB = "mysql://x" }, `HELPMESH_DB (--db): "mysql://x" is neither postgres://... nor sqlite:PATH`},
		{"http empty", func(c *Config) { c.HTTPAddr = "" }, "HELPMESH_HTTP (--http): must not be empty"},
		{"http", func(c *Config) { c.HTTPAddr = "8080" }, `HELPMESH_HTTP (--http): "8080" is not host:port`},
		{"smtp", func(c *Config) { c.SMTPAddr = "nope" }, `HELPMESH_SMTP (--smtp): "nope" is not host:port`},
		{"base url", func(c *Config) { c.BaseURL = "example.org" }, "HELPMESH_BASE_URL (--base-url)"},
		{"relay", func(c *Config) { c.SMTPRelay = "http://x" }, `HELPMESH_SMTP_RELAY: "http://x" is not smtp://host:port`},
		{"tag", func(c *Config) { c.SubjectTag = "a[b" }, "HELPMESH_SUBJECT_TAG"},
		{"authserv-id", func(c *Config) { c.MailAuthServID = "mx; dkim=pass" }, "HELPMESH_MAIL_AUTHSERV_ID"},
		{"bootstrap", func(c *Config) { c.BootstrapToken = "short" }, "HELPMESH_BOOTSTRAP_TOKEN: must be at least 16 characters"},
		{"max body", func(c *Config) { c.MaxBodyBytes = 10 }, "HELPMESH_MAX_BODY: must be at least 1KiB"},
		{"max upload", func(c *Config) { c.MaxUploadBytes = c.MaxBodyBytes + 1 }, "HELPMESH_MAX_UPLOAD"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, `HELPMESH_LOG_LEVEL: "loud" is not one of debug, info, warn, error`},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, `HELPMESH_LOG_FORMAT: "xml" is not text or json`},
		{"tls half", func(c *Config) { c.TLSCert = "/nonexistent.pem" }, "HELPMESH_TLS_CERT/HELPMESH_TLS_KEY: set both or neither"},
		{"proxies", func(c *Config) { c.TrustedProxies = []string{"nope"} }, `HELPMESH_TRUSTED_PROXIES: "nope"`},
		{"outbound allow", func(c *Config) { c.OutboundAllow = []string{"127.0.0.0/8", "10.0.0.0/33"} }, `HELPMESH_OUTBOUND_ALLOW: "10.0.0.0/33" is neither`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			c.set(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
	// Every problem is reported at once.
	cfg := Default()
	cfg.LogLevel, cfg.LogFormat, cfg.HTTPAddr = "x", "y", "z"
	if err := cfg.Validate(); err == nil || strings.Count(err.Error(), "\n") < 2 {
		t.Errorf("all problems at once: %v", err)
	}
	ok := Default()
	ok.OutboundAllow = []string{"127.0.0.0/8", "::1", "fd00::/8"}
	if err := ok.Validate(); err != nil {
		t.Errorf("HELPMESH_OUTBOUND_ALLOW of ranges and an address: %v", err)
	}
	for _, ok := range []string{"postgres://u@h/db", "postgresql://h/db", "sqlite:/tmp/x.db", ""} {
		cfg := Default()
		cfg.DB = ok
		if err := cfg.Validate(); err != nil {
			t.Errorf("DB %q: %v", ok, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1024", 1024, true}, {"512KiB", 512 << 10, true}, {"10MiB", 10 << 20, true}, {" 1 GiB ", 1 << 30, true},
		{"3MB", 3e6, true}, {"7B", 7, true}, {"", 0, false}, {"-1", 0, false}, {"1.5MiB", 0, false}, {"10 mib", 0, false},
		{"99999999999GiB", 0, false}, {"MiB", 0, false},
	} {
		got, err := ParseSize(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v", c.in, got, err)
		}
	}
}

// Lowering HELPMESH_MAX_BODY alone lowers the upload limit with it instead
// of refusing to start.
func TestMaxBodyAloneIsValid(t *testing.T) {
	c, err := Load(nil, nil, func(k string) string { return map[string]string{"HELPMESH_MAX_BODY": "64KiB"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil || c.MaxUploadBytes != 64<<10 {
		t.Errorf("%v, upload limit %d", err, c.MaxUploadBytes)
	}
	c, _ = Load(nil, nil, func(k string) string {
		return map[string]string{"HELPMESH_MAX_BODY": "64KiB", "HELPMESH_MAX_UPLOAD": "1MiB"}[k]
	})
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "HELPMESH_MAX_UPLOAD") {
		t.Errorf("explicit upload limit over the body limit: %v", err)
	}
}
