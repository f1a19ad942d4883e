package ticket

import (
	"slices"
	"strings"
	"testing"
)

func TestCanMove(t *testing.T) {
	allowed := map[Status][]Status{
		New:             {Assigned, InProgress, WaitingForReply, OnHold, Solved, Unsolved},
		Assigned:        {InProgress, WaitingForReply, OnHold, Solved, Unsolved},
		InProgress:      {Assigned, WaitingForReply, OnHold, Solved, Unsolved},
		WaitingForReply: {InProgress, OnHold, Solved, Unsolved},
		OnHold:          {InProgress, WaitingForReply, Solved, Unsolved},
		Reopened:        {Assigned, InProgress, WaitingForReply, OnHold, Solved, Unsolved},
		Solved:          {Reopened, Verified},
		Unsolved:        {Reopened, Verified},
		Verified:        nil,
		Closed:          nil,
	}
	for _, from := range Statuses {
		for _, to := range Statuses {
			if got, want := CanMove(from, to), slices.Contains(allowed[from], to); got != want {
				t.Errorf("CanMove(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
		if CanMove(from, "bogus") || CanMove("bogus", from) {
			t.Errorf("bogus status moves with %s", from)
		}
		if got := Next(from); !slices.Equal(got, allowed[from]) {
			t.Errorf("Next(%s) = %v", from, got)
		}
		for _, to := range Statuses {
			want := (from == Solved || from == Unsolved) && to == Closed || from == WaitingForReply && to == Unsolved
			if TimerCanMove(from, to) != want {
				t.Errorf("TimerCanMove(%s, %s) = %v", from, to, !want)
			}
		}
		if from.Frozen() != (from == Verified || from == Closed) {
			t.Errorf("%s.Frozen()", from)
		}
		if from.Open() != !slices.Contains([]Status{Solved, Unsolved, Verified, Closed}, from) {
			t.Errorf("%s.Open()", from)
		}
	}
	// Next returns a copy.
	n := Next(New)
	n[0] = Closed
	if Next(New)[0] != Assigned {
		t.Error("Next shares the table")
	}
}

func TestSearchTerms(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"Printer FIRE", []string{"printer", "fire"}},
		{"printer printer Printer", []string{"printer"}},
		{`"quoted" AND (x OR y*) NEAR/3 -z`, []string{"quoted", "and", "x", "or", "y", "near", "3", "z"}},
		{"'; DROP TABLE tickets; --", []string{"drop", "table", "tickets"}},
		{"e-mail foo_bar a.b", []string{"e", "mail", "foo", "bar", "a", "b"}},
		{"Ünïcödé ΑΒΓ москва 東京", []string{"ünïcödé", "αβγ", "москва", "東京"}},
		{"emoji 😀 only", []string{"emoji", "only"}},
		{"a\x00b", []string{"a", "b"}},
		{strings.Repeat("x", 100), []string{strings.Repeat("x", 64)}},
		{"1 2 3 4 5 6 7 8 9 10 11 12 13 14", []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}},
	} {
		if got := SearchTerms(c.in); !slices.Equal(got, c.want) {
			t.Errorf("SearchTerms(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestFTS5Query(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"printer"}, `"printer"`},
		{[]string{"printer", "fire"}, `"printer" AND "fire"`},
		{[]string{`a"b`}, `"a""b"`},
		{[]string{"near", "or", "not"}, `"near" AND "or" AND "not"`},
	} {
		if got := FTS5Query(c.in); got != c.want {
			t.Errorf("FTS5Query(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestCheckSubjectAndBody(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"  Hello  ", "Hello", true},
		{strings.Repeat("é", MaxSubject), strings.Repeat("é", MaxSubject), true},
		{strings.Repeat("é", MaxSubject+1), "", false},
		{"", "", false},
		{"\t \n", "", false},
		{"a\nb", "", false},
		{"a\rb", "", false},
		{"a\x00b", "", false},
		{"bad \xff", "", false},
	} {
		got, err := CheckSubject(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("CheckSubject(%q) = %q, %v", c.in, got, err)
		}
	}
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"x", true}, {"  x\n\n", true}, {strings.Repeat("x", MaxBody), true}, {strings.Repeat("x", MaxBody+1), false},
		{"", false}, {" \n\t", false}, {"a\x00", false}, {"\xc3", false},
	} {
		if err := CheckBody(c.in); (err == nil) != c.ok {
			t.Errorf("CheckBody(%.20q): %v", c.in, err)
		}
	}
}

func TestStaffStatuses(t *testing.T) {
	got := StaffStatuses()
	want := []Status{Assigned, InProgress, WaitingForReply, OnHold, Reopened, Solved, Unsolved}
	if !slices.Equal(got, want) {
		t.Errorf("StaffStatuses() = %v, want %v", got, want)
	}
}
