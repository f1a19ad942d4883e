package tmf621

import (
	"encoding/base64"
	"mime"
	"strings"
	"unicode/utf8"
)

// The files of a note travel inline: TMF621's attachment entries with
// the content base64 encoded (research/federation.md §4), so that a note
// and its files are applied in one step, once, by the note's origin
// (pushed) or the feed item's id (read from the catch-up feed). Files
// are bounded so that a note, and a feed page, stay within MaxDocument;
// a file over the bounds is not carried and the note's text names it.

// Bounds of a note's files.
const (
	// MaxAttachments is how many files one note carries.
	MaxAttachments = 10
	// MaxNoteFiles bounds the size of all of a note's files together,
	// decoded (base64 makes a third more).
	MaxNoteFiles = 4 << 20
	// maxFilename bounds a file's name.
	maxFilename = 255
)

// Attachment is a file of a note.
type Attachment struct {
	Name string `json:"name"`
	// MimeType is what the sender says the file is: a receiver decides
	// the type from the content (FileType).
	MimeType string `json:"mimeType,omitempty"`
	Size     int64  `json:"size"`
	// Content is the file, base64 (standard alphabet, padded). The notes
	// of GET troubleTicket list the files without it.
	Content string `json:"content,omitempty"`
}

// NewAttachment is data as an attachment.
func NewAttachment(name, mimeType string, data []byte) Attachment {
	return Attachment{Name: name, MimeType: mimeType, Size: int64(len(data)), Content: base64.StdEncoding.EncodeToString(data)}
}

// Data decodes the content; it must be Size bytes.
func (a Attachment) Data() ([]byte, error) {
	data, err := base64.StdEncoding.DecodeString(a.Content)
	if err != nil {
		return nil, invalid("attachment %q: the content is not base64: %v", a.Name, err)
	}
	if int64(len(data)) != a.Size {
		return nil, invalid("attachment %q: the content has %d bytes, size says %d", a.Name, len(data), a.Size)
	}
	return data, nil
}

// validAttachments checks the files of a note: how many, their names,
// sizes and together at most MaxNoteFiles. (Content is checked when it
// is decoded.)
func validAttachments(as []Attachment) error {
	if len(as) > MaxAttachments {
		return invalid("a note carries at most %d attachments", MaxAttachments)
	}
	var total int64
	for _, a := range as {
		switch {
		case strings.TrimSpace(a.Name) == "" || len(a.Name) > maxFilename || !utf8.ValidString(a.Name) ||
			strings.ContainsFunc(a.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return invalid("an attachment needs a name of at most %d bytes without control characters", maxFilename)
		case a.Size < 0 || a.Size > MaxNoteFiles:
			return invalid("attachment %q: size must be from 0 to %d", a.Name, MaxNoteFiles)
		case len(a.MimeType) > 200:
			return invalid("attachment %q: mimeType is too long", a.Name)
		case int64(len(a.Content)) > int64(base64.StdEncoding.EncodedLen(int(a.Size))):
			return invalid("attachment %q: the content is larger than its size", a.Name)
		}
		total += a.Size
	}
	if total > MaxNoteFiles {
		return invalid("a note's attachments hold at most %d bytes together", MaxNoteFiles)
	}
	return nil
}

// rendered are the types a browser shows rather than saves: the sender's
// word is not enough for them.
func rendered(mt string) bool {
	return strings.HasPrefix(mt, "text/") || strings.HasPrefix(mt, "image/") || mt == "application/pdf" ||
		strings.Contains(mt, "html") || strings.Contains(mt, "xml") || strings.Contains(mt, "javascript")
}

// FileType decides the type a received file is stored with from the
// sender's declared type and sniffed, the type its content shows
// (net/http's DetectContentType, which the caller runs): the declared
// type when the content agrees, or when the content is not recognised
// and the declared type is not one browsers render; the sniffed one
// otherwise.
func FileType(declared, sniffed string) string {
	sn, _, err := mime.ParseMediaType(sniffed)
	if err != nil || sn == "" {
		sn = "application/octet-stream"
	}
	dt, _, err := mime.ParseMediaType(declared)
	switch {
	case err != nil || dt == "" || len(dt) > 100:
		return sn
	case dt == sn:
		return dt
	case sn == "application/octet-stream" && !rendered(dt):
		return dt
	}
	return sn
}
