package web

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/credential"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/forwarded"
)

// Session lifetimes: a session ends after IdleTimeout without a request, and
// in any case MaxAge after it started.
const (
	IdleTimeout = 7 * 24 * time.Hour
	MaxAge      = 30 * 24 * time.Hour
	// seenEvery limits the writes that keep a session alive.
	seenEvery = 5 * time.Minute
)

// Session is a signed-in browser.
type Session struct {
	UserID    int64
	Via       string // password, link, reset, oidc:<name>, certificate
	CSRF      string // form token bound to this session
	CreatedAt time.Time
	SeenAt    time.Time
	ExpiresAt time.Time
}

// Sessions keeps browser sessions in the database, so that they survive a
// restart and are valid on every node. Only a hash of the cookie value is
// stored. Any way of signing in (password, one-time link, OIDC, client
// certificate) ends with Start.
type Sessions struct {
	db     *db.DB
	cookie string
	secure bool
	now    func() time.Time
}

// NewSessions returns the session store. secure marks cookies Secure and
// names them with the __Host- prefix (use it whenever the site is served
// over HTTPS).
func NewSessions(d *db.DB, secure bool, now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	name := "hm_session"
	if secure {
		name = "__Host-hm_session"
	}
	return &Sessions{db: d, cookie: name, secure: secure, now: func() time.Time { return now().UTC() }}
}

// Start signs userID in on this browser: it stores a new session and sets
// its cookie. via names how the person proved who they are.
func (s *Sessions) Start(w http.ResponseWriter, r *http.Request, userID int64, via string) error {
	token := auth.RandomString(32)
	now := s.now()
	ss := &Session{UserID: userID, Via: via, CSRF: auth.RandomString(24), CreatedAt: now, SeenAt: now, ExpiresAt: now.Add(MaxAge)}
	ua := r.UserAgent()
	if len(ua) > 300 {
		ua = ua[:300]
	}
	_, err := s.db.W.ExecContext(r.Context(), `INSERT INTO web_sessions (id_hash, user_id, via, csrf, created_at, seen_at, expires_at, user_agent, ip)
		VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)`, auth.HashToken(token), userID, via, ss.CSRF, now, ss.ExpiresAt, ua, clientIP(r))
	if err != nil {
		return fmt.Errorf("web: start session: %w", err)
	}
	// A session cookie without Expires: closing the browser signs out
	// unless the server-side session is still valid and the browser keeps
	// session cookies; MaxAge bounds it either way.
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: token, Path: "/", HttpOnly: true, Secure: s.secure || forwarded.Secure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: int(MaxAge / time.Second)})
	return nil
}

// Current returns the signed-in user of the request (0 when none), how
// they signed in, and the session's form token.
func (s *Sessions) Current(r *http.Request) (userID int64, via, csrf string, err error) {
	if ss, ok := r.Context().Value(sessionKey).(*Session); ok && ss != nil {
		return ss.UserID, ss.Via, ss.CSRF, nil
	}
	ss, err := s.Get(r.Context(), r)
	if err != nil || ss == nil {
		return 0, "", "", err
	}
	return ss.UserID, ss.Via, ss.CSRF, nil
}

// Get returns the session of the request, or nil when it has none or it
// expired.
func (s *Sessions) Get(ctx context.Context, r *http.Request) (*Session, error) {
	c, err := r.Cookie(s.cookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, nil
	}
	h := auth.HashToken(c.Value)
	ss := &Session{}
	err = s.db.R.QueryRowContext(ctx, `SELECT user_id, via, csrf, created_at, seen_at, expires_at FROM web_sessions WHERE id_hash = $1`, h).
		Scan(&ss.UserID, &ss.Via, &ss.CSRF, &ss.CreatedAt, &ss.SeenAt, &ss.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("web: load session: %w", err)
	}
	now := s.now()
	if !now.Before(ss.ExpiresAt) || now.Sub(ss.SeenAt) > IdleTimeout {
		_, _ = s.db.W.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_hash = $1`, h)
		return nil, nil
	}
	if now.Sub(ss.SeenAt) > seenEvery {
		if _, err := s.db.W.ExecContext(ctx, `UPDATE web_sessions SET seen_at = $1 WHERE id_hash = $2`, now, h); err != nil {
			return nil, fmt.Errorf("web: touch session: %w", err)
		}
	}
	return ss, nil
}

// End signs the browser out: it deletes the session and its cookie.
func (s *Sessions) End(w http.ResponseWriter, r *http.Request) error {
	s.clearCookie(w)
	c, err := r.Cookie(s.cookie)
	if err != nil {
		return nil
	}
	if _, err := s.db.W.ExecContext(r.Context(), `DELETE FROM web_sessions WHERE id_hash = $1`, auth.HashToken(c.Value)); err != nil {
		return fmt.Errorf("web: end session: %w", err)
	}
	return nil
}

// EndAll signs a user out everywhere (after a password change).
func (s *Sessions) EndAll(ctx context.Context, userID int64) error {
	if _, err := s.db.W.ExecContext(ctx, `DELETE FROM web_sessions WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("web: end sessions: %w", err)
	}
	return nil
}

// Sweep deletes expired sessions, used links and old throttle rows.
func (s *Sessions) Sweep(ctx context.Context) error {
	now := s.now()
	for _, q := range []struct {
		sql string
		arg time.Time
	}{
		{`DELETE FROM web_sessions WHERE expires_at < $1 OR seen_at < $1`, now.Add(-IdleTimeout)},
		{`DELETE FROM login_links WHERE expires_at < $1`, now},
		{`DELETE FROM login_attempts WHERE window_start < $1 AND (locked_until IS NULL OR locked_until < $1)`, now.Add(-throttleWindow)},
	} {
		if _, err := s.db.W.ExecContext(ctx, q.sql, q.arg); err != nil {
			return fmt.Errorf("web: sweep: %w", err)
		}
	}
	return nil
}

func (s *Sessions) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: "", Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// clientIP is the address the request came from (without the port); behind
// a trusted proxy, the forwarded client's (internal/forwarded).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return strings.TrimSpace(host)
}

// APIAuthenticator lets the REST API accept the portal's session cookie.
// An unsafe request must pass the cross-origin check, so that another site
// cannot make a signed-in browser write through the API.
func (h *Handler) APIAuthenticator() credential.Authenticator {
	return func(r *http.Request) (*auth.Principal, error) {
		uid, _, _, err := h.sessions.Current(r)
		if err != nil || uid == 0 {
			return nil, err
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := h.cop.Check(r); err != nil {
				return nil, apperr.New(apperr.Forbidden, "a cross-site request may not use the session cookie")
			}
		}
		p, err := h.d.Users.Principal(r.Context(), uid)
		if err != nil {
			return nil, err
		}
		p.Via = "session"
		return p, nil
	}
}
