package mail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/textproto"
	"regexp"
	"strings"
	"unicode"

	"github.com/jhillyerd/enmime/v2"
	"github.com/microcosm-cc/bluemonday"

	"github.com/helpmesh/helpmesh/internal/ticket"
)

// Parsing limits: mail beyond them is quarantined, not parsed.
const (
	maxMIMEParts   = 500 // boundary lines in one message
	maxMultiparts  = 20  // multipart declarations: enmime is exponential in deep nesting
	maxAttachments = 100
	maxHeaderBytes = 256 << 10
)

// parsed is an inbound mail reduced to what the gateway needs.
type parsed struct {
	Header     textproto.MIMEHeader
	MessageID  string // without angle brackets; synthetic when missing
	InReplyTo  []string
	References []string
	Subject    string
	From       string // address, lower case
	FromName   string
	To         []string // To and Cc addresses
	Text       string   // plain text, quoted history folded away
	HTML       string   // sanitised HTML, when the mail had HTML
	Files      []file
	Automatic  bool // never answer it automatically
	Machine    bool // sent by a machine (auto-reply, bounce), not a list
	AutoReason string
	LoopDomain string // value of our loop header, when present
	Warnings   []string
}

// file is an attachment, inline image or signature part.
type file struct {
	Name        string
	ContentType string
	Data        []byte
}

var mimeParser = enmime.NewParser(
	enmime.SkipMalformedParts(true),
	enmime.MaxStoredPartErrors(20),
	enmime.SetReadPartErrorPolicy(enmime.AllowCorruptTextPartErrorPolicy),
	enmime.StripMediaTypeInvalidCharacters(true),
)

var htmlPolicy = bluemonday.UGCPolicy()

// parse reads one RFC 5322 message. It returns an error only for mail that
// cannot be read as a message at all; oddities become warnings.
func parse(raw []byte, returnPath string, hasReturnPath bool) (p *parsed, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("mail: parse: parser panicked: %v", r)
		}
	}()
	hdrEnd := bytes.Index(raw, []byte("\r\n\r\n"))
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 && (hdrEnd < 0 || i < hdrEnd) {
		hdrEnd = i
	}
	if hdrEnd > maxHeaderBytes || (hdrEnd < 0 && len(raw) > maxHeaderBytes) {
		return nil, fmt.Errorf("mail: parse: header larger than %d bytes", maxHeaderBytes)
	}
	if n := bytes.Count(raw, []byte("\n--")); n > maxMIMEParts {
		return nil, fmt.Errorf("mail: parse: more than %d MIME boundaries", maxMIMEParts)
	}
	if n := bytes.Count(bytes.ToLower(raw), []byte("boundary")); n > maxMultiparts {
		return nil, fmt.Errorf("mail: parse: more than %d multipart parts (too deeply nested)", maxMultiparts)
	}
	env, err := mimeParser.ReadEnvelope(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("mail: parse: %w", err)
	}
	p = &parsed{Header: env.Root.Header}
	for _, e := range env.Errors {
		p.Warnings = append(p.Warnings, e.Error())
	}
	p.MessageID = firstID(env.GetHeader("Message-Id"))
	if p.MessageID == "" {
		sum := sha256.Sum256(raw)
		p.MessageID = "missing-" + hex.EncodeToString(sum[:16]) + "@helpmesh.invalid"
	}
	p.InReplyTo = msgIDs(env.GetHeader("In-Reply-To"))
	p.References = msgIDs(env.GetHeader("References"))
	p.Subject = oneLine(env.GetHeader("Subject"))
	if from, err := env.AddressList("From"); err == nil && len(from) > 0 {
		p.From = strings.ToLower(from[0].Address)
		p.FromName = oneLine(from[0].Name)
	} else if f := env.GetHeader("From"); f != "" {
		p.From = strings.ToLower(looseAddress(f))
	}
	for _, h := range []string{"To", "Cc"} {
		if as, err := env.AddressList(h); err == nil {
			for _, a := range as {
				p.To = append(p.To, strings.ToLower(a.Address))
			}
		}
	}
	p.Automatic, p.Machine, p.AutoReason = automatic(p.Header, returnPath, hasReturnPath)
	if !p.Machine && machineSender(p.From) {
		p.Automatic, p.Machine, p.AutoReason = true, true, "sent by "+p.From
	}
	p.LoopDomain = strings.TrimSpace(env.GetHeader(LoopHeader))

	text := clean(env.Text)
	if env.HTML != "" {
		p.HTML = clean(htmlPolicy.Sanitize(env.HTML))
	}
	p.Text = foldQuotes(text)

	n := 0
	for _, group := range [][]*enmime.Part{env.Attachments, env.Inlines, env.OtherParts} {
		for _, part := range group {
			if n >= maxAttachments {
				p.Warnings = append(p.Warnings, fmt.Sprintf("more than %d attachments; the rest was dropped", maxAttachments))
				break
			}
			n++
			ct := part.ContentType
			if ct == "" {
				ct = "application/octet-stream"
			}
			p.Files = append(p.Files, file{Name: safeName(part.FileName, ct, n), ContentType: ct, Data: part.Content})
		}
	}
	return p, nil
}

// firstID returns the first Message-ID in a header value, without brackets.
func firstID(v string) string {
	ids := msgIDs(v)
	if len(ids) == 0 {
		return oneLine(strings.Trim(strings.TrimSpace(v), "<>"))
	}
	return ids[0]
}

var idRE = regexp.MustCompile(`<([^<>\s]{1,250})>`)

// msgIDs returns the <...> ids in a header value, at most 100.
func msgIDs(v string) []string {
	var ids []string
	for _, m := range idRE.FindAllStringSubmatch(v, 100) {
		ids = append(ids, strings.ToValidUTF8(m[1], ""))
	}
	return ids
}

var looseRE = regexp.MustCompile(`[^\s<>"]+@[^\s<>"]+`)

func looseAddress(v string) string { return looseRE.FindString(v) }

// clean makes text storable: valid UTF-8, no NUL, CRLF as LF.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	return strings.ReplaceAll(s, "\r\n", "\n")
}

func oneLine(s string) string {
	s = clean(s)
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// quoteStart matches the line that introduces quoted history in common
// mail clients.
var quoteStart = regexp.MustCompile(`(?i)^(on .{1,200} wrote:|am .{1,200} schrieb .{0,100}:|le .{1,200} a écrit ?:|-{2,} ?original message ?-{2,}|-{2,} ?ursprüngliche nachricht ?-{2,}|_{20,})\s*$`)

// foldQuotes drops quoted history: everything from a "On ... wrote:" line,
// and a trailing block of "> " lines. If nothing would be left, the text is
// kept as it was.
func foldQuotes(s string) string {
	lines := strings.Split(s, "\n")
	cut := len(lines)
	for i, l := range lines {
		if quoteStart.MatchString(strings.TrimSpace(l)) {
			cut = i
			break
		}
	}
	for cut > 0 {
		l := strings.TrimSpace(lines[cut-1])
		if l == "" || strings.HasPrefix(l, ">") {
			cut--
			continue
		}
		break
	}
	out := strings.TrimRight(strings.Join(lines[:cut], "\n"), " \n")
	if strings.TrimSpace(out) == "" {
		return strings.TrimSpace(s)
	}
	return out
}

// safeName returns a file name that is safe to store and offer for
// download (ticket.SafeFilename), and for a part without one a name made
// of its number and content type.
func safeName(name, contentType string, n int) string {
	if name = ticket.SafeFilename(clean(name), ""); name != "" {
		return name
	}
	ext := ".bin"
	switch {
	case strings.HasPrefix(contentType, "image/"):
		ext = "." + ticket.SafeFilename(strings.TrimPrefix(contentType, "image/"), "img")
	case contentType == "text/plain":
		ext = ".txt"
	case strings.Contains(contentType, "signature"):
		ext = ".sig"
	case contentType == "message/rfc822":
		ext = ".eml"
	}
	return fmt.Sprintf("part-%d%s", n, ext)
}
