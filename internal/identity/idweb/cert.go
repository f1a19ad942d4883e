package idweb

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/user"
)

// principalByDN looks a subject up as user.PrincipalByCertificate
// compares it (as an RDN sequence); an unregistered one is no credential.
func principalByDN(r *http.Request, users *user.Store, dn string) (*auth.Principal, error) {
	p, err := users.PrincipalByCertificate(r.Context(), dn)
	if apperr.Is(err, apperr.Unauthorized) {
		return nil, nil
	}
	return p, err
}

// CertificateAuthenticator signs in the holder of a client certificate that
// the TLS handshake verified (chain to HELPMESH_TLS_CLIENT_CA, validity
// dates, CRLs): the user who registered its subject DN. An unregistered
// certificate is no credential (nil, nil): the person may sign in otherwise.
func CertificateAuthenticator(users *user.Store) Authenticator {
	return func(r *http.Request) (*auth.Principal, error) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
			return nil, nil
		}
		// The subject as signed (its DER), not as printed: a '/' or ','
		// inside a value cannot pass for another RDN.
		dn, err := user.CanonicalSubject(r.TLS.VerifiedChains[0][0].RawSubject)
		if err != nil {
			return nil, nil
		}
		p, err := principalByDN(r, users, dn)
		if p != nil {
			p.Via = "certificate"
		}
		return p, err
	}
}

// ProxyDNAuthenticator believes the DN in header only from the trusted
// proxy addresses (IPs or CIDR ranges); from anywhere else the header is
// ignored and logged. The proxy must verify the certificate and overwrite
// the header on every request.
func ProxyDNAuthenticator(users *user.Store, trusted []string, header string, log *slog.Logger) (Authenticator, error) {
	var prefixes []netip.Prefix
	for _, t := range trusted {
		if p, err := netip.ParsePrefix(t); err == nil {
			prefixes = append(prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(t)
		if err != nil {
			return nil, fmt.Errorf("idweb: trusted proxy %q is neither an address nor a CIDR range", t)
		}
		prefixes = append(prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	if header == "" {
		header = "X-SSL-Client-S-DN"
	}
	return func(r *http.Request) (*auth.Principal, error) {
		dn := strings.TrimSpace(r.Header.Get(header))
		if dn == "" {
			return nil, nil
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		addr, err := netip.ParseAddr(host)
		ok := false
		if err == nil {
			addr = addr.Unmap()
			for _, p := range prefixes {
				if p.Contains(addr) {
					ok = true
					break
				}
			}
		}
		if !ok {
			log.Warn("ignored a client DN header from an untrusted address", "header", header, "remote", r.RemoteAddr)
			return nil, nil
		}
		if len(dn) > 1024 || strings.ContainsAny(dn, "\r\n\x00") {
			return nil, nil
		}
		p, err := principalByDN(r, users, dn)
		if p != nil {
			p.Via = "certificate"
		}
		return p, err
	}, nil
}

// ClientAuth configures cfg to ask for an optional client certificate
// signed by the CAs in caFile, and to refuse certificates listed in the
// CRL files (PEM or DER; re-read when they change). Expired certificates
// and certificates of other CAs fail the handshake.
func ClientAuth(cfg *tls.Config, caFile string, crlFiles []string) error {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("idweb: client CA: %w", err)
	}
	pool := x509.NewCertPool()
	var cas []*x509.Certificate
	for rest := pemBytes; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fmt.Errorf("idweb: client CA %s: %w", caFile, err)
		}
		pool.AddCert(c)
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return fmt.Errorf("idweb: client CA %s holds no certificate", caFile)
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	if len(crlFiles) > 0 {
		crls := &crlSet{files: crlFiles}
		if err := crls.load(); err != nil {
			return err
		}
		cfg.VerifyPeerCertificate = func(_ [][]byte, chains [][]*x509.Certificate) error {
			return crls.check(chains)
		}
	}
	return nil
}

// crlSet holds the parsed revocation lists and reloads them when a file
// changes (checked at most every few seconds).
type crlSet struct {
	files []string

	mu      sync.Mutex
	lists   []*x509.RevocationList
	mtimes  []time.Time
	checked time.Time
}

func (c *crlSet) load() error {
	var lists []*x509.RevocationList
	var mtimes []time.Time
	for _, f := range c.files {
		st, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("idweb: CRL: %w", err)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("idweb: CRL: %w", err)
		}
		ders := [][]byte{}
		for rest := b; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if blk.Type == "X509 CRL" {
				ders = append(ders, blk.Bytes)
			}
		}
		if len(ders) == 0 {
			ders = append(ders, b) // DER
		}
		for _, der := range ders {
			l, err := x509.ParseRevocationList(der)
			if err != nil {
				return fmt.Errorf("idweb: CRL %s: %w", f, err)
			}
			lists = append(lists, l)
		}
		mtimes = append(mtimes, st.ModTime())
	}
	c.lists, c.mtimes, c.checked = lists, mtimes, time.Now()
	return nil
}

func (c *crlSet) current() []*x509.RevocationList {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) > 5*time.Second {
		c.checked = time.Now()
		for i, f := range c.files {
			if st, err := os.Stat(f); err == nil && !st.ModTime().Equal(c.mtimes[i]) {
				if err := c.load(); err != nil {
					slog.Warn("keeping the previous CRLs", "err", err)
				}
				break
			}
		}
	}
	return c.lists
}

var errRevoked = errors.New("the client certificate is revoked")

// check refuses a chain that holds a certificate revoked by a CRL its
// issuer signed.
func (c *crlSet) check(chains [][]*x509.Certificate) error {
	lists := c.current()
	for _, chain := range chains {
		for i := 0; i+1 < len(chain); i++ {
			cert, issuer := chain[i], chain[i+1]
			for _, l := range lists {
				if l.CheckSignatureFrom(issuer) != nil {
					continue
				}
				for _, e := range l.RevokedCertificateEntries {
					if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
						return errRevoked
					}
				}
			}
		}
	}
	return nil
}

// SSOOnly guards the portal's password and mail-link sign-in when only
// single sign-on is allowed: only the break-glass accounts may still sign in
// with a password (so that an administrator can always get in, even when
// the identity provider is down).
func SSOOnly(next http.Handler, breakGlass []string, log *slog.Logger) http.Handler {
	allowed := map[string]bool{}
	for _, e := range breakGlass {
		allowed[strings.ToLower(strings.TrimSpace(e))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			switch {
			case r.URL.Path == "/login", r.URL.Path == "/password/forgot":
				r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
				if err := r.ParseForm(); err == nil && allowed[strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))] {
					next.ServeHTTP(w, r)
					return
				}
				log.Info("password sign-in refused: SSO only", "path", r.URL.Path)
				ssoRefused(w, r)
				return
			case r.URL.Path == "/login/link", strings.HasPrefix(r.URL.Path, "/login/link/"):
				ssoRefused(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func ssoRefused(w http.ResponseWriter, r *http.Request) {
	setHeaders(w, r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	_ = pages.ExecuteTemplate(w, "error", page{Title: "Sign in with your organisation",
		Message: "This instance accepts single sign-on only. Sign in with your organisation at /auth/oidc."})
}
