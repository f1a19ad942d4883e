package web

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

//go:embed templates static
var files embed.FS

// asset is one embedded static file, served under a name that carries a
// hash of its content so that browsers may cache it forever.
type asset struct {
	url  string
	body []byte
	ct   string
}

// views holds the parsed templates (one set per page) and the static
// assets.
type views struct {
	pages  map[string]*template.Template
	assets map[string]*asset // by logical name: app.css
	byURL  map[string]*asset // by fingerprinted file name: app.3f2a….css
}

func mustViews() *views {
	v, err := loadViews()
	if err != nil {
		panic(fmt.Sprintf("web: templates: %v", err))
	}
	return v
}

func loadViews() (*views, error) {
	v := &views{pages: map[string]*template.Template{}, assets: map[string]*asset{}, byURL: map[string]*asset{}}
	entries, err := fs.ReadDir(files, "static")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		b, err := files.ReadFile("static/" + e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		ext := path.Ext(e.Name())
		name := strings.TrimSuffix(e.Name(), ext) + "." + hex.EncodeToString(sum[:])[:12] + ext
		a := &asset{url: "/static/" + name, body: b, ct: contentTypes[ext]}
		v.assets[e.Name()] = a
		v.byURL[name] = a
	}
	funcs := v.funcs()
	pages, err := fs.Glob(files, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		name := strings.TrimSuffix(path.Base(p), ".html")
		t, err := template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/partials.html", p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		v.pages[name] = t
	}
	return v, nil
}

var contentTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
	".png": "image/png",
	".ico": "image/x-icon",
}

func (v *views) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) (string, error) {
			a := v.assets[name]
			if a == nil {
				return "", fmt.Errorf("no asset %s", name)
			}
			return a.url, nil
		},
		"when":    func(t time.Time) string { return t.Local().Format("2 Jan 2006 15:04") },
		"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":     ago,
		"label":   label,
		"meaning": func(p ticket.Priority) string { return p.Meaning() },
		// qosState is the state of a response clock now: running,
		// warning, violated; "" when met or none (nothing to show).
		"qosState": func(c ticket.QoSClock) string {
			if st := c.State(time.Now()); st != ticket.QoSMet {
				return st
			}
			return ""
		},
		"size":     humanSize,
		"initials": initials,
		"add":      func(a, b int) int { return a + b },
		"pathesc":  func(s string) string { return strings.ReplaceAll(urlPathEscape(s), "%2F", "_") },
		"has": func(list []string, s string) bool {
			for _, x := range list {
				if x == s {
					return true
				}
			}
			return false
		},
		"str": func(v any) string { return fmt.Sprint(v) },
		// hval shows a history value: enum codes as words, the rest as is.
		"hval": func(_ any, v string) string {
			for _, set := range [][]string{statusNames, priorityNames, {"incident", "service_request"}} {
				for _, s := range set {
					if s == v {
						return label(v)
					}
				}
			}
			return v
		},
	}
}

var statusNames, priorityNames = func() ([]string, []string) {
	var ss, ps []string
	for _, s := range ticket.Statuses {
		ss = append(ss, string(s))
	}
	for _, p := range ticket.Priorities {
		ps = append(ps, string(p))
	}
	return ss, ps
}()

// Site is the theme of the instance: its name, logo and colours, set by
// administrators on the settings page.
type Site struct {
	Name    string
	Tagline string
	Logo    string // URL of an image, or "" for the built-in mark
	Accent  string // #rrggbb
	ThemeV  string // hash of the theme, for the stylesheet's URL
}

// Page is what every page's layout needs.
type Page struct {
	Title string
	Site  Site
	P     *auth.Principal
	CSRF  string
	Flash string
	// FlashKey names the flash message (for tests and styling).
	FlashKey string
	Nav      string // the active section: home, tickets, new, queue, admin, access, tokens
	// Account says the account pages (supporter privileges, API tokens)
	// are served, so the account menu links to them.
	Account bool
	Staff   []navUnit
	Saved   []savedView
}

type navUnit struct {
	Slug, Name string
	Open       int
}

func (h *Handler) page(r *http.Request, title, nav string) Page {
	p := principal(r)
	pg := Page{Title: title, Site: h.site(r), P: p, CSRF: csrfToken(r), Nav: nav, Account: h.d.Identity != nil}
	if c, err := r.Cookie(flashCookie); err == nil {
		pg.Flash, pg.FlashKey = flashText(c.Value), c.Value
	}
	if p != nil && p.IsStaff() {
		pg.Staff = h.staffUnits(r)
	}
	return pg
}

// render executes a page into a buffer first, so that a template error
// gives a clean error page instead of half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	t := h.views.pages[name]
	if t == nil {
		h.fail(w, r, fmt.Errorf("web: no page %q", name))
		return
	}
	var buf bytes.Buffer
	tmpl := "layout"
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Target") != "" && t.Lookup("fragment") != nil {
		tmpl = "fragment"
	}
	if err := t.ExecuteTemplate(&buf, tmpl, data); err != nil {
		h.d.Log.Error("web: render", "page", name, "err", err)
		if name != "error" {
			h.errorPage(w, r, http.StatusInternalServerError, "Something went wrong on our side. It has been logged; please try again in a moment.")
		} else {
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Vary", "HX-Request")
	if pg, ok := data.(interface{ flashShown() bool }); ok && pg.flashShown() {
		clearFlash(w, h.sessions.secure)
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (p Page) flashShown() bool { return p.Flash != "" }

type errorView struct {
	Page
	Status  int
	Heading string
	Message string
}

// errorPage shows a friendly page for a status with a message.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	heading := map[int]string{
		http.StatusBadRequest:            "That request was not understood",
		http.StatusUnauthorized:          "Please sign in",
		http.StatusForbidden:             "Not allowed",
		http.StatusNotFound:              "Page not found",
		http.StatusConflict:              "That cannot be done now",
		http.StatusRequestEntityTooLarge: "Too large",
		http.StatusUnprocessableEntity:   "Please check what you entered",
		http.StatusTooManyRequests:       "Too many attempts",
	}[status]
	if heading == "" {
		heading = "Something went wrong"
	}
	pg := Page{Title: heading, Site: h.site(r), P: principal(r), CSRF: csrfToken(r), Account: h.d.Identity != nil}
	h.render(w, r, status, "error", errorView{Page: pg, Status: status, Heading: heading, Message: msg})
}

func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	a := h.views.byURL[r.PathValue("file")]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.ct)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(a.body)
}

func (h *Handler) favicon(w http.ResponseWriter, r *http.Request) {
	a := h.views.assets["logo.svg"]
	w.Header().Set("Content-Type", a.ct)
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(a.body)
}

// Flash messages survive one redirect in a short cookie.
const flashCookie = "hm_flash"

var flashes = map[string]string{
	"notifications-saved": "Your mail notifications were saved.",
	"announced":           "The announcement was sent; its mail goes out at a steady pace.",
	"created":             "Your ticket was created. We will reply by mail and here.",
	"replied":             "Your reply was added.",
	"noted":               "Internal note added. The requester does not see it.",
	"updated":             "The ticket was updated.",
	"moved":               "The ticket was moved to a unit you do not work; it has left your queues.",
	"watcher":             "The watcher was added.",
	"unwatch":             "The watcher was removed.",
	"related":             "The tickets are related; what the relation changed is in both histories.",
	"unrelated":           "The relation was removed.",
	"verified":            "Thank you: the ticket is verified and closed for good.",
	"reopened":            "The ticket is reopened; the support unit will look at it again.",
	"escalated":           "The ticket was escalated; those of its new level were told.",
	"signout":             "You are signed out.",
	"linksent":            "If an account exists for that address, a mail with a link is on its way. The link works once, for 30 minutes.",
	"password":            "Your password was changed and you are signed in.",
	"saved":               "Saved.",
	"setup":               "You are the administrator. Create support units, services and users here.",
	"bulk":                "The selected tickets were updated.",
	"mail-retry":          "The mail is queued to be sent again.",
	"mail-discard":        "The mail was discarded; it will not be sent.",
}

func setFlash(w http.ResponseWriter, key string, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: key, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode, MaxAge: 60})
}

func clearFlash(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

func flashText(key string) string {
	if strings.HasPrefix(key, "bulk-") {
		if n, err := strconv.Atoi(strings.TrimPrefix(key, "bulk-")); err == nil {
			return fmt.Sprintf("%d of the selected tickets could not be changed (not allowed in their current state).", n)
		}
	}
	return flashes[key]
}

// redirect sends the browser on with a flash message (after a form post).
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, to, flash string) {
	if flash != "" {
		setFlash(w, flash, h.sessions.secure)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func equalTokens(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func humanSize(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KB", float64(n)/1024)
	case n < 1<<30:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
}

func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	}
	return t.Local().Format("2 Jan 2006")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// label turns a code (waiting_for_reply) into words (Waiting for reply).
func label(v any) string {
	s := strings.ReplaceAll(fmt.Sprint(v), "_", " ")
	return capitalize(s)
}

func initials(name string) string {
	var b strings.Builder
	for _, f := range strings.Fields(name) {
		for _, r := range f {
			b.WriteRune(r)
			break
		}
		if b.Len() >= 2 {
			break
		}
	}
	return strings.ToUpper(b.String())
}

func urlPathEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
