package web

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
)

// Sign-ins in the log (issue 16.16): who signed in, how and from where at
// info; refused attempts at info (wrong password, used link) or warn
// (throttled), with the address tried and never the password.

// signIn starts a session for userID on this browser and logs it. via is
// how the person proved who they are: password, link, reset (a password
// reset link), setup (the first administrator), oidc:NAME.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, userID int64, via string) error {
	if err := h.sessions.Start(w, r, userID, via); err != nil {
		return err
	}
	attrs := []slog.Attr{slog.Int64("user_id", userID), slog.String("via", via), slog.String("client", clientIP(r))}
	if p, err := h.d.Users.Principal(r.Context(), userID); err == nil {
		attrs = append(attrs, slog.String("email", p.Email))
	}
	h.d.Log.LogAttrs(r.Context(), slog.LevelInfo, "signed in", attrs...)
	return nil
}

// signInRefused logs a refused sign-in: email is the address tried (may be
// empty), reason what was wrong. Throttled attempts are warnings.
func (h *Handler) signInRefused(r *http.Request, via, email, reason string, throttled bool) {
	level := slog.LevelInfo
	if throttled {
		level = slog.LevelWarn
	}
	h.d.Log.LogAttrs(r.Context(), level, "sign-in refused", slog.String("via", via), slog.String("email", email),
		slog.String("reason", reason), slog.String("client", clientIP(r)))
}

// certificateLogEvery is how often a person signed in by a client
// certificate is logged: the certificate signs in each request, so the log
// says it once an hour per person and process rather than at every page.
const certificateLogEvery = time.Hour

// certificateLog remembers when each certificate holder was last logged.
type certificateLog struct {
	mu   sync.Mutex
	seen map[int64]time.Time
}

// note logs p's certificate sign-in unless it was logged within
// certificateLogEvery.
func (h *Handler) noteCertificate(r *http.Request, p *auth.Principal) {
	now := h.d.Now()
	c := &h.certLog
	c.mu.Lock()
	if c.seen == nil || len(c.seen) > 10000 {
		c.seen = map[int64]time.Time{}
	}
	last, ok := c.seen[p.UserID]
	fresh := !ok || now.Sub(last) >= certificateLogEvery
	if fresh {
		c.seen[p.UserID] = now
	}
	c.mu.Unlock()
	if fresh {
		h.d.Log.LogAttrs(r.Context(), slog.LevelInfo, "signed in", slog.Int64("user_id", p.UserID), slog.String("via", p.Via),
			slog.String("client", clientIP(r)), slog.String("email", p.Email))
	}
}
