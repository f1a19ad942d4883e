package api

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// metricsGuard serves h only to requests with the bearer token
// MetricsToken, when one is configured; others get a 401.
func (a *API) metricsGuard(h http.Handler) http.Handler {
	if a.MetricsToken == "" {
		return h
	}
	want := []byte("Bearer " + a.MetricsToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(strings.TrimSpace(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics: a bearer token (HELPMESH_METRICS_TOKEN) is required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
