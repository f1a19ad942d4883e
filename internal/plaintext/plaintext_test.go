package plaintext

import (
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
)

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		in        string
		multiline bool
		ok        bool
	}{
		{"  Disks & controllers: 3 < 5  ", false, true},
		{"line one\nline two", true, true},
		{"line one\nline two", false, false},
		{"<b>bold</b>", true, false},
		{"see </script>", true, false},
		{"<!-- x -->", true, false},
		{"a\x00b", true, false},
		{"\xff", true, false},
		{"", false, false},
	} {
		got, err := Check("f", c.in, 100, true, c.multiline)
		if (err == nil) != c.ok {
			t.Errorf("Check(%q, multiline %v) = %q, %v", c.in, c.multiline, got, err)
		}
		if err != nil && !apperr.Is(err, apperr.Invalid) {
			t.Errorf("Check(%q): %v is not Invalid", c.in, err)
		}
	}
	if _, err := Check("f", "", 10, false, false); err != nil {
		t.Errorf("optional empty: %v", err)
	}
	if _, err := Check("f", "ééééé", 4, false, false); err == nil {
		t.Error("longer than the limit in characters")
	}
}
