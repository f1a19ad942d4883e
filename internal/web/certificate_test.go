package web_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/user"
)

type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial int64 = 100

func issue(t *testing.T, tmpl *x509.Certificate, parent *testCert) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	}
	signer, signKey := tmpl, any(key)
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, key: key}
}

func newCA(t *testing.T, name string) *testCert {
	return issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: name, Organization: []string{"Test Grid"}}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, nil)
}

func clientCert(t *testing.T, ca *testCert, cn string, notBefore, notAfter time.Time) *testCert {
	return issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"Test Grid"}, Country: []string{"DE"}},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca)
}

func writePEM(t *testing.T, name string, blocks ...*pem.Block) string {
	t.Helper()
	p := dataFile(t, name)
	var b []byte
	for _, blk := range blocks {
		b = append(b, pem.EncodeToMemory(blk)...)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (c *testCert) tls(t *testing.T) tls.Certificate {
	kb, err := x509.MarshalECPrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// TestClientCertificates: over HTTPS with HELPMESH_TLS_CLIENT_CA and a CRL,
// /api/v1/me answers for a valid registered certificate (in either DN
// form); an expired, foreign or revoked certificate fails the handshake;
// no certificate or an unregistered one is simply not signed in.
func TestClientCertificates(t *testing.T) {
	now := time.Now()
	ca, otherCA := newCA(t, "Test Grid CA"), newCA(t, "Rogue CA")
	server := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca)
	valid := clientCert(t, ca, "Jane Grid", now.Add(-time.Hour), now.Add(time.Hour))
	legacy := clientCert(t, ca, "Legacy Grid", now.Add(-time.Hour), now.Add(time.Hour))
	expired := clientCert(t, ca, "Old Grid", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	foreign := clientCert(t, otherCA, "Jane Grid", now.Add(-time.Hour), now.Add(time.Hour))
	revoked := clientCert(t, ca, "Revoked Grid", now.Add(-time.Hour), now.Add(time.Hour))
	unregistered := clientCert(t, ca, "Nobody Grid", now.Add(-time.Hour), now.Add(time.Hour))
	// A subject with no CN whose O holds "/CN=...": printed in the OpenSSL
	// form it reads as the administrator's DN.
	forged := issue(t, &x509.Certificate{Subject: pkix.Name{Organization: []string{"Test Grid/CN=Admin Person"}, Country: []string{"DE"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca)

	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(24 * time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: revoked.cert.SerialNumber, RevocationTime: now.Add(-time.Minute)}}}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	skb, _ := x509.MarshalECPrivateKey(server.key)
	a := startApp(t, nil, func(c *config.Config) {
		c.TLSCert = writePEM(t, "server.pem", &pem.Block{Type: "CERTIFICATE", Bytes: server.cert.Raw})
		c.TLSKey = writePEM(t, "server.key", &pem.Block{Type: "EC PRIVATE KEY", Bytes: skb})
		c.TLSClientCA = writePEM(t, "ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
		c.TLSCRLs = []string{writePEM(t, "ca.crl", &pem.Block{Type: "X509 CRL", Bytes: crl})}
		c.BaseURL = strings.Replace(c.BaseURL, "http://", "https://", 1)
	})
	ctx := context.Background()
	for _, u := range []user.NewUser{
		{Email: "jane@example.org", Name: "Jane", CertificateDNs: []string{valid.cert.Subject.String()}},
		{Email: "legacy@example.org", Name: "Legacy", CertificateDNs: []string{"/C=DE/O=Test Grid/CN=Legacy Grid"}},
		{Email: "old@example.org", Name: "Old", CertificateDNs: []string{expired.cert.Subject.String()}},
		{Email: "revoked@example.org", Name: "Revoked", CertificateDNs: []string{revoked.cert.Subject.String()}},
		{Email: "boss@example.org", Name: "Admin Person", Role: "admin", CertificateDNs: []string{"/C=DE/O=Test Grid/CN=Admin Person"}},
	} {
		if _, err := a.Users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	client := func(c *testCert) *http.Client {
		cfg := &tls.Config{RootCAs: roots}
		if c != nil {
			// Present the certificate whatever CAs the server names, as a
			// hostile client would.
			tc := c.tls(t)
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tc, nil }
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	for _, tc := range []struct {
		name      string
		cert      *testCert
		wantEmail string // "" : 401
		wantTLS   bool   // the handshake must fail
	}{
		{"valid", valid, "jane@example.org", false},
		{"valid, DN registered in OpenSSL form", legacy, "legacy@example.org", false},
		{"no certificate", nil, "", false},
		{"unregistered", unregistered, "", false},
		{"a '/' inside a value does not forge an RDN", forged, "", false},
		{"expired", expired, "", true},
		{"wrong CA", foreign, "", true},
		{"revoked", revoked, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client(tc.cert).Get(a.URL + "/api/v1/me")
			if tc.wantTLS {
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					t.Fatalf("handshake succeeded: %d %s", resp.StatusCode, b)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.wantEmail == "" {
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("want 401, got %d %s", resp.StatusCode, b)
				}
				return
			}
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"`+tc.wantEmail+`"`) {
				t.Fatalf("want %s, got %d %s", tc.wantEmail, resp.StatusCode, b)
			}
		})
	}
	// The certificate also opens the web pages.
	resp, err := client(valid).Get(a.URL + "/access")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "jane@example.org") {
		t.Fatalf("web page with a certificate: %d %.300s", resp.StatusCode, b)
	}
}

// TestCertificateDNsCompareAsRDNs: one subject in two spellings belongs to
// one user only; a subject stored in another spelling before is rewritten
// in the canonical form at start.
func TestCertificateDNsCompareAsRDNs(t *testing.T) {
	a := startApp(t, nil, nil)
	ctx := context.Background()
	if _, err := a.Users.Create(ctx, user.NewUser{Email: "jane@example.org", Name: "Jane", CertificateDNs: []string{"/C=DE/O=Test Grid/CN=Jane Grid"}}); err != nil {
		t.Fatal(err)
	}
	for _, dn := range []string{"CN=Jane Grid,O=Test Grid,C=DE", "cn=Jane Grid, o=Test Grid, c=DE", `CN="Jane Grid",O=Test Grid,C=DE`} {
		_, err := a.Users.Create(ctx, user.NewUser{Email: "mallory@example.org", Name: "Mallory", CertificateDNs: []string{dn}})
		if !apperr.Is(err, apperr.Conflict) {
			t.Errorf("%q registered to a second user: %v", dn, err)
		}
	}
	for _, dn := range []string{"CN=Jane,O=Test Grid,C=DE", `/C=DE/O=Test Grid\/CN=Jane Grid`, `CN=Jane Grid,O="Test Grid/CN=Jane Grid",C=DE`} {
		p, err := a.Users.PrincipalByCertificate(ctx, dn)
		if !apperr.Is(err, apperr.Unauthorized) {
			t.Errorf("%q signs in: %+v %v", dn, p, err)
		}
	}
	if _, err := a.Users.Create(ctx, user.NewUser{Email: "bad@example.org", Name: "Bad", CertificateDNs: []string{"Jane Grid"}}); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("a subject that is no DN: %v", err)
	}
	// A subject stored in the OpenSSL form before this release.
	if _, err := a.DB.W.ExecContext(ctx, `UPDATE user_certificates SET dn = $1`, "/C=DE/O=Test Grid/CN=Jane Grid"); err != nil {
		t.Fatal(err)
	}
	n, left, err := a.Users.CanonicalizeCertificates(ctx)
	if err != nil || n != 1 || len(left) != 0 {
		t.Fatalf("canonicalize: %d %v %v", n, left, err)
	}
	u, err := a.Users.GetByEmail(ctx, "jane@example.org")
	if err != nil || len(u.CertificateDNs) != 1 || u.CertificateDNs[0] != "CN=Jane Grid,O=Test Grid,C=DE" {
		t.Errorf("stored subject: %+v %v", u, err)
	}
}

// TestProxyDNHeader: the DN header counts only from a trusted proxy
// address.
func TestProxyDNHeader(t *testing.T) {
	a := startApp(t, nil, func(c *config.Config) {
		c.TrustedProxies = []string{"127.0.0.2/32"}
		c.DNHeader = "X-SSL-Client-S-DN"
	})
	dn := "CN=Jane Grid,O=Test Grid,C=DE"
	if _, err := a.Users.Create(context.Background(), user.NewUser{Email: "jane@example.org", Name: "Jane", CertificateDNs: []string{dn}}); err != nil {
		t.Fatal(err)
	}
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	}
	get := func(c *http.Client, dn string) int {
		req, _ := http.NewRequest(http.MethodGet, a.URL+"/api/v1/me", nil)
		req.Header.Set("X-SSL-Client-S-DN", dn)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(from("127.0.0.1"), dn); code != http.StatusUnauthorized {
		t.Fatalf("DN header from an untrusted address: %d, want 401", code)
	}
	if code := get(from("127.0.0.2"), dn); code != http.StatusOK {
		t.Fatalf("DN header from the trusted proxy: %d, want 200", code)
	}
	if code := get(from("127.0.0.2"), "CN=Someone Else"); code != http.StatusUnauthorized {
		t.Fatalf("unregistered DN from the trusted proxy: %d, want 401", code)
	}
}

// TestSSOOnlyBreakGlass: with HELPMESH_SSO_ONLY, password sign-in is
// refused except for the break-glass administrator.
func TestSSOOnlyBreakGlass(t *testing.T) {
	a := startApp(t, nil, func(c *config.Config) { c.SSOOnly = true })
	ctx := context.Background()
	admin, err := a.Users.GetByEmail(ctx, "admin@localhost")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Users.SetPassword(ctx, admin.ID, "break-glass-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Users.Create(ctx, user.NewUser{Email: "dave@example.org", Name: "Dave", Password: "dave-password-123"}); err != nil {
		t.Fatal(err)
	}
	login := func(email, pw string) (int, *http.Client) {
		c, _ := newClient(t)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		csrf := formToken(t, c, a.URL+"/login")
		resp, err := c.PostForm(a.URL+"/login", map[string][]string{"email": {email}, "password": {pw}, "csrf": {csrf}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, c
	}
	if code, _ := login("dave@example.org", "dave-password-123"); code != http.StatusForbidden {
		t.Fatalf("password sign-in of an ordinary user under SSO only: %d, want 403", code)
	}
	code, c := login("admin@localhost", "break-glass-password")
	if code != http.StatusSeeOther {
		t.Fatalf("break-glass sign-in: %d, want 303", code)
	}
	if st, m := getMe(t, c, a.URL); st != http.StatusOK || m.Role != "admin" {
		t.Fatalf("break-glass session: %d %+v", st, m)
	}
}
