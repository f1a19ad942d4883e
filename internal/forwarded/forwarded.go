// Package forwarded believes X-Forwarded-For and X-Forwarded-Proto from the
// trusted reverse proxies (HELPMESH_TRUSTED_PROXIES) and from nobody else.
// Its middleware rewrites r.RemoteAddr to the client's address, so that
// every use of the client address (sign-in throttles, sessions, logs) sees
// the client rather than the proxy; the direct peer and the scheme the
// client used stay available from the request's context.
package forwarded

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the trusted reverse proxies' addresses and ranges.
type Proxies struct {
	prefixes []netip.Prefix
}

// Parse reads the trusted proxies: each an IP address or a CIDR range.
func Parse(trusted []string) (*Proxies, error) {
	p := &Proxies{}
	for _, t := range trusted {
		t = strings.TrimSpace(t)
		if pf, err := netip.ParsePrefix(t); err == nil {
			if pf.Addr().Is4In6() && pf.Bits() >= 96 {
				pf = netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()-96)
			}
			p.prefixes = append(p.prefixes, pf.Masked())
			continue
		}
		a, err := netip.ParseAddr(t)
		if err != nil {
			return nil, fmt.Errorf("forwarded: trusted proxy %q is neither an address nor a CIDR range", t)
		}
		a = a.Unmap()
		p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return p, nil
}

// Trusts tells whether addr (an IP address, with or without a port) is one
// of the trusted proxies.
func (p *Proxies) Trusts(addr string) bool {
	ip, ok := parseAddr(addr)
	if !ok {
		return false
	}
	for _, pf := range p.prefixes {
		if pf.Contains(ip) {
			return true
		}
	}
	return false
}

type ctxKey int

const (
	peerKey ctxKey = iota
	schemeKey
)

// Middleware rewrites, for a request whose direct peer is a trusted
// proxy, r.RemoteAddr to the right-most X-Forwarded-For address that is
// not itself a trusted proxy, and takes the scheme from X-Forwarded-Proto.
// From any other peer both headers are ignored; so are malformed values.
func (p *Proxies) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := r.RemoteAddr
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if len(p.prefixes) > 0 && p.Trusts(peer) {
			if client, ok := p.client(r.Header.Values("X-Forwarded-For")); ok {
				r2 := *r
				r2.RemoteAddr = net.JoinHostPort(client.String(), "0")
				r = &r2
			}
			switch strings.ToLower(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto"))) {
			case "https":
				scheme = "https"
			case "http":
				scheme = "http"
			}
		}
		ctx := context.WithValue(r.Context(), peerKey, peer)
		ctx = context.WithValue(ctx, schemeKey, scheme)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// maxHops bounds the X-Forwarded-For addresses looked at.
const maxHops = 32

// client is the right-most address of the X-Forwarded-For values that is
// not a trusted proxy. A malformed element ends the search without a
// result: what is left of it cannot be told from a forgery.
func (p *Proxies) client(values []string) (netip.Addr, bool) {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i, n := len(hops)-1, 0; i >= 0 && n < maxHops; i, n = i-1, n+1 {
		ip, ok := parseAddr(strings.TrimSpace(hops[i]))
		if !ok {
			return netip.Addr{}, false
		}
		if !p.Trusts(ip.String()) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// parseAddr reads an IP address, optionally with a port or in brackets.
func parseAddr(s string) (netip.Addr, bool) {
	if len(s) == 0 || len(s) > 64 {
		return netip.Addr{}, false
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// Peer is the address of the request's direct peer (the proxy when one
// forwarded it), whatever the middleware made of r.RemoteAddr.
func Peer(r *http.Request) string {
	if v, ok := r.Context().Value(peerKey).(string); ok {
		return v
	}
	return r.RemoteAddr
}

// Secure tells whether the client reached helpmesh over HTTPS: directly
// over TLS, or through a trusted proxy that says so in X-Forwarded-Proto.
func Secure(r *http.Request) bool {
	if v, ok := r.Context().Value(schemeKey).(string); ok {
		return v == "https"
	}
	return r.TLS != nil
}
