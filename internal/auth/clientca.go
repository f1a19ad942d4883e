package auth

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// ClientAuth configures cfg to ask for an optional client certificate
// signed by the CAs in caFile, and to refuse certificates listed in the
// CRL files (PEM or DER; re-read when they change). Expired certificates
// and certificates of other CAs fail the handshake.
func ClientAuth(cfg *tls.Config, caFile string, crlFiles []string) error {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("auth: client CA: %w", err)
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
			return fmt.Errorf("auth: client CA %s: %w", caFile, err)
		}
		pool.AddCert(c)
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return fmt.Errorf("auth: client CA %s holds no certificate", caFile)
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
			return fmt.Errorf("auth: CRL: %w", err)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("auth: CRL: %w", err)
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
				return fmt.Errorf("auth: CRL %s: %w", f, err)
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
