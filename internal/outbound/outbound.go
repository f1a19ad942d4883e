// Package outbound decides where helpmesh may send requests of its own
// (webhooks now, chat posts and connectors later) and sends them.
//
// A URL must be http or https. An address in a private, loopback,
// link-local, unspecified or multicast range (or another range not meant
// for the public Internet) is refused unless the policy's allow-list holds
// it (HELPMESH_OUTBOUND_ALLOW). The check is made twice: on the names a URL
// resolves to when it is registered (CheckURL), and on the very address a
// connection dials (the Dialer's Control), so a name that resolves to a
// public address at registration and to a private one later (DNS
// rebinding) is refused all the same. Redirects are never followed.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every refusal of a URL or an address.
var ErrRefused = errors.New("outbound: refused")

// Policy is the allow-list of outbound requests.
type Policy struct {
	allow []netip.Prefix
	// Resolver looks up host names; net.DefaultResolver when nil.
	Resolver *net.Resolver
}

// NewPolicy returns the policy that allows, beyond the public Internet,
// the ranges of allow (CIDRs such as 10.0.0.0/8, or single addresses).
func NewPolicy(allow []string) (*Policy, error) {
	p := &Policy{}
	for _, s := range allow {
		pfx, err := ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		p.allow = append(p.allow, pfx)
	}
	return p, nil
}

// ParsePrefix reads one entry of the allow-list: a CIDR range or a single
// address.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return pfx.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("outbound: %q is neither a CIDR range nor an IP address", s)
}

// special are the ranges that netip's predicates do not name but that are
// not the public Internet either (RFC 6890 and its successors).
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("::ffff:0:0/96"),   // mapped (unmapped before the check)
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
	netip.MustParsePrefix("2002::/16"),       // 6to4, may embed a private IPv4 address
	netip.MustParsePrefix("2001::/32"),       // Teredo, likewise
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
}

// Public tells whether a is an address of the public Internet: not
// private, loopback, link-local, unspecified, multicast nor another
// special-purpose range.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range special {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// AllowsAddr tells whether requests may go to a: a public address, or one
// in the allow-list.
func (p *Policy) AllowsAddr(a netip.Addr) bool {
	a = a.Unmap()
	if Public(a) {
		return true
	}
	for _, pfx := range p.allow {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// maxURL bounds the length of an outbound URL.
const maxURL = 2048

// ParseURL checks the form of an outbound URL, without resolving it: an
// absolute http or https URL with a host, no user information and no
// fragment.
func ParseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: the URL is empty", ErrRefused)
	}
	if len(raw) > maxURL {
		return nil, fmt.Errorf("%w: the URL is longer than %d bytes", ErrRefused, maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not a URL", ErrRefused)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: the URL must be http or https", ErrRefused)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: the URL has no host", ErrRefused)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: the URL must not hold a user name or password", ErrRefused)
	}
	if u.Fragment != "" || strings.HasSuffix(raw, "#") {
		return nil, fmt.Errorf("%w: the URL must not have a fragment", ErrRefused)
	}
	if port := u.Port(); port != "" {
		if n, err := net.LookupPort("tcp", port); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("%w: the URL's port %q is not a port number", ErrRefused, port)
		}
	}
	return u, nil
}

// CheckURL checks raw (ParseURL) and every address its host resolves to.
func (p *Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := ParseURL(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" || !p.AllowsAddr(a) {
			return fmt.Errorf("%w: %s is not a public address (HELPMESH_OUTBOUND_ALLOW does not list it)", ErrRefused, host)
		}
		return nil
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(lctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("%w: the host %s does not resolve", ErrRefused, host)
	}
	for _, a := range addrs {
		if !p.AllowsAddr(a) {
			return fmt.Errorf("%w: %s resolves to %s, which is not a public address (HELPMESH_OUTBOUND_ALLOW does not list it)", ErrRefused, host, a.Unmap())
		}
	}
	return nil
}

// Control is a net.Dialer Control function that refuses a connection to
// an address the policy does not allow: it sees the address actually
// dialed, after name resolution.
func (p *Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read the dialed address %q", ErrRefused, address)
	}
	if !p.AllowsAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s is not a public address (HELPMESH_OUTBOUND_ALLOW does not list it)", ErrRefused, ap.Addr().Unmap())
	}
	return nil
}
