package config

import (
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
)

// Variable is one HELPMESH_* environment variable helpmesh reads.
type Variable struct {
	Name    string
	Default string
	Help    string
}

// Variables lists every HELPMESH_* variable of the server: "serve -h" prints
// them and Warnings reports any other HELPMESH_* name as a misspelling.
func Variables() []Variable {
	return []Variable{
		{"HELPMESH_DATA", "helpmesh-data", "data directory: SQLite database, attachments (--data)"},
		{"HELPMESH_DB", "", "postgres://user:pw@host:5432/db for PostgreSQL, or sqlite:PATH; empty: SQLite in the data directory (--db)"},
		{"HELPMESH_ATTACHMENTS", "", "directory of the attachments; empty: blobs in the data directory. Several nodes on one PostgreSQL need one shared directory (NFS or a shared volume)"},
		{"HELPMESH_PG_DUMP", "", "pg_dump that helpmesh backup runs on PostgreSQL; empty: pg_dump on PATH"},
		{"HELPMESH_PG_RESTORE", "", "pg_restore that helpmesh restore runs on PostgreSQL; empty: pg_restore on PATH"},
		{"HELPMESH_HTTP", "127.0.0.1:8080", "web and API listener (--http)"},
		{"HELPMESH_SMTP", "", "inbound SMTP listener, off when empty (--smtp)"},
		{"HELPMESH_BASE_URL", "", "public URL used in links and mail (--base-url)"},
		{"HELPMESH_SMTP_RELAY", "", "outbound relay smtp://host:port; mail stays in the outbox when empty"},
		{"HELPMESH_MAIL_DOMAIN", "", "domain of Message-IDs and addresses; default the host of the base URL, else the machine's name"},
		{"HELPMESH_MAIL_FROM", "", "sender of notifications"},
		{"HELPMESH_MAIL_BATCH", "2m", "changes to a ticket within this window go to each recipient as one mail; 0 sends each at once"},
		{"HELPMESH_BULK_MAIL_INTERVAL", "100ms", "pace of mail about services (incidents, changes, announcements to subscribers and requesters): one send per interval, behind ticket mail"},
		{"HELPMESH_SUBJECT_TAG", "helpmesh", "subject tag: [helpmesh #42]"},
		{"HELPMESH_IMAP_URL", "", "mailbox to poll for inbound mail, imap://user:pass@host:143/INBOX"},
		{"HELPMESH_IMAP_INTERVAL", "1m", "time between IMAP polls"},
		{"HELPMESH_MAIL_AUTHSERV_ID", "", "authserv-id of the MTA whose Authentication-Results are trusted"},
		{"HELPMESH_MAIL_REJECT_UNKNOWN", "false", "refuse mail from addresses without an account"},
		{"HELPMESH_MAIL_REOPEN_WINDOW", "14d", "a mail reply reopens a solved ticket within this time, later opens a follow-up"},
		{"HELPMESH_BOOTSTRAP_TOKEN", "", "API token of admin@localhost, created when no user exists"},
		{"HELPMESH_METRICS_TOKEN", "", "bearer token /metrics asks for (at least 16 characters); open when empty"},
		{"HELPMESH_MAX_BODY", "10MiB", "largest request body"},
		{"HELPMESH_MAX_UPLOAD", "10MiB", "largest attachment"},
		{"HELPMESH_LOG_LEVEL", "info", "debug, info, warn or error"},
		{"HELPMESH_LOG_FORMAT", "text", "text or json"},
		{"HELPMESH_SHUTDOWN_GRACE", "15s", "how long in-flight requests may finish on SIGTERM"},
		{"HELPMESH_READ_TIMEOUT", "20s", "how long a client may take to send a request body"},
		{"HELPMESH_UPLOAD_TIMEOUT", "5m", "the same for uploads of signed-in people"},
		{"HELPMESH_SECRET", "", "signs reply tokens and sessions; generated in the data directory when empty"},
		{"HELPMESH_TLS_CERT", "", "certificate file: serve HTTPS"},
		{"HELPMESH_TLS_KEY", "", "key file of HELPMESH_TLS_CERT"},
		{"HELPMESH_TLS_CLIENT_CA", "", "ask for a client certificate signed by this CA"},
		{"HELPMESH_TLS_CRL", "", "comma-separated CRL files of the client CA"},
		{"HELPMESH_TRUSTED_PROXIES", "", "comma-separated IPs/CIDRs of reverse proxies whose DN and X-Forwarded-For/-Proto headers are believed"},
		{"HELPMESH_DN_HEADER", "X-SSL-Client-S-DN", "header with the client certificate DN from a trusted proxy"},
		{"HELPMESH_SSO_ONLY", "false", "refuse password and mail-link sign-in except for break-glass accounts"},
		{"HELPMESH_BREAK_GLASS", "admin@localhost", "comma-separated accounts that may always sign in with a password"},
		{"HELPMESH_OUTBOUND_ALLOW", "", "comma-separated CIDRs beyond the public Internet that webhooks may reach"},
		{"HELPMESH_OUTBOUND_RETRY", "30s", "wait before the first retry of a webhook or chat delivery"},
		{"HELPMESH_RECONCILE_INTERVAL", "24h", "time between two reconciliation passes of each connector (linked tickets compared with the peer and repaired)"},
		{"HELPMESH_OIDC_NAME", "", "name of one OpenID Connect provider"},
		{"HELPMESH_OIDC_ISSUER", "", "issuer URL of that provider"},
		{"HELPMESH_OIDC_CLIENT_ID", "", "client id at that provider"},
		{"HELPMESH_OIDC_CLIENT_SECRET", "", "client secret at that provider"},
		{"HELPMESH_OIDC_SCOPES", "openid profile email", "scopes asked of that provider"},
		{"HELPMESH_OIDC_RULES", "", "JSON list of claim mapping rules of that provider"},
		{"HELPMESH_OIDC_PROVIDERS", "", "more providers: a JSON list"},
		{"HELPMESH_CALENDAR", "Mon-Fri 09:00-17:00 UTC", "working-time calendar"},
		{"HELPMESH_CLOSE_AFTER", "10wd", "solved tickets are closed this long after solving"},
		{"HELPMESH_WAITING_REMINDERS", "5wd,10wd", "reminders to a requester whose answer is awaited"},
		{"HELPMESH_WAITING_UNSOLVED", "15wd", "a ticket still waiting this long becomes unsolved"},
		{"HELPMESH_TIMER_INTERVAL", "1m", "how often the lifecycle timers run"},
		{"HELPMESH_ALARM_REPAGE", "30m", "an unanswered alarm ticket is paged again this often"},
		{"HELPMESH_QOS_WARNING", "75%", "a unit is warned when this share of a ticket's response time has passed"},
		{"HELPMESH_SMIME_CERT", "", "PEM certificate that signs alarm mail (S/MIME), with HELPMESH_SMIME_KEY"},
		{"HELPMESH_SMIME_KEY", "", "PEM private key of HELPMESH_SMIME_CERT"},
	}
}

// otherPrefixes are HELPMESH_* names read by tools other than the server:
// the load generator, `helpmesh import` and the test suite.
var otherPrefixes = []string{"HELPMESH_BENCH_", "HELPMESH_IMPORT_", "HELPMESH_TEST_"}

// PrintVariables writes every variable with its default and meaning.
func PrintVariables(w io.Writer) {
	fmt.Fprintln(w, "\nSettings (environment variables; flags above win over them):")
	for _, v := range Variables() {
		def := ""
		if v.Default != "" {
			def = " (default " + v.Default + ")"
		}
		fmt.Fprintf(w, "  %s%s\n      %s\n", v.Name, def, v.Help)
	}
}

// UnknownVariables returns a sentence for each HELPMESH_* name in environ
// ("NAME=value" entries) that helpmesh does not read, naming the closest
// known variable.
func UnknownVariables(environ []string) []string {
	known := map[string]bool{}
	names := []string{}
	for _, v := range Variables() {
		known[v.Name] = true
		names = append(names, v.Name)
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "HELPMESH_") || known[name] {
			continue
		}
		other := false
		for _, p := range otherPrefixes {
			other = other || strings.HasPrefix(name, p)
		}
		if other {
			continue
		}
		best, bestD := "", 4 // suggest only near misses
		for _, n := range names {
			if d := editDistance(name, n); d < bestD {
				best, bestD = n, d
			}
		}
		msg := name + " is not a helpmesh setting and is ignored"
		if best != "" {
			msg += "; did you mean " + best + "?"
		}
		out = append(out, msg)
	}
	sort.Strings(out)
	return out
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Warnings are the things about a valid configuration an operator should
// hear at start: HELPMESH_* names in environ that are not settings, and a
// mail domain that cannot receive mail.
func (c *Config) Warnings(environ []string) []string {
	out := UnknownVariables(environ)
	if w := c.mailDomainWarning(); w != "" {
		out = append(out, w)
	}
	return out
}

// mailDomainWarning says why the mail domain is not a domain mail can be
// delivered to, or returns "".
func (c *Config) mailDomainWarning() string {
	d := strings.ToLower(strings.TrimSuffix(c.Domain(), "."))
	origin := "HELPMESH_MAIL_DOMAIN"
	if c.MailDomain == "" {
		origin = "the mail domain (taken from the base URL or, without one, the machine's name; set HELPMESH_MAIL_DOMAIN)"
	}
	reason := ""
	switch {
	case net.ParseIP(d) != nil:
		reason = "is an IP address"
	case !strings.Contains(d, "."):
		reason = "has no dot: it is a machine's name, not a domain"
	case d == "localhost" || strings.HasSuffix(d, ".localhost") || strings.HasSuffix(d, ".local") ||
		strings.HasSuffix(d, ".localdomain") || strings.HasSuffix(d, ".internal") || strings.HasSuffix(d, ".lan") ||
		strings.HasSuffix(d, ".invalid"):
		reason = "is a local name no one outside can send to"
	}
	if reason == "" {
		return ""
	}
	return fmt.Sprintf("%s %q %s: notifications are sent from addresses there and replies to them will not arrive", origin, d, reason)
}
