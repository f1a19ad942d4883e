// Package statusweb serves the public status page and its documents over
// HTTP, with no sign-in: /status, /status/history.atom,
// /status/maintenance.ics and the Statuspage v2 JSON under /api/v2/.
package statusweb

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/helpmesh/helpmesh/internal/status"
)

// Routes are the patterns Handler serves; the composition root mounts
// them.
var Routes = []string{"GET /status", "GET /status/history.atom", "GET /status/maintenance.ics", "GET /api/v2/"}

// Handler serves the status page's documents.
type Handler struct {
	Page *status.Page
	Log  *slog.Logger
}

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := documentName(r.URL.Path)
	if !ok {
		notFound(w, r)
		return
	}
	d, ok, err := h.Page.Document(r.Context(), name)
	if err != nil {
		if h.Log != nil {
			h.Log.Error("status page", "path", r.URL.Path, "err", err)
		}
		w.Header().Set("Retry-After", "30")
		http.Error(w, "The status page is unavailable for a moment.", http.StatusServiceUnavailable)
		return
	}
	if !ok {
		notFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", d.ContentType)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("ETag", d.ETag)
	hd.Set("Cache-Control", "public, max-age=10")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		hd.Set("Access-Control-Allow-Origin", "*")
	} else {
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'")
	}
	if d.Stale {
		hd.Set("X-Status-Stale", "true")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && match == d.ETag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Vary", "Accept-Encoding")
	body := d.Body
	if acceptsGzip(r) && len(d.Gzip) > 0 {
		hd.Set("Content-Encoding", "gzip")
		body = d.Gzip
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// acceptsGzip tells whether the client takes gzip (no q-values parsed
// beyond an explicit refusal).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			return strings.ReplaceAll(params, " ", "") != "q=0"
		}
	}
	return false
}

// documentName maps a request path to a document of status.Page.
func documentName(path string) (string, bool) {
	switch path {
	case "/status", "/status/":
		return status.PageHTML, true
	case "/status/history.atom":
		return status.HistoryAtom, true
	case "/status/maintenance.ics":
		return status.MaintenanceICS, true
	}
	if rest, ok := strings.CutPrefix(path, "/api/v2/"); ok && rest != "" && !strings.Contains(rest, "..") {
		return rest, true
	}
	return "", false
}

func notFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no such document"}}` + "\n"))
		return
	}
	http.NotFound(w, r)
}
