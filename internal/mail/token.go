package mail

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Settings is what LoadSecret needs of the instance settings
// (setting.Store): a value set once, the first writer winning.
type Settings interface {
	Ensure(ctx context.Context, key, value string) (string, error)
}

// LoadSecret returns the instance secret that signs reply tokens and
// Message-IDs: configured (HELPMESH_SECRET) when set, else the one kept in
// the instance settings, created on first use. Every node of a PostgreSQL
// deployment reads the same row.
func LoadSecret(ctx context.Context, settings Settings, configured string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("mail: secret: %w", err)
	}
	v, err := settings.Ensure(ctx, "secret", hex.EncodeToString(b))
	if err != nil {
		return nil, fmt.Errorf("mail: secret: %w", err)
	}
	if v == "" {
		return nil, errors.New("mail: secret: the setting is empty")
	}
	return []byte(v), nil
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// signer makes and checks the signed identifiers in our mail.
type signer struct{ key []byte }

func (s signer) sign(parts ...string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return b32.EncodeToString(m.Sum(nil))[:16]
}

func (s signer) check(sig string, parts ...string) bool {
	return hmac.Equal([]byte(sig), []byte(s.sign(parts...)))
}

// Message-ID flags: what kind of mail a Message-ID of ours was.
const (
	flagRoot   = "t" // the synthetic root of a ticket's thread
	flagPublic = "p" // a public mail (auto-reply, reply, status)
	flagNote   = "n" // an internal note sent to staff
)

// messageID returns a new Message-ID (without angle brackets) for a mail
// about ticketID: hm.<ticket>.<flag>.<random>.<signature>@domain. Only we can
// make one that verifies, so a reply quoting it threads safely.
func (s signer) messageID(ticketID int64, flag, domain string) string {
	r := make([]byte, 8)
	_, _ = rand.Read(r)
	nonce := b32.EncodeToString(r)
	id := strconv.FormatInt(ticketID, 10)
	return "hm." + id + "." + flag + "." + nonce + "." + s.sign("mid", id, flag, nonce) + "@" + domain
}

// rootID is the fixed Message-ID of a ticket's thread, put in References of
// every mail about it.
func (s signer) rootID(ticketID int64, domain string) string {
	id := strconv.FormatInt(ticketID, 10)
	return "hm." + id + "." + flagRoot + ".0." + s.sign("mid", id, flagRoot, "0") + "@" + domain
}

// parseMessageID returns the ticket and flag of one of our Message-IDs, or
// ok=false for any other (or forged) id. The domain is not checked: it may
// have changed since the mail went out.
func (s signer) parseMessageID(mid string) (ticketID int64, flag string, ok bool) {
	mid = strings.Trim(strings.TrimSpace(mid), "<>")
	local, _, found := strings.Cut(mid, "@")
	if !found || !strings.HasPrefix(local, "hm.") {
		return 0, "", false
	}
	f := strings.Split(local, ".")
	if len(f) != 5 {
		return 0, "", false
	}
	id, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || id <= 0 || !s.check(f[4], "mid", f[1], f[2], f[3]) {
		return 0, "", false
	}
	return id, f[2], true
}

// rcptKey is the short signed key of a recipient address in its reply
// token: only we can make it, so a mail to a token with the key of its
// From address answers mail we sent to that address.
func (s signer) rcptKey(addr string) string {
	return s.sign("rcpt", strings.ToLower(strings.TrimSpace(addr)))[:8]
}

// tokenAddress returns base (local@domain) with a signed reply token for
// ticketID: local+t<id>-<sig>@domain, or local+t<id>c-<sig> for the comment
// (internal note) variant. With rcpt, the token is that recipient's own:
// local+t<id>[c]r<key>-<sig>, where key is rcptKey(rcpt).
func (s signer) tokenAddress(base string, ticketID int64, comment bool, rcpt string) string {
	local, domain, ok := strings.Cut(base, "@")
	if !ok {
		return base
	}
	tok := "t" + strconv.FormatInt(ticketID, 10)
	if comment {
		tok += "c"
	}
	if rcpt != "" {
		tok += "r" + s.rcptKey(rcpt)
	}
	return local + "+" + tok + "-" + s.sign("reply", tok) + "@" + domain
}

// listTokenAddress returns base with the reply token of the list of a
// unit in the mode redirect for ticketID: local+t<id>l<key>-<sig>@domain,
// where key is rcptKey(list). Anyone on the list may reply to it, and
// their reply is the list's (auth.ActorUnitList) while the ticket is still
// redirected to that list.
func (s signer) listTokenAddress(base string, ticketID int64, list string) string {
	local, domain, ok := strings.Cut(base, "@")
	if !ok {
		return base
	}
	tok := "t" + strconv.FormatInt(ticketID, 10) + "l" + s.rcptKey(list)
	return local + "+" + tok + "-" + s.sign("reply", tok) + "@" + domain
}

// replyToken is what a valid reply token in a recipient address says.
type replyToken struct {
	base     string // the address without the token
	ticketID int64
	comment  bool
	rkey     string // the recipient's key (rcptKey); empty in a token for anyone
	// lkey is the key (rcptKey) of the list a list token was made for
	// (listTokenAddress); empty in any other token.
	lkey string
}

// parseTokenAddress reads the reply token of addr; ok is false when addr
// carries no valid token.
func (s signer) parseTokenAddress(addr string) (tok replyToken, ok bool) {
	local, domain, found := strings.Cut(addr, "@")
	if !found {
		return replyToken{}, false
	}
	i := strings.LastIndex(local, "+t")
	if i <= 0 {
		return replyToken{}, false
	}
	t, sig, found := strings.Cut(local[i+1:], "-")
	if !found || !s.check(sig, "reply", t) {
		return replyToken{}, false
	}
	// A list token: the ticket's digits, then "l" (a base32 key of the
	// other tokens may hold an "l" too).
	body := strings.TrimPrefix(t, "t")
	digits := strings.IndexFunc(body, func(r rune) bool { return r < '0' || r > '9' })
	if digits > 0 && body[digits] == 'l' {
		id, err := strconv.ParseInt(body[:digits], 10, 64)
		if err != nil || id <= 0 || digits+1 == len(body) {
			return replyToken{}, false
		}
		return replyToken{base: local[:i] + "@" + domain, ticketID: id, lkey: body[digits+1:]}, true
	}
	num, rkey, _ := strings.Cut(strings.TrimPrefix(t, "t"), "r")
	comment := strings.HasSuffix(num, "c")
	num = strings.TrimSuffix(num, "c")
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil || id <= 0 {
		return replyToken{}, false
	}
	return replyToken{base: local[:i] + "@" + domain, ticketID: id, comment: comment, rkey: rkey}, true
}

// DerivedKey returns a key for purpose derived from the gateway's secret,
// for the links other packages sign (subscription links), so that no
// token of one kind is valid as another.
func (g *Gateway) DerivedKey(purpose string) []byte {
	h := hmac.New(sha256.New, g.sig.key)
	h.Write([]byte("helpmesh derived key\x00" + purpose))
	return h.Sum(nil)
}
