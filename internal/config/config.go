// Package config holds helpmesh's typed configuration: defaults, overridden by
// HELPMESH_* environment variables, overridden by command-line flags.
// Validate reports every problem at once with the name the operator typed.
package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/outbound"
)

// Config is the whole configuration of one helpmesh process.
type Config struct {
	DataDir    string // HELPMESH_DATA, --data
	DB         string // HELPMESH_DB, --db: empty = SQLite in DataDir, or postgres://...
	HTTPAddr   string // HELPMESH_HTTP, --http
	SMTPAddr   string // HELPMESH_SMTP, --smtp: inbound listener, off when empty
	BaseURL    string // HELPMESH_BASE_URL, --base-url
	SMTPRelay  string // HELPMESH_SMTP_RELAY: smtp://host:port, outbox kept when empty
	MailDomain string // HELPMESH_MAIL_DOMAIN
	MailFrom   string // HELPMESH_MAIL_FROM: sender of notifications
	// MailBatch is the window in which changes to a ticket are gathered
	// into one mail per recipient (HELPMESH_MAIL_BATCH, default 2m; 0 sends
	// each change at once).
	MailBatch time.Duration
	// BulkMailInterval paces the mail about services: one send per
	// interval (HELPMESH_BULK_MAIL_INTERVAL, default 100ms).
	BulkMailInterval time.Duration
	SubjectTag       string // HELPMESH_SUBJECT_TAG
	// IMAPURL names a mailbox to poll for inbound mail (HELPMESH_IMAP_URL),
	// imap://user:password@host:port/MAILBOX; see IMAPMailbox.
	IMAPURL      string
	IMAPInterval time.Duration // HELPMESH_IMAP_INTERVAL, default 1m
	// MailAuthServID is the authserv-id of the MTA whose
	// Authentication-Results headers the mail gateway trusts
	// (HELPMESH_MAIL_AUTHSERV_ID); empty trusts none.
	MailAuthServID string
	// MailRejectUnknown refuses mail from addresses without an account
	// (HELPMESH_MAIL_REJECT_UNKNOWN).
	MailRejectUnknown bool
	// MailReopenWindow: a reply within this time after solving reopens a
	// ticket, later it opens a follow-up (HELPMESH_MAIL_REOPEN_WINDOW,
	// default 14d).
	MailReopenWindow time.Duration
	BootstrapToken   string // HELPMESH_BOOTSTRAP_TOKEN
	// MetricsToken, when set, is the bearer token /metrics asks for
	// (HELPMESH_METRICS_TOKEN).
	MetricsToken   string
	MaxBodyBytes   int64  // HELPMESH_MAX_BODY: request body limit
	MaxUploadBytes int64  // HELPMESH_MAX_UPLOAD: one attachment
	LogLevel       string // HELPMESH_LOG_LEVEL: debug, info, warn, error
	LogFormat      string // HELPMESH_LOG_FORMAT: text or json
	ShutdownGrace  time.Duration
	// ReadTimeout is how long a client may take to send a request body
	// (HELPMESH_READ_TIMEOUT, default 20s); UploadTimeout replaces it for
	// the uploads of signed-in people (HELPMESH_UPLOAD_TIMEOUT, default 5m).
	ReadTimeout   time.Duration
	UploadTimeout time.Duration

	// Attachments is the directory of the attachments
	// (HELPMESH_ATTACHMENTS); empty: blobs in DataDir. Several nodes on one
	// PostgreSQL share one, on shared storage; see AttachmentsDir.
	Attachments string
	// PGDump and PGRestore are the PostgreSQL client programs backup and
	// restore run (HELPMESH_PG_DUMP, HELPMESH_PG_RESTORE); empty: pg_dump
	// and pg_restore found on PATH.
	PGDump, PGRestore string

	// Secret signs reply tokens and sessions; generated and kept in the data
	// directory when not given (HELPMESH_SECRET).
	Secret string

	TLSCert     string // HELPMESH_TLS_CERT
	TLSKey      string // HELPMESH_TLS_KEY
	TLSClientCA string // HELPMESH_TLS_CLIENT_CA

	// SMIMECert and SMIMEKey are the PEM certificate (with any intermediate
	// after it) and private key alarm mail is S/MIME signed with
	// (HELPMESH_SMIME_CERT, HELPMESH_SMIME_KEY); see SMIMESigner.
	SMIMECert string
	SMIMEKey  string
	// TLSCRLs are PEM or DER certificate revocation lists of the client CA
	// (HELPMESH_TLS_CRL, comma-separated files); re-read when they change.
	TLSCRLs []string

	// TrustedProxies are the addresses or CIDR ranges of reverse proxies
	// whose DNHeader, X-Forwarded-For and X-Forwarded-Proto are believed
	// (HELPMESH_TRUSTED_PROXIES, comma-separated; internal/forwarded).
	TrustedProxies []string
	// DNHeader carries the verified client certificate subject DN set by a
	// trusted proxy (HELPMESH_DN_HEADER, default X-SSL-Client-S-DN).
	DNHeader string

	// SSOOnly refuses password and mail-link sign-in except for the
	// BreakGlass accounts (HELPMESH_SSO_ONLY).
	SSOOnly bool
	// BreakGlass are local accounts that may always sign in with a password
	// (HELPMESH_BREAK_GLASS, comma-separated emails; default admin@localhost).
	BreakGlass []string

	// OutboundAllow are the CIDR ranges (or addresses) beyond the public
	// Internet that webhooks, chat and connectors may send to
	// (HELPMESH_OUTBOUND_ALLOW, comma-separated); private, loopback and
	// link-local addresses are refused otherwise.
	OutboundAllow []string
	// OutboundRetry is the wait before the first retry of a webhook or
	// chat delivery (HELPMESH_OUTBOUND_RETRY, default 30s); it doubles at
	// each attempt up to 2h.
	OutboundRetry time.Duration
	// ReconcileInterval is the time between two reconciliation passes of
	// each connector (HELPMESH_RECONCILE_INTERVAL, default 24h).
	ReconcileInterval time.Duration

	// OIDC providers: one from HELPMESH_OIDC_*, more from
	// HELPMESH_OIDC_PROVIDERS (a JSON list of OIDCProvider).
	OIDC []OIDCProvider

	// Lifecycle is the working-time calendar and the ticket lifecycle
	// timers (HELPMESH_CALENDAR, HELPMESH_CLOSE_AFTER, ...).
	Lifecycle Lifecycle
}

// OIDCProvider is one OpenID Connect provider users can sign in with.
type OIDCProvider struct {
	Name         string      `json:"name"`
	Label        string      `json:"label,omitempty"` // shown on the sign-in button
	Issuer       string      `json:"issuer"`
	ClientID     string      `json:"client_id"`
	ClientSecret string      `json:"client_secret"`
	Scopes       []string    `json:"scopes,omitempty"`
	Rules        []ClaimRule `json:"rules,omitempty"`
}

// ClaimRule maps a claim value of a provider to a global role or a unit
// membership. Value matches exactly; Pattern is an anchored regular
// expression. Either Unit (with UnitRole member or admin) or Role (admin)
// is granted while the claim matches, at every sign-in.
type ClaimRule struct {
	Claim    string `json:"claim"`
	Value    string `json:"value,omitempty"`
	Pattern  string `json:"pattern,omitempty"`
	Unit     string `json:"unit,omitempty"`
	UnitRole string `json:"unit_role,omitempty"`
	Role     string `json:"role,omitempty"`
	// Team sets the user's team (a VO, for team tickets); with a pattern,
	// $1 and the like take its groups (e.g. the VO of an entitlement).
	Team string `json:"team,omitempty"`
}

// Default returns the zero-configuration settings: SQLite in ./helpmesh-data,
// web and API on 127.0.0.1:8080.
func Default() Config {
	return Config{
		DataDir:           "helpmesh-data",
		HTTPAddr:          "127.0.0.1:8080",
		SubjectTag:        "helpmesh",
		IMAPInterval:      time.Minute,
		MailBatch:         2 * time.Minute,
		ReconcileInterval: 24 * time.Hour,
		BulkMailInterval:  100 * time.Millisecond,
		MailReopenWindow:  14 * 24 * time.Hour,
		MaxBodyBytes:      10 << 20,
		MaxUploadBytes:    10 << 20,
		LogLevel:          "info",
		LogFormat:         "text",
		ShutdownGrace:     15 * time.Second,
		ReadTimeout:       20 * time.Second,
		UploadTimeout:     5 * time.Minute,
		DNHeader:          "X-SSL-Client-S-DN",
		BreakGlass:        []string{"admin@localhost"},
		Lifecycle:         defaultLifecycle(),
	}
}

// Load builds a Config from defaults, then the environment (read through
// getenv), then the flags in args. It returns the remaining arguments.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	c := Default()
	var errs []error
	str := func(dst *string, env string) {
		if v := getenv(env); v != "" {
			*dst = v
		}
	}
	str(&c.DataDir, "HELPMESH_DATA")
	str(&c.DB, "HELPMESH_DB")
	str(&c.Attachments, "HELPMESH_ATTACHMENTS")
	str(&c.PGDump, "HELPMESH_PG_DUMP")
	str(&c.PGRestore, "HELPMESH_PG_RESTORE")
	str(&c.HTTPAddr, "HELPMESH_HTTP")
	str(&c.SMTPAddr, "HELPMESH_SMTP")
	str(&c.BaseURL, "HELPMESH_BASE_URL")
	str(&c.SMTPRelay, "HELPMESH_SMTP_RELAY")
	str(&c.MailDomain, "HELPMESH_MAIL_DOMAIN")
	str(&c.MailFrom, "HELPMESH_MAIL_FROM")
	str(&c.SubjectTag, "HELPMESH_SUBJECT_TAG")
	str(&c.MailAuthServID, "HELPMESH_MAIL_AUTHSERV_ID")
	str(&c.BootstrapToken, "HELPMESH_BOOTSTRAP_TOKEN")
	str(&c.MetricsToken, "HELPMESH_METRICS_TOKEN")
	str(&c.LogLevel, "HELPMESH_LOG_LEVEL")
	str(&c.LogFormat, "HELPMESH_LOG_FORMAT")
	str(&c.Secret, "HELPMESH_SECRET")
	str(&c.TLSCert, "HELPMESH_TLS_CERT")
	str(&c.TLSKey, "HELPMESH_TLS_KEY")
	str(&c.TLSClientCA, "HELPMESH_TLS_CLIENT_CA")
	str(&c.SMIMECert, "HELPMESH_SMIME_CERT")
	str(&c.SMIMEKey, "HELPMESH_SMIME_KEY")
	for _, s := range []struct {
		env string
		dst *int64
	}{{"HELPMESH_MAX_BODY", &c.MaxBodyBytes}, {"HELPMESH_MAX_UPLOAD", &c.MaxUploadBytes}} {
		if v := getenv(s.env); v != "" {
			n, err := ParseSize(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.env, err))
				continue
			}
			*s.dst = n
		}
	}
	str(&c.IMAPURL, "HELPMESH_IMAP_URL")
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{{"HELPMESH_IMAP_INTERVAL", &c.IMAPInterval}, {"HELPMESH_MAIL_REOPEN_WINDOW", &c.MailReopenWindow},
		{"HELPMESH_READ_TIMEOUT", &c.ReadTimeout}, {"HELPMESH_UPLOAD_TIMEOUT", &c.UploadTimeout},
		{"HELPMESH_OUTBOUND_RETRY", &c.OutboundRetry}, {"HELPMESH_MAIL_BATCH", &c.MailBatch}, {"HELPMESH_BULK_MAIL_INTERVAL", &c.BulkMailInterval},
		{"HELPMESH_SHUTDOWN_GRACE", &c.ShutdownGrace}, {"HELPMESH_RECONCILE_INTERVAL", &c.ReconcileInterval}} {
		if v := getenv(d.env); v != "" {
			n, err := ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d.env, err))
				continue
			}
			*d.dst = n
		}
	}
	if v := getenv("HELPMESH_MAIL_REJECT_UNKNOWN"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("HELPMESH_MAIL_REJECT_UNKNOWN: %q is not true or false", v))
		}
		c.MailRejectUnknown = b
	}
	if getenv("HELPMESH_MAX_UPLOAD") == "" && c.MaxUploadBytes > c.MaxBodyBytes {
		// A smaller request limit lowers the default upload limit with it.
		c.MaxUploadBytes = c.MaxBodyBytes
	}
	errs = append(errs, c.Lifecycle.load(getenv)...)
	if name := getenv("HELPMESH_OIDC_NAME"); name != "" || getenv("HELPMESH_OIDC_ISSUER") != "" {
		p := OIDCProvider{
			Name:         name,
			Issuer:       getenv("HELPMESH_OIDC_ISSUER"),
			ClientID:     getenv("HELPMESH_OIDC_CLIENT_ID"),
			ClientSecret: getenv("HELPMESH_OIDC_CLIENT_SECRET"),
			Scopes:       []string{"openid", "profile", "email"},
		}
		if s := getenv("HELPMESH_OIDC_SCOPES"); s != "" {
			p.Scopes = strings.Fields(strings.ReplaceAll(s, ",", " "))
		}
		if s := getenv("HELPMESH_OIDC_RULES"); s != "" {
			if err := json.Unmarshal([]byte(s), &p.Rules); err != nil {
				errs = append(errs, fmt.Errorf("HELPMESH_OIDC_RULES: not a JSON list of rules: %w", err))
			}
		}
		c.OIDC = append(c.OIDC, p)
	}
	if s := getenv("HELPMESH_OIDC_PROVIDERS"); s != "" {
		var ps []OIDCProvider
		if err := json.Unmarshal([]byte(s), &ps); err != nil {
			errs = append(errs, fmt.Errorf("HELPMESH_OIDC_PROVIDERS: not a JSON list of providers: %w", err))
		}
		for _, p := range ps {
			if len(p.Scopes) == 0 {
				p.Scopes = []string{"openid", "profile", "email"}
			}
			c.OIDC = append(c.OIDC, p)
		}
	}
	list := func(env string) []string {
		var out []string
		for _, f := range strings.Split(getenv(env), ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		return out
	}
	c.TLSCRLs = list("HELPMESH_TLS_CRL")
	c.TrustedProxies = list("HELPMESH_TRUSTED_PROXIES")
	c.OutboundAllow = list("HELPMESH_OUTBOUND_ALLOW")
	str(&c.DNHeader, "HELPMESH_DN_HEADER")
	if v := getenv("HELPMESH_SSO_ONLY"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("HELPMESH_SSO_ONLY: %q is not true or false", v))
		}
		c.SSOOnly = b
	}
	if bg := list("HELPMESH_BREAK_GLASS"); len(bg) > 0 {
		c.BreakGlass = bg
	}

	if fs != nil {
		fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory (SQLite database, attachments) [HELPMESH_DATA]")
		fs.StringVar(&c.DB, "db", c.DB, "database: empty for SQLite in the data directory, or postgres://... [HELPMESH_DB]")
		fs.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, "address of the web and API listener [HELPMESH_HTTP]")
		fs.StringVar(&c.SMTPAddr, "smtp", c.SMTPAddr, "address of the inbound SMTP listener, off when empty [HELPMESH_SMTP]")
		fs.StringVar(&c.BaseURL, "base-url", c.BaseURL, "public URL of this instance, used in links [HELPMESH_BASE_URL]")
		if err := fs.Parse(args); err != nil {
			return c, err
		}
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	return c, nil
}

// Validate checks the configuration and reports every problem found.
func (c *Config) Validate() error {
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, a...)...))
	}
	if c.DataDir == "" {
		bad("HELPMESH_DATA (--data)", "must not be empty")
	}
	if c.DB != "" && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") && !strings.HasPrefix(c.DB, "sqlite:") {
		bad("HELPMESH_DB (--db)", "%q is neither postgres://... nor sqlite:PATH (leave it empty for SQLite in the data directory)", c.DB)
	}
	checkAddr := func(name, v string) {
		if _, _, err := net.SplitHostPort(v); err != nil {
			bad(name, "%q is not host:port", v)
		}
	}
	if c.HTTPAddr == "" {
		bad("HELPMESH_HTTP (--http)", "must not be empty")
	} else {
		checkAddr("HELPMESH_HTTP (--http)", c.HTTPAddr)
	}
	if c.SMTPAddr != "" {
		checkAddr("HELPMESH_SMTP (--smtp)", c.SMTPAddr)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("HELPMESH_BASE_URL (--base-url)", "%q is not an http(s) URL", c.BaseURL)
		}
	}
	if c.SMTPRelay != "" {
		u, err := url.Parse(c.SMTPRelay)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			bad("HELPMESH_SMTP_RELAY", "%q is not smtp://host:port", c.SMTPRelay)
		}
	}
	if c.SubjectTag == "" || strings.ContainsAny(c.SubjectTag, "[]#\r\n") {
		bad("HELPMESH_SUBJECT_TAG", "%q must be non-empty without [ ] # or newlines", c.SubjectTag)
	}
	if strings.ContainsAny(c.MailAuthServID, " \t\r\n;()\"") {
		bad("HELPMESH_MAIL_AUTHSERV_ID", "%q must be one authserv-id such as mx.example.org", c.MailAuthServID)
	}
	if c.IMAPURL != "" {
		if _, err := c.IMAPMailbox(); err != nil {
			bad("HELPMESH_IMAP_URL", "%v", err)
		}
	}
	if c.IMAPInterval < time.Second {
		bad("HELPMESH_IMAP_INTERVAL", "%s is shorter than 1s", c.IMAPInterval)
	}
	if c.ReconcileInterval < time.Minute {
		bad("HELPMESH_RECONCILE_INTERVAL", "%s is shorter than 1m", c.ReconcileInterval)
	}
	if c.MailReopenWindow <= 0 {
		bad("HELPMESH_MAIL_REOPEN_WINDOW", "must be positive, e.g. 14d or 72h")
	}
	if c.BootstrapToken != "" && len(c.BootstrapToken) < 16 {
		bad("HELPMESH_BOOTSTRAP_TOKEN", "must be at least 16 characters")
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		bad("HELPMESH_METRICS_TOKEN", "must be at least 16 characters")
	}
	if c.ShutdownGrace < 0 {
		bad("HELPMESH_SHUTDOWN_GRACE", "must not be negative")
	}
	if c.MailBatch < 0 || c.MailBatch > time.Hour {
		bad("HELPMESH_MAIL_BATCH", "%s is not between 0 and 1h", c.MailBatch)
	}
	if c.BulkMailInterval <= 0 || c.BulkMailInterval > time.Minute {
		bad("HELPMESH_BULK_MAIL_INTERVAL", "%s is not between 1ms and 1m", c.BulkMailInterval)
	}
	if c.ReadTimeout <= 0 {
		bad("HELPMESH_READ_TIMEOUT", "must be positive, e.g. 20s")
	}
	if c.UploadTimeout < c.ReadTimeout {
		bad("HELPMESH_UPLOAD_TIMEOUT", "must be at least HELPMESH_READ_TIMEOUT")
	}
	if c.MaxBodyBytes < 1024 {
		bad("HELPMESH_MAX_BODY", "must be at least 1KiB")
	}
	if c.MaxUploadBytes < 1 || c.MaxUploadBytes > c.MaxBodyBytes {
		bad("HELPMESH_MAX_UPLOAD", "must be between 1 byte and HELPMESH_MAX_BODY")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("HELPMESH_LOG_LEVEL", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("HELPMESH_LOG_FORMAT", "%q is not text or json", c.LogFormat)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("HELPMESH_TLS_CERT/HELPMESH_TLS_KEY", "set both or neither")
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		bad("HELPMESH_TLS_CLIENT_CA", "needs HELPMESH_TLS_CERT and HELPMESH_TLS_KEY")
	}
	for _, f := range []struct{ name, path string }{{"HELPMESH_TLS_CERT", c.TLSCert}, {"HELPMESH_TLS_KEY", c.TLSKey}, {"HELPMESH_TLS_CLIENT_CA", c.TLSClientCA}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				bad(f.name, "%v", err)
			}
		}
	}
	c.validateSMIME(bad)
	for _, f := range c.TLSCRLs {
		if c.TLSClientCA == "" {
			bad("HELPMESH_TLS_CRL", "needs HELPMESH_TLS_CLIENT_CA")
		}
		if _, err := os.Stat(f); err != nil {
			bad("HELPMESH_TLS_CRL", "%v", err)
		}
	}
	for _, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			bad("HELPMESH_TRUSTED_PROXIES", "%q is neither an IP address nor a CIDR range", p)
		}
	}
	for _, p := range c.OutboundAllow {
		if _, err := outbound.ParsePrefix(p); err != nil {
			bad("HELPMESH_OUTBOUND_ALLOW", "%q is neither a CIDR range nor an IP address", p)
		}
	}
	if len(c.TrustedProxies) > 0 && (c.DNHeader == "" || strings.ContainsAny(c.DNHeader, " :\r\n")) {
		bad("HELPMESH_DN_HEADER", "%q is not a header name", c.DNHeader)
	}
	c.Lifecycle.validate(bad)
	seen := map[string]bool{}
	for i, p := range c.OIDC {
		name := fmt.Sprintf("OIDC provider %d", i+1)
		if seen[p.Name] {
			bad(name, "name %q is used twice", p.Name)
		}
		seen[p.Name] = true
		for j, r := range p.Rules {
			rn := fmt.Sprintf("%s rule %d", name, j+1)
			if r.Claim == "" || (r.Value == "") == (r.Pattern == "") {
				bad(rn, "needs a claim and exactly one of value or pattern")
			}
			if r.Pattern != "" {
				if _, err := regexp.Compile(r.Pattern); err != nil {
					bad(rn, "pattern: %v", err)
				}
			}
			switch {
			case r.Team != "" && (r.Unit != "" || r.Role != ""):
				bad(rn, "grants a team, a unit (with unit_role) or role \"admin\", one of them")
			case r.Team != "":
				if strings.Contains(r.Team, "$") && r.Pattern == "" {
					bad(rn, "team %q takes groups ($1) of a pattern, and the rule has none", r.Team)
				}
			case r.Unit != "" && r.Role == "":
				if r.UnitRole != "" && r.UnitRole != "member" && r.UnitRole != "admin" {
					bad(rn, "unit_role %q is not member or admin", r.UnitRole)
				}
			case r.Unit == "" && r.Role == "admin":
			default:
				bad(rn, "grants either a unit (with unit_role), role \"admin\" or a team")
			}
		}
		if p.Name == "" || strings.Trim(p.Name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			bad(name, "name %q must be [a-z0-9-]+ (HELPMESH_OIDC_NAME)", p.Name)
		}
		if u, err := url.Parse(p.Issuer); err != nil || u.Host == "" {
			bad(name, "issuer %q is not a URL (HELPMESH_OIDC_ISSUER)", p.Issuer)
		}
		if p.ClientID == "" {
			bad(name, "client id is empty (HELPMESH_OIDC_CLIENT_ID)")
		}
	}
	return errors.Join(errs...)
}

// SQLitePath is the database file used when DB is empty or sqlite:PATH.
func (c *Config) SQLitePath() string {
	if p, ok := strings.CutPrefix(c.DB, "sqlite:"); ok {
		return p
	}
	return filepath.Join(c.DataDir, "helpmesh.db")
}

// AttachmentsDir is the directory of the attachments: Attachments, else
// blobs in the data directory.
func (c *Config) AttachmentsDir() string {
	if c.Attachments != "" {
		return c.Attachments
	}
	return filepath.Join(c.DataDir, "blobs")
}

// IsPostgres tells whether the configured database is PostgreSQL.
func (c *Config) IsPostgres() bool {
	return strings.HasPrefix(c.DB, "postgres://") || strings.HasPrefix(c.DB, "postgresql://")
}

// PublicURL is BaseURL, or http://HTTPAddr when none is set.
func (c *Config) PublicURL() string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	return "http://" + c.HTTPAddr
}

// Domain is the mail domain used in Message-IDs and addresses: MailDomain,
// else the host of the base URL, else the machine's host name.
func (c *Config) Domain() string {
	if c.MailDomain != "" {
		return c.MailDomain
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err == nil && u.Hostname() != "" {
			return u.Hostname()
		}
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

// ParseSize reads a byte size such as 10485760, 512KiB, 10MiB or 1GiB.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (like 10MiB)", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// IMAPMailbox is a mailbox to poll, from HELPMESH_IMAP_URL.
type IMAPMailbox struct {
	Addr     string // host:port
	Username string
	Password string
	Mailbox  string
	// Security: "starttls" (imap://), "tls" (imaps://) or "insecure"
	// (imap://...?security=insecure, loopback hosts only).
	Security string
	// Address is the address the mailbox receives for (?address=), used
	// when a mail's headers name none of ours.
	Address string
}

// IMAPMailbox parses HELPMESH_IMAP_URL:
// imap://user:password@host[:143]/MAILBOX (STARTTLS) or
// imaps://user:password@host[:993]/MAILBOX (TLS); the mailbox defaults to
// INBOX. Options: ?security=insecure (plain text, loopback only) and
// ?address=support@example.org.
func (c *Config) IMAPMailbox() (IMAPMailbox, error) {
	var m IMAPMailbox
	u, err := url.Parse(c.IMAPURL)
	if err != nil {
		return m, errors.New("not a URL like imap://user:password@host:143/INBOX")
	}
	port := ""
	switch u.Scheme {
	case "imap":
		m.Security, port = "starttls", "143"
	case "imaps":
		m.Security, port = "tls", "993"
	default:
		return m, fmt.Errorf("scheme %q is not imap or imaps (imap://user:password@host:143/INBOX)", u.Scheme)
	}
	if u.Hostname() == "" {
		return m, errors.New("no host (imap://user:password@host:143/INBOX)")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	m.Addr = net.JoinHostPort(u.Hostname(), port)
	if u.User == nil || u.User.Username() == "" {
		return m, errors.New("no user name (imap://user:password@host:143/INBOX)")
	}
	m.Username = u.User.Username()
	m.Password, _ = u.User.Password()
	m.Mailbox = strings.Trim(u.Path, "/")
	if m.Mailbox == "" {
		m.Mailbox = "INBOX"
	}
	q := u.Query()
	for k := range q {
		if k != "security" && k != "address" {
			return m, fmt.Errorf("unknown option %q (known: security, address)", k)
		}
	}
	switch sec := q.Get("security"); sec {
	case "":
	case "insecure":
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return m, fmt.Errorf("security=insecure sends the password in clear text and is allowed only to a loopback host, not %q", u.Hostname())
		}
		m.Security = sec
	default:
		return m, fmt.Errorf("security=%q is not insecure (the scheme chooses STARTTLS or TLS)", sec)
	}
	m.Address = strings.ToLower(q.Get("address"))
	if m.Address != "" && !strings.Contains(m.Address, "@") {
		return m, fmt.Errorf("address=%q is not a mail address", m.Address)
	}
	return m, nil
}

// ParseDuration is time.ParseDuration that also takes whole days ("14d").
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(strings.TrimSpace(s), "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("%q is not a number of days like 14d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 90s, 5m, 72h or 14d", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}
