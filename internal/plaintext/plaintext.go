// Package plaintext validates the free-text fields of incidents, known
// errors and changes: plain text, never markup, shown escaped.
package plaintext

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/helpmesh/helpmesh/internal/apperr"
)

// htmlTag matches what a browser would take for markup.
var htmlTag = regexp.MustCompile(`<[a-zA-Z/!?]`)

// Check validates a plain-text field (no markup, no control
// characters but new lines and tabs in bodies) and returns it trimmed.
func Check(field, s string, maxLen int, required, multiline bool) (string, error) {
	s, err := Text(field, s, maxLen, required, multiline)
	if err == nil && htmlTag.MatchString(s) {
		return "", apperr.Field(field, "must be plain text, not HTML")
	}
	return s, err
}

// Text is Check for fields that take markup as text (shown escaped):
// only the length, UTF-8 and control characters are checked.
func Text(field, s string, maxLen int, required, multiline bool) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" && required:
		return "", apperr.Field(field, "is required")
	case !utf8.ValidString(s):
		return "", apperr.Field(field, "is not valid UTF-8")
	case utf8.RuneCountInString(s) > maxLen:
		return "", apperr.Field(field, "is longer than %d characters", maxLen)
	}
	for _, r := range s {
		if r < 0x20 && !(multiline && (r == '\n' || r == '\t' || r == '\r')) || r == 0x7f {
			return "", apperr.Field(field, "contains a control character")
		}
	}
	return s, nil
}
