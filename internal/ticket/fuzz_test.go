package ticket

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// FuzzSearchQuery feeds arbitrary search text through SearchTerms and
// FTS5Query to a real FTS5 MATCH, and through Store.List as a requester:
// never an SQL or FTS5 syntax error, never a panic, and a requester never
// matches an internal note.
func FuzzSearchQuery(f *testing.F) {
	for _, s := range []string{
		"printer", "printer fire", `"printer"`, `printer OR fire`, `NEAR(a b)`, `a AND NOT b`, `*`, `pri*`, `^start`,
		`col:text`, `text:printer`, `'; DROP TABLE tickets; --`, `" OR 1=1 --`, `(((`, `)`, `-a`, `+a`, `a"b`, `"""`,
		"ünïcödé", "日本語のテキスト", "ﬁle", "İstanbul", "straße", "e\u0301", "\u0301", "٣٤٥", "Ⅻ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "a\x00b",
		"\xff\xfe", strings.Repeat("a", 200), strings.Repeat("a ", 100), "secretnote", "secretnote printer",
	} {
		f.Add(s)
	}
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(f.TempDir(), "search.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	var reqID, staffID, unitID int64
	if err := d.W.QueryRowContext(ctx, `INSERT INTO users (email, name, created_at, updated_at) VALUES ('r@example.org', 'R', '2024-01-01', '2024-01-01') RETURNING id`).Scan(&reqID); err != nil {
		f.Fatal(err)
	}
	if err := d.W.QueryRowContext(ctx, `INSERT INTO users (email, name, created_at, updated_at) VALUES ('s@example.org', 'S', '2024-01-01', '2024-01-01') RETURNING id`).Scan(&staffID); err != nil {
		f.Fatal(err)
	}
	if err := d.W.QueryRowContext(ctx, `INSERT INTO units (slug, name, created_at, updated_at) VALUES ('ops', 'Ops', '2024-01-01', '2024-01-01') RETURNING id`).Scan(&unitID); err != nil {
		f.Fatal(err)
	}
	s := NewStore(d, Options{})
	requester := &auth.Principal{UserID: reqID, Role: auth.RoleUser, Units: map[int64]auth.UnitRole{}}
	staff := &auth.Principal{UserID: staffID, Role: auth.RoleUser, Units: map[int64]auth.UnitRole{unitID: auth.UnitMember}}
	for _, body := range []string{"The printer is on fire", "ünïcödé straße İstanbul 日本語のテキスト", "a b c NEAR AND OR NOT"} {
		t, err := s.Create(ctx, requester, NewTicket{Subject: body, Body: body + " body", UnitID: unitID})
		if err != nil {
			f.Fatal(err)
		}
		if _, err := s.AddMessage(ctx, staff, t.ID, NewMessage{Body: "secretnote only for staff", Internal: true}); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, q string) {
		terms := SearchTerms(q)
		if len(terms) > maxTerms {
			t.Fatalf("%d terms", len(terms))
		}
		for _, term := range terms {
			if term == "" || utf8.RuneCountInString(term) > maxTermLen || !utf8.ValidString(term) {
				t.Fatalf("bad term %q from %q", term, q)
			}
			for _, r := range term {
				if !unicode.IsLetter(r) && !unicode.IsNumber(r) {
					t.Fatalf("term %q from %q holds %q", term, q, r)
				}
			}
		}
		if len(terms) > 0 {
			var n int
			if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM search_fts WHERE search_fts MATCH $1`, FTS5Query(terms)).Scan(&n); err != nil {
				t.Fatalf("MATCH %q (from %q): %v", FTS5Query(terms), q, err)
			}
		}
		if !utf8.ValidString(q) || len(q) > 1000 {
			return // the API refuses these before the store
		}
		ts, err := s.List(ctx, requester, Filter{Query: q})
		if err != nil {
			t.Fatalf("List(%q) as requester: %v", q, err)
		}
		if _, err := s.List(ctx, staff, Filter{Query: q}); err != nil {
			t.Fatalf("List(%q) as staff: %v", q, err)
		}
		// Only the internal note says "secretnote" (and "only", "staff"):
		// a requester's search must not find a ticket through it.
		for _, term := range terms {
			if term == "secretnote" && len(ts) > 0 {
				t.Fatalf("requester's search %q matched an internal note", q)
			}
		}
	})
}
