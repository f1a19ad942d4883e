package statusweb

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/subscription"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// The pages of subscriptions by mail and of announcements, beside the
// status page and in its look, with no sign-in:
//
//	GET  /status/subscribe              the form "Get updates by e-mail"
//	POST /status/subscribe              email, services (none: all) -> "check your mailbox"
//	GET  /status/subscribe/confirm      ?token=: a button that confirms
//	POST /status/subscribe/confirm      ?token=: confirms (the link works once)
//	GET  /status/unsubscribe            ?token=: a button that unsubscribes
//	POST /status/unsubscribe            ?token=: unsubscribes (also the one-click POST of RFC 8058)
//	GET  /status/announcements          the archive of announcements
//
// A GET never changes anything: mail scanners that open links confirm or
// end no subscription.

// SubscriptionRoutes are the patterns Subscriptions serves.
var SubscriptionRoutes = []string{"GET /status/subscribe", "POST /status/subscribe", "GET /status/subscribe/confirm", "POST /status/subscribe/confirm",
	"GET /status/unsubscribe", "POST /status/unsubscribe", "GET /status/announcements"}

// Subscriber is what the pages ask of the subscription store.
type Subscriber interface {
	Request(ctx context.Context, email string, services []string, ip string) error
	Confirm(ctx context.Context, token string) (*subscription.Subscription, error)
	Unsubscribe(ctx context.Context, token string) (string, error)
	Announcements(ctx context.Context, before int64, limit int) ([]*subscription.Announcement, error)
}

// Catalogue lists the services to choose from (the unit store).
type Catalogue interface {
	Services(ctx context.Context) ([]*unit.Service, error)
}

// Subscriptions serves the pages of subscriptions and announcements.
type Subscriptions struct {
	Store    Subscriber
	Services Catalogue
	Name     string // of the instance, as on the status page
	Log      *slog.Logger
}

//go:embed subscribe.html
var pagesFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") },
}).ParseFS(pagesFS, "subscribe.html"))

// maxForm bounds the body of the forms.
const maxForm = 64 << 10

// pageData is what subscribe.html reads.
type pageData struct {
	Name          string
	Title         string
	Page          string // which page: subscribe, sent, confirm, confirmed, unsubscribe, unsubscribed, invalid, announcements
	Services      []*unit.Service
	Chosen        []string
	Email         string
	Error         string
	Token         string
	Subscription  *subscription.Subscription
	Announcements []*subscription.Announcement
}

func (h Subscriptions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d := pageData{Name: h.Name}
	code := http.StatusOK
	var err error
	switch r.URL.Path {
	case "/status/subscribe":
		code, err = h.subscribe(w, r, &d)
	case "/status/subscribe/confirm":
		code, err = h.confirm(r, &d)
	case "/status/unsubscribe":
		code, err = h.unsubscribe(r, &d)
	case "/status/announcements":
		d.Page, d.Title = "announcements", "Announcements"
		d.Announcements, err = h.Store.Announcements(r.Context(), 0, 100)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		if h.Log != nil {
			h.Log.Error("status subscriptions", "path", r.URL.Path, "err", err)
		}
		w.Header().Set("Retry-After", "30")
		http.Error(w, "This page is unavailable for a moment.", http.StatusServiceUnavailable)
		return
	}
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, "page", d); err != nil {
		if h.Log != nil {
			h.Log.Error("status subscriptions: render", "err", err)
		}
		http.Error(w, "This page is unavailable for a moment.", http.StatusServiceUnavailable)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer") // the token stays out of other sites' logs
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// subscribe shows the form, or takes it: a bad address or service shows
// the form again with why (400), too many requests from one client 429.
func (h Subscriptions) subscribe(w http.ResponseWriter, r *http.Request, d *pageData) (int, error) {
	d.Page, d.Title = "subscribe", "Get updates by e-mail"
	var err error
	if d.Services, err = h.Services.Services(r.Context()); err != nil {
		return 0, err
	}
	if r.Method != http.MethodPost {
		if s := r.URL.Query().Get("service"); s != "" && len(s) <= 100 {
			d.Chosen = []string{s}
		}
		return http.StatusOK, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		d.Error = "The form could not be read; please send it again."
		return http.StatusBadRequest, nil
	}
	d.Email = strings.TrimSpace(r.PostForm.Get("email"))
	if r.PostForm.Get("scope") != "all" {
		d.Chosen = r.PostForm["services"]
		if len(d.Chosen) == 0 {
			d.Error = "Choose at least one service, or every service."
			return http.StatusBadRequest, nil
		}
	}
	err = h.Store.Request(r.Context(), d.Email, d.Chosen, clientIP(r))
	switch {
	case err == nil:
		d.Page, d.Title = "sent", "Check your mailbox"
		return http.StatusOK, nil
	case apperr.Is(err, apperr.Invalid):
		d.Error = userMessage(err)
		return http.StatusBadRequest, nil
	case apperr.Is(err, apperr.RateLimited):
		d.Error = userMessage(err)
		w.Header().Set("Retry-After", "3600")
		return http.StatusTooManyRequests, nil
	}
	return 0, err
}

// signedLink serves a page of a signed link (?token=): a GET shows the
// page ask (a button), only a POST runs act, whose result fills the page
// done; a link that is not valid (any more) is a 404.
func signedLink(r *http.Request, d *pageData, ask, askTitle, done, doneTitle string, act func(token string) error) (int, error) {
	d.Token = r.URL.Query().Get("token")
	if r.Method != http.MethodPost {
		d.Page, d.Title = ask, askTitle
		return http.StatusOK, nil
	}
	err := act(d.Token)
	if apperr.Is(err, apperr.NotFound) {
		d.Page, d.Title = "invalid", "This link is not valid"
		return http.StatusNotFound, nil
	}
	if err != nil {
		return 0, err
	}
	d.Page, d.Title = done, doneTitle
	return http.StatusOK, nil
}

// confirm shows the button that confirms, or confirms.
func (h Subscriptions) confirm(r *http.Request, d *pageData) (int, error) {
	return signedLink(r, d, "confirm", "Confirm your subscription", "confirmed", "Subscribed", func(token string) (err error) {
		d.Subscription, err = h.Store.Confirm(r.Context(), token)
		return err
	})
}

// unsubscribe shows the button that unsubscribes, or unsubscribes (a
// one-click POST of a mail client too).
func (h Subscriptions) unsubscribe(r *http.Request, d *pageData) (int, error) {
	return signedLink(r, d, "unsubscribe", "Unsubscribe", "unsubscribed", "Unsubscribed", func(token string) (err error) {
		d.Email, err = h.Store.Unsubscribe(r.Context(), token)
		return err
	})
}

// clientIP is the client's address (RemoteAddr, which the trusted-proxy
// middleware rewrites), without its port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// userMessage is the message of an apperr error for a person: "Email
// "x" is not an email address."
func userMessage(err error) string {
	var e *apperr.Error
	if !errors.As(err, &e) || e.Message == "" {
		return "Please check the form."
	}
	msg := e.Message
	if e.Field != "" {
		msg = strings.ReplaceAll(e.Field, "_", " ") + " " + msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

// IsChosen tells whether slug is among the chosen services (the template).
func (d pageData) IsChosen(slug string) bool { return slices.Contains(d.Chosen, slug) }
