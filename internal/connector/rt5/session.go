package rt5

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/outbound"
)

// RT checks an auth token with bcrypt, and REST2 checks the token of
// every request again (and records its last use): about 0.25 s of RT's
// CPU per request on an idle RT, more than a second under load. The
// client therefore logs in once with the token and then sends RT's web
// session cookie, which REST2 accepts first and checks with one read.
//
// The login is a GET of REST 1.0's index with the token: RT's web layer
// (unlike REST2) opens a session for a token and sets its cookie. When
// RT later refuses the cookie (the session expired or was cleaned up:
// REST2 answers 302 to the login page, or 401), the client logs in again,
// once per request, and repeats the request. When RT opens no session
// (no cookie, or an answer that is not REST 1.0's) or refuses a cookie
// request as cross-site (403: RT's configured URL differs from the
// connector's), the client falls back to the token on every request.

// sessionCookiePrefix starts the name of RT's web session cookie
// (RT_SID_<rtname>.<port>).
const sessionCookiePrefix = "RT_SID_"

// loginPath is where the client trades its token for a session.
const loginPath = "/REST/1.0/"

// session is how a Client authenticates to RT.
type session struct {
	mu sync.Mutex // held while logging in, so that one login serves all
	// cookie is the "name=value" of the current session ("" before the
	// first login and after RT refused it).
	cookie string
	// tokenOnly is set when RT cannot be used through a session.
	tokenOnly bool
}

// sessionCookie returns the cookie to send, logging in first when there is none
// ("" means: send the token).
func (c *Client) sessionCookie(ctx context.Context) (string, error) {
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	if c.sess.tokenOnly || c.sess.cookie != "" {
		return c.sess.cookie, nil
	}
	return c.login(ctx)
}

// renewSession is called when RT refused the cookie stale: it returns the
// cookie to repeat the request with ("" for the token), logging in again
// unless another request did so meanwhile.
func (c *Client) renewSession(ctx context.Context, stale string, crossSite bool) (string, error) {
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	if crossSite {
		c.sess.tokenOnly, c.sess.cookie = true, ""
		return "", nil
	}
	if c.sess.tokenOnly || (c.sess.cookie != "" && c.sess.cookie != stale) {
		return c.sess.cookie, nil
	}
	c.sess.cookie = ""
	return c.login(ctx)
}

// login trades the token for a session cookie (c.sess.mu held).
func (c *Client) login(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.web+loginPath, nil)
	if err != nil {
		return "", permanent("login: %v", err)
	}
	req.Header.Set("Authorization", "token "+c.token)
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, outbound.ErrRefused) {
			return "", fmt.Errorf("rt5: login: %w: %w", err, connector.ErrPermanent)
		}
		return "", fmt.Errorf("rt5: login: %w", err)
	}
	defer resp.Body.Close()
	first, err := bufio.NewReader(io.LimitReader(resp.Body, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("rt5: login: reading the answer: %w", err)
	}
	if code := resp.StatusCode; code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests {
		return "", &statusError{method: "GET", path: loginPath, code: code}
	}
	// REST 1.0 answers 200 with its own status line: "RT/5.0.3 200 Ok",
	// or "RT/5.0.3 401 Credentials required" for a token RT refuses.
	fields := strings.Fields(first)
	if resp.StatusCode == http.StatusOK && len(fields) >= 2 && strings.HasPrefix(fields[0], "RT/") {
		switch fields[1] {
		case "401":
			return "", &statusError{method: "GET", path: loginPath, code: http.StatusUnauthorized, message: "RT refused the token"}
		case "200":
			for _, ck := range resp.Cookies() {
				if strings.HasPrefix(ck.Name, sessionCookiePrefix) && ck.Value != "" {
					c.sess.cookie = ck.Name + "=" + ck.Value
					return c.sess.cookie, nil
				}
			}
		}
	}
	// Anything else (a proxy in front of REST2 only, REST 1.0 disabled):
	// no session, the token on every request.
	c.sess.tokenOnly = true
	return "", nil
}

// origin is RT's own origin, which REST2 wants on a request that changes
// something and carries a cookie (its cross-site request check).
func origin(web string) string {
	u, err := url.Parse(web)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// sessionRefused tells whether RT refused a request's session cookie:
// expired (302 to the login page or 401), or cross-site (403 with RT's
// message).
func sessionRefused(code int, raw []byte) (refused, crossSite bool) {
	switch {
	case code == http.StatusFound || code == http.StatusUnauthorized:
		return true, false
	case code == http.StatusForbidden && bytes.Contains(raw, []byte("Cross-site request forgery")):
		return true, true
	}
	return false, false
}
