package auth

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/helpmesh/helpmesh/internal/apperr"
)

// Certificate subjects are compared as RDN sequences, never as text: a
// subject is stored and looked up in one canonical form, RFC 4514 (most
// specific RDN first, CN=Jane Doe,O=Example,C=DE) with its escaping, so that
// a '/' or ',' inside a value can never pass for another RDN.

// attrNames are the short names of the usual attribute types, by OID.
var attrNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
	"2.5.4.9": "STREET", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.12": "title", "2.5.4.42": "GN",
	"0.9.2342.19200300.100.1.1": "UID", "0.9.2342.19200300.100.1.25": "DC", "1.2.840.113549.1.9.1": "emailAddress",
}

// attrOIDs maps the names a person may write (any case) to OIDs.
var attrOIDs = func() map[string]string {
	m := map[string]string{"e": "1.2.840.113549.1.9.1", "email": "1.2.840.113549.1.9.1", "userid": "0.9.2342.19200300.100.1.1"}
	for oid, name := range attrNames {
		m[strings.ToLower(name)] = oid
	}
	return m
}()

// atv is one attribute of an RDN: its type as a dotted OID and its value,
// either a string or (hex) the hex of a DER value that is not a string.
type atv struct {
	oid, value string
	hex        bool
}

// CanonicalDN parses a certificate subject written in RFC 4514 form
// (CN=Jane Doe,O=Example,C=DE, with \-escapes or "quoted" values) or in the
// OpenSSL one-line form (/C=DE/O=Example/CN=Jane Doe, where \/ is a '/'
// inside a value) and returns its canonical form. Anything else is an
// Invalid error.
func CanonicalDN(s string) (string, error) {
	// Spaces around RFC 4514 values are dropped as it says; not here, as
	// a trailing one may be escaped.
	s = strings.TrimLeft(s, " ")
	bad := func(why string) error {
		return apperr.Field("certificate_dns", "%q is not a certificate subject: %s", s, why)
	}
	if s == "" || len(s) > 1024 || !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00") {
		return "", bad("empty, too long or not one line of text")
	}
	var rdns [][]atv
	var err error
	if strings.HasPrefix(s, "/") {
		rdns, err = parseSlashDN(s)
	} else {
		rdns, err = parseRFC4514(s)
	}
	if err != nil {
		return "", bad(err.Error())
	}
	for _, rdn := range rdns {
		for _, a := range rdn {
			if !utf8.ValidString(a.value) {
				return "", bad("a value is not UTF-8")
			}
		}
	}
	return formatDN(rdns), nil
}

// CanonicalSubject returns the canonical form of a certificate's subject,
// given as its DER (x509.Certificate.RawSubject), RDNs and all exactly as
// signed.
func CanonicalSubject(rawSubject []byte) (string, error) {
	var seq pkix.RDNSequence
	rest, err := asn1.Unmarshal(rawSubject, &seq)
	if err != nil || len(rest) > 0 {
		return "", fmt.Errorf("user: certificate subject: malformed DER")
	}
	if len(seq) == 0 {
		return "", fmt.Errorf("user: certificate subject: empty")
	}
	rdns := make([][]atv, len(seq))
	for i, set := range seq {
		for _, a := range set {
			v, err := derValue(a.Value)
			if err != nil {
				return "", fmt.Errorf("user: certificate subject: %w", err)
			}
			v.oid = a.Type.String()
			rdns[i] = append(rdns[i], v)
		}
	}
	return formatDN(rdns), nil
}

// derValue turns a parsed attribute value into an atv value: strings as
// they are, anything else as the hex of its DER.
func derValue(v any) (atv, error) {
	if s, ok := v.(string); ok {
		return atv{value: s}, nil
	}
	b, err := asn1.Marshal(v)
	if err != nil {
		return atv{}, fmt.Errorf("attribute value: %w", err)
	}
	return atv{value: hex.EncodeToString(b), hex: true}, nil
}

// formatDN writes rdns (most significant first, as in a certificate) in
// RFC 4514 order and escaping.
func formatDN(rdns [][]atv) string {
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		for j, a := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			name := attrNames[a.oid]
			if name == "" {
				name = a.oid
			}
			b.WriteString(name)
			b.WriteByte('=')
			if a.hex {
				b.WriteString("#" + a.value)
			} else {
				b.WriteString(escapeValue(a.value))
			}
		}
	}
	return b.String()
}

// escapeValue escapes a value as RFC 4514 §2.4 asks.
func escapeValue(v string) string {
	var b strings.Builder
	for i, r := range v {
		switch {
		case strings.ContainsRune(`,+"\<>;`, r),
			i == 0 && (r == '#' || r == ' '),
			i == len(v)-1 && r == ' ':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// attrOID resolves an attribute type as written: a known name in any case,
// or a dotted OID.
func attrOID(t string) (string, error) {
	t = strings.TrimSpace(t)
	if oid, ok := attrOIDs[strings.ToLower(t)]; ok {
		return oid, nil
	}
	parts := strings.Split(strings.TrimPrefix(strings.ToLower(t), "oid."), ".")
	if len(parts) < 2 {
		return "", fmt.Errorf("unknown attribute type %q", t)
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 31); err != nil || (len(p) > 1 && p[0] == '0') {
			return "", fmt.Errorf("unknown attribute type %q", t)
		}
	}
	return strings.Join(parts, "."), nil
}

// parseSlashDN reads /T=v/T=v..., most significant RDN first. A '/' that
// does not start a new "type=" is part of the value (O=A/B), and \/ always
// is.
func parseSlashDN(s string) ([][]atv, error) {
	var parts []string
	var cur strings.Builder
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '/':
			cur.WriteString(`\/`)
			i++
		case s[i] == '/':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	parts = append(parts, cur.String())
	var rdns [][]atv
	for _, p := range parts {
		t, v, ok := strings.Cut(p, "=")
		oid, err := attrOID(t)
		if !ok || err != nil {
			if len(rdns) == 0 {
				return nil, fmt.Errorf("%q is not type=value", p)
			}
			last := &rdns[len(rdns)-1][0]
			last.value += "/" + strings.ReplaceAll(p, `\/`, "/")
			continue
		}
		rdns = append(rdns, []atv{{oid: oid, value: strings.ReplaceAll(v, `\/`, "/")}})
	}
	return rdns, nil
}

// parseRFC4514 reads T=v,T=v+T=v,..., least significant RDN first, and
// returns the RDNs most significant first.
func parseRFC4514(s string) ([][]atv, error) {
	var rdns [][]atv
	var rdn []atv
	for i := 0; ; {
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, fmt.Errorf("%q is not type=value", s[i:])
		}
		oid, err := attrOID(s[i : i+eq])
		if err != nil {
			return nil, err
		}
		a, n, err := parseValue(s[i+eq+1:])
		if err != nil {
			return nil, err
		}
		a.oid = oid
		rdn = append(rdn, a)
		i += eq + 1 + n
		if i == len(s) {
			rdns = append(rdns, rdn)
			break
		}
		switch s[i] {
		case '+':
		case ',', ';':
			rdns = append(rdns, rdn)
			rdn = nil
		}
		i++
	}
	for i, j := 0, len(rdns)-1; i < j; i, j = i+1, j-1 {
		rdns[i], rdns[j] = rdns[j], rdns[i]
	}
	return rdns, nil
}

// parseValue reads one attribute value up to an unescaped ',', ';' or '+'
// (or the end) and returns it with the number of bytes it took.
func parseValue(s string) (atv, int, error) {
	i := 0
	for i < len(s) && s[i] == ' ' {
		i++
	}
	end := func(j int) (int, error) {
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j < len(s) && !strings.ContainsRune(",;+", rune(s[j])) {
			return 0, fmt.Errorf("unexpected %q after a value", s[j:])
		}
		return j, nil
	}
	if i < len(s) && s[i] == '#' {
		j := i + 1
		for j < len(s) && strings.ContainsRune("0123456789abcdefABCDEF", rune(s[j])) {
			j++
		}
		der, err := hex.DecodeString(s[i+1 : j])
		if err != nil || len(der) == 0 {
			return atv{}, 0, fmt.Errorf("bad hex value")
		}
		var v any
		if rest, err := asn1.Unmarshal(der, &v); err != nil || len(rest) > 0 {
			return atv{}, 0, fmt.Errorf("bad hex value")
		}
		a, err := derValue(v)
		if err != nil {
			return atv{}, 0, err
		}
		n, err := end(j)
		return a, n, err
	}
	var b []byte
	quoted := i < len(s) && s[i] == '"'
	if quoted {
		i++
	}
	trail := 0 // unescaped spaces at the end, dropped
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '"':
			n, err := end(i + 1)
			return atv{value: string(b)}, n, err
		case c == '\\':
			if i+1 >= len(s) {
				return atv{}, 0, fmt.Errorf("a value ends in a backslash")
			}
			if h, err := hex.DecodeString(s[i+1 : min(i+3, len(s))]); err == nil && len(h) == 1 {
				b = append(b, h[0])
				i += 2
			} else {
				b = append(b, s[i+1])
				i++
			}
			trail = 0
		case !quoted && strings.ContainsRune(",;+", rune(c)):
			return atv{value: string(b[:len(b)-trail])}, i, nil
		case !quoted && c == '"':
			return atv{}, 0, fmt.Errorf("an unescaped quote inside a value")
		default:
			b = append(b, c)
			if c == ' ' && !quoted {
				trail++
			} else {
				trail = 0
			}
		}
	}
	if quoted {
		return atv{}, 0, fmt.Errorf("an unterminated quote")
	}
	return atv{value: string(b[:len(b)-trail])}, i, nil
}
