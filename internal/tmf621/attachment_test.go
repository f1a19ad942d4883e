package tmf621

import (
	"errors"
	"strings"
	"testing"
)

func TestFileType(t *testing.T) {
	for _, c := range []struct{ declared, sniffed, want string }{
		{"text/plain", "text/plain; charset=utf-8", "text/plain"},
		{"image/png", "text/html; charset=utf-8", "text/html"},                      // HTML posing as an image
		{"application/pdf", "application/octet-stream", "application/octet-stream"}, // not a PDF
		{"application/vnd.ms-excel", "application/octet-stream", "application/vnd.ms-excel"},
		{"", "image/png", "image/png"},
		{"not a type", "text/plain; charset=utf-8", "text/plain"},
		{"text/html", "application/octet-stream", "application/octet-stream"},
	} {
		if got := FileType(c.declared, c.sniffed); got != c.want {
			t.Errorf("FileType(%q, %q) = %q, want %q", c.declared, c.sniffed, got, c.want)
		}
	}
}

func TestNoteAttachments(t *testing.T) {
	good := NewAttachment("log.txt", "text/plain", []byte("abc"))
	if err := (Note{Text: "x", Attachment: []Attachment{good}}).Validate(); err != nil {
		t.Fatal(err)
	}
	if data, err := good.Data(); err != nil || string(data) != "abc" {
		t.Errorf("Data: %q %v", data, err)
	}
	many := make([]Attachment, MaxAttachments+1)
	for i := range many {
		many[i] = good
	}
	big := good
	big.Size = MaxNoteFiles + 1
	lying := good
	lying.Size = 2
	for name, as := range map[string][]Attachment{
		"too many":          many,
		"no name":           {{Size: 1, Content: "YQ=="}},
		"a control char":    {{Name: "a\nb", Size: 1, Content: "YQ=="}},
		"too large":         {big},
		"negative":          {{Name: "a", Size: -1}},
		"content over size": {{Name: "a", Size: 1, Content: strings.Repeat("A", 100)}},
		"together too large": {
			{Name: "a", Size: MaxNoteFiles / 2}, {Name: "b", Size: MaxNoteFiles/2 + 1}},
	} {
		if err := (Note{Text: "x", Attachment: as}).Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	if _, err := lying.Data(); !errors.Is(err, ErrInvalid) {
		t.Errorf("a size that does not match the content: %v", err)
	}
	if _, err := (Attachment{Name: "a", Size: 3, Content: "not base64!"}).Data(); !errors.Is(err, ErrInvalid) {
		t.Errorf("content that is not base64: %v", err)
	}
}
