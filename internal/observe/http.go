// Package observe is what an operator sees of the HTTP traffic: the
// per-route request counts and durations in /metrics and the request log,
// and the log handler that writes durations in human units.
package observe

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTP records every request in the metrics and, at debug level, the log.
type HTTP struct {
	log      *slog.Logger
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTP registers the request metrics with reg.
func NewHTTP(reg prometheus.Registerer, log *slog.Logger) *HTTP {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &HTTP{log: log}
	o.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "helpmesh_http_requests_total",
		Help: "HTTP requests (web pages, API, federation, status) by route pattern, method and status class.",
	}, []string{"route", "method", "class"})
	o.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "helpmesh_http_request_duration_seconds",
		Help:    "HTTP request duration by route pattern and method.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method"})
	reg.MustRegister(o.requests, o.duration)
	return o
}

type routeKey struct{}

// route is where the handler that matched a request writes its pattern.
type route struct{ pattern string }

// SetRoute tells the request's observer the ServeMux pattern that matched
// r (mux.Handler(r)'s second result); handlers with a mux of their own
// below the top one call it. Without an observer it does nothing.
func SetRoute(r *http.Request, pattern string) {
	if rt, ok := r.Context().Value(routeKey{}).(*route); ok && pattern != "" {
		rt.pattern = pattern
	}
}

// Wrap observes next. The route label is the pattern a mux below gave to
// SetRoute, else the pattern of the mux next is (when it is one), else
// "unmatched": never the raw path, so that the labels stay few.
func (o *HTTP) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rt := &route{}
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, rt))
		rw := &recorder{ResponseWriter: w}
		defer func() {
			pattern := rt.pattern
			if pattern == "" {
				pattern = r.Pattern // set on r by the mux next is, if it is one
			}
			o.observe(r, routeLabel(pattern), rw, time.Since(start))
		}()
		next.ServeHTTP(rw, r)
	})
}

func (o *HTTP) observe(r *http.Request, rt string, rw *recorder, d time.Duration) {
	method := methodLabel(r.Method)
	status := rw.status()
	o.requests.WithLabelValues(rt, method, statusClass(status)).Inc()
	o.duration.WithLabelValues(rt, method).Observe(d.Seconds())
	if !o.log.Enabled(r.Context(), slog.LevelDebug) {
		return
	}
	o.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
		slog.String("method", method), slog.String("route", rt), slog.Int("status", status),
		slog.Duration("duration", d), slog.Float64("duration_ms", Millis(d)),
		slog.Int64("bytes", rw.bytes), slog.String("client", clientHost(r.RemoteAddr)))
}

// routeLabel is a ServeMux pattern without its method ("GET /tickets/{id}"
// is "/tickets/{id}"): the method is a label of its own.
func routeLabel(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		return strings.TrimSpace(pattern[i+1:])
	}
	return pattern
}

// methodLabel keeps the methods helpmesh serves and counts every other
// (anyone can send any word) as "other".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return string(rune('0'+code/100)) + "xx"
}

// clientHost is the client's address without the port; the forwarded
// middleware, which runs first, made it the client's behind a trusted
// proxy.
func clientHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// recorder notes the status and the size of a response.
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (rw *recorder) WriteHeader(code int) {
	if rw.code == 0 && code >= 200 {
		rw.code = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.code == 0 {
		rw.code = http.StatusOK
	}
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += int64(n)
	return n, err
}

func (rw *recorder) status() int {
	if rw.code == 0 {
		return http.StatusOK
	}
	return rw.code
}

// Unwrap lets http.ResponseController reach the connection (flushing live
// updates, read deadlines).
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
