package ticket

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SafeFilename is the one sanitiser of attachment names, whatever brought
// the file (API, web form, mail, the store itself): the last path element,
// valid UTF-8, without control characters, without bidirectional controls
// (U+202E would show "\u202eexe.pdf" as "fdp.exe"), without leading dots
// or surrounding spaces, at most 200 characters (the end, with the
// extension, is kept). A name with nothing left becomes fallback.
func SafeFilename(name, fallback string) string {
	name = strings.ToValidUTF8(name, "")
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(name)
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), r == '/', r == utf8.RuneError, unicode.Is(unicode.Bidi_Control, r):
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	if r := []rune(name); len(r) > 200 {
		name = string(r[len(r)-200:])
	}
	if name == "" {
		return fallback
	}
	return name
}
