package auth

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
)

func TestCanonicalDN(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"CN=Jane Doe,O=Example,C=DE", "CN=Jane Doe,O=Example,C=DE"},
		{"/C=DE/O=Example/CN=Jane Doe", "CN=Jane Doe,O=Example,C=DE"},
		{" cn = Jane Doe ; o=Example , c=DE ", "CN=Jane Doe,O=Example,C=DE"},
		{`CN="Doe, Jane",O=Example`, `CN=Doe\, Jane,O=Example`},
		{`CN=Doe\2C Jane,O=Example`, `CN=Doe\, Jane,O=Example`},
		{"/O=Example/CN=Admin Person", "CN=Admin Person,O=Example"},
		{`/C=DE/O=Example\/CN=Admin Person`, "O=Example/CN=Admin Person,C=DE"},
		{`/C=DE/O=A/B/CN=Jane`, "CN=Jane,O=A/B,C=DE"},
		{`C=DE,O="Example/CN=Admin Person"`, "C=DE,O=Example/CN=Admin Person"},
		{"CN=a+UID=b,DC=example,DC=org", "CN=a+UID=b,DC=example,DC=org"},
		{"/DC=org/DC=example/emailAddress=j@example.org/CN=J", "CN=J,emailAddress=j@example.org,DC=example,DC=org"},
		{"2.5.4.3=Jane,1.2.3.4=x", "CN=Jane,1.2.3.4=x"},
		{`CN=\#1 fan\ ,O=x`, `CN=\#1 fan\ ,O=x`},
		{"CN=#0c044a616e65", "CN=Jane"},
	} {
		got, err := CanonicalDN(c.in)
		if err != nil || got != c.want {
			t.Errorf("CanonicalDN(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		if again, err := CanonicalDN(got); err != nil || again != got {
			t.Errorf("CanonicalDN(%q) again = %q, %v", got, again, err)
		}
	}
	for _, bad := range []string{"", "Jane Doe", "CN=a,", "CN=a,,O=b", "/Jane", "XX=a", `CN="open`, `CN=a"b`, "CN=a\\", "CN=#zz", "CN=\x00", "CN=a\nO=b"} {
		if got, err := CanonicalDN(bad); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("CanonicalDN(%q) = %q, %v; want Invalid", bad, got, err)
		}
	}
}

func TestCanonicalSubject(t *testing.T) {
	for _, c := range []struct {
		name pkix.Name
		want string
	}{
		{pkix.Name{CommonName: "Jane Doe", Organization: []string{"Example"}, Country: []string{"DE"}}, "CN=Jane Doe,O=Example,C=DE"},
		{pkix.Name{Organization: []string{"Example/CN=Admin Person"}, Country: []string{"DE"}}, "O=Example/CN=Admin Person,C=DE"},
		{pkix.Name{CommonName: "Doe, Jane + co", Organization: []string{"Example"}}, `CN=Doe\, Jane \+ co,O=Example`},
	} {
		der, err := asn1.Marshal(c.name.ToRDNSequence())
		if err != nil {
			t.Fatal(err)
		}
		got, err := CanonicalSubject(der)
		if err != nil || got != c.want {
			t.Errorf("CanonicalSubject(%v) = %q, %v; want %q", c.name, got, err, c.want)
		}
		if back, err := CanonicalDN(got); err != nil || back != got {
			t.Errorf("CanonicalDN(%q) = %q, %v", got, back, err)
		}
	}
	if _, err := CanonicalSubject([]byte{0x30, 0x05}); err == nil {
		t.Error("malformed DER accepted")
	}
}

// FuzzCanonicalDN: what parses has one canonical form, which reads back as
// itself.
func FuzzCanonicalDN(f *testing.F) {
	for _, s := range []string{"CN=Jane,O=Example,C=DE", "/C=DE/O=A/B/CN=x", `CN="a,b"+UID=\2b,O=\#x`, "CN=#0c0161"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := CanonicalDN(s)
		if err != nil {
			return
		}
		again, err := CanonicalDN(c)
		if err != nil || again != c {
			t.Fatalf("CanonicalDN(%q) = %q, which reads back as %q, %v", s, c, again, err)
		}
	})
}
