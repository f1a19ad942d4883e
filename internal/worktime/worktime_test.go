package worktime

import (
	"strings"
	"testing"
	"time"
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAdd(t *testing.T) {
	const office = "Mon-Fri 09:00-17:00 UTC"
	const berlin = "Mon-Fri 09:00-17:00 Europe/Berlin"
	for _, c := range []struct {
		name, cal, start, dur, want string
	}{
		{"within a day", office, "2026-03-02T10:00:00Z", "4wh", "2026-03-02T14:00:00Z"},
		{"to the closing minute", office, "2026-03-06T16:00:00Z", "1wh", "2026-03-06T17:00:00Z"},
		{"over the weekend", office, "2026-03-06T15:00:00Z", "4wh", "2026-03-09T11:00:00Z"},
		{"start on a Saturday", office, "2026-03-07T12:00:00Z", "1wh", "2026-03-09T10:00:00Z"},
		{"start before opening", office, "2026-03-02T07:00:00Z", "1wd", "2026-03-02T17:00:00Z"},
		{"start after closing", office, "2026-03-02T18:00:00Z", "1wd", "2026-03-03T17:00:00Z"},
		{"working hours over days", office, "2026-03-02T16:00:00Z", "10wh", "2026-03-04T10:00:00Z"},
		{"five working days is a week", office, "2026-03-06T16:00:00Z", "5wd", "2026-03-13T16:00:00Z"},
		{"ten working days", office, "2026-03-02T10:00:00Z", "10wd", "2026-03-16T10:00:00Z"},
		{"a holiday is skipped", office + " 2026-12-25", "2026-12-24T10:00:00Z", "1wd", "2026-12-28T10:00:00Z"},
		{"holidays in a row", office + " 2026-12-25,2026-12-28,2026-12-29", "2026-12-24T16:00:00Z", "2wh", "2026-12-30T10:00:00Z"},
		{"start on a holiday", office + " 2026-12-25", "2026-12-25T10:00:00Z", "1wh", "2026-12-28T10:00:00Z"},
		// Europe/Berlin moves to summer time on Sunday 29 March 2026 and
		// back on Sunday 25 October 2026: 09:00-17:00 stays local time.
		{"Berlin, over the March change", berlin, "2026-03-27T15:00:00Z", "1wd", "2026-03-30T14:00:00Z"},
		{"Berlin, over the October change", berlin, "2026-10-23T14:00:00Z", "1wd", "2026-10-26T15:00:00Z"},
		{"Berlin, opening before and after March", berlin, "2026-03-27T20:00:00Z", "1wh", "2026-03-30T08:00:00Z"},
		{"24x7 over the short day", "Mon-Sun 00:00-24:00 Europe/Berlin", "2026-03-28T11:00:00Z", "24wh", "2026-03-29T11:00:00Z"},
		{"24x7: a working day is 24 hours, also the short day", "Mon-Sun 00:00-24:00 Europe/Berlin", "2026-03-28T23:00:00Z", "1wd", "2026-03-29T23:00:00Z"},
		{"another time zone", "Mon-Fri 09:00-17:00 America/New_York", "2026-03-02T13:00:00Z", "1wh", "2026-03-02T15:00:00Z"},
		{"working days around the week's end", "Sun-Thu 08:00-16:00 Asia/Jerusalem", "2026-03-05T13:00:00Z", "2wh", "2026-03-08T07:00:00Z"},
		{"wall-clock time ignores the calendar", office, "2026-03-07T12:00:00Z", "90s", "2026-03-07T12:01:30Z"},
		{"wall-clock hours", berlin, "2026-03-28T23:30:00Z", "2h", "2026-03-29T01:30:00Z"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cal, err := Parse(c.cal)
			if err != nil {
				t.Fatal(err)
			}
			d, err := ParseDuration(c.dur)
			if err != nil {
				t.Fatal(err)
			}
			start := at(t, c.start)
			got := cal.Add(start, d)
			if want := at(t, c.want); !got.Equal(want) {
				t.Errorf("Add(%s, %s) = %s, want %s", c.start, c.dur, got.UTC().Format(time.RFC3339), c.want)
			}
			if got.Location() != start.Location() {
				t.Errorf("the result is in %s, not in the start's location", got.Location())
			}
			if el := got.Sub(start); el < d.MinElapsed(cal) || el < d.MinElapsedAny(Default()) {
				t.Errorf("%s elapsed, less than MinElapsed %s or MinElapsedAny %s", el, d.MinElapsed(cal), d.MinElapsedAny(Default()))
			}
		})
	}
}

func TestAddNoWorkingTimeLeft(t *testing.T) {
	cal, err := New(Spec{Timezone: "UTC", Days: "Mon", Hours: "09:00-10:00"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cal.Add(at(t, "2026-03-02T09:00:00Z"), MustDuration("2wh")); !got.Equal(at(t, "2026-03-09T10:00:00Z")) {
		t.Errorf("one hour a week: %s", got)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]Duration{
		"5wd": {Unit: WorkDays, N: 5}, " 4wh ": {Unit: WorkHours, N: 4},
		"90s": {Unit: Wall, Wall: 90 * time.Second}, "2h": {Unit: Wall, Wall: 2 * time.Hour},
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %+v, %v", in, got, err)
		}
		if again, _ := ParseDuration(got.String()); again != got {
			t.Errorf("%q does not read back", got.String())
		}
	}
	for _, in := range []string{"", "0wd", "-1wd", "1.5wd", "5xd", "wd", "abc", "0s", "-2h", "99999wd", "5 wd"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %+v, want an error", in, d)
		}
	}
	ds, err := ParseDurations("5wd, 10wd")
	if err != nil || len(ds) != 2 || ds[1].N != 10 {
		t.Errorf("ParseDurations: %v %v", ds, err)
	}
	if ds, err := ParseDurations("none"); err != nil || ds != nil {
		t.Errorf("none: %v %v", ds, err)
	}
	if _, err := ParseDurations("5wd,soon"); err == nil || !strings.Contains(err.Error(), "soon") {
		t.Errorf("a bad item: %v", err)
	}
	if !MustDuration("5wd").Less(MustDuration("10wd")) || MustDuration("5wd").Less(MustDuration("1h")) {
		t.Error("Less")
	}
}

func TestParseCalendar(t *testing.T) {
	cal, err := Parse(`{"timezone": "Europe/Berlin", "days": "Mon-Fri", "hours": "08:30-16:30", "holidays": ["2026-12-25"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if cal.DayLength() != 8*time.Hour || cal.Location().String() != "Europe/Berlin" || cal.String() != "Mon-Fri 08:30-16:30 Europe/Berlin 2026-12-25" {
		t.Errorf("parsed %s, day %s", cal, cal.DayLength())
	}
	if again, err := Parse(cal.String()); err != nil || again.Spec().Hours != "08:30-16:30" {
		t.Errorf("does not read back: %v", err)
	}
	if Default().String() != DefaultSpec {
		t.Errorf("default %s", Default())
	}
	for in, want := range map[string]string{
		"Mon-Fri 09:00-17:00 Mars/Olympus":                          "timezone",
		"Mon-Fri 09:00-17:00 Local":                                 "timezone",
		"Mon-Fry 09:00-17:00 UTC":                                   "days",
		"Mon-Fri 17:00-09:00 UTC":                                   "ends before it starts",
		"Mon-Fri 9-17 UTC":                                          "hours",
		"Mon-Fri 09:00-25:00 UTC":                                   "hours",
		"Mon-Fri 09:00-17:60 UTC":                                   "hours",
		"Mon-Fri 09:00-17:00 UTC 2026-13-01":                        "holidays",
		"Mon-Fri 09:00-17:00 UTC 25.12.2026":                        "holidays",
		"Mon-Fri":                                                   "DAYS HOURS TIMEZONE",
		`{"timezone": "UTC", "days": "", "hours": "09:00-17:00"}`:   "days",
		`{"timezone": "", "days": "Mon", "hours": "09:00-17:00"}`:   "timezone",
		`{"timezone": "UTC", "days": "Mon", "hour": "09:00-17:00"}`: "unknown field",
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error about %s", in, err, want)
		}
	}
}

// TestMinElapsedAny: on a calendar with a one-minute working day, ten
// working days pass in less than MinElapsed of the default calendar, but
// never in less than MinElapsedAny.
func TestMinElapsedAny(t *testing.T) {
	short, err := Parse("Mon-Fri 16:59-17:00 UTC")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"10wd", "1wd", "3wh", "90s"} {
		d := MustDuration(s)
		for _, start := range []string{"2026-03-02T16:59:30Z", "2026-03-02T08:00:00Z", "2026-03-06T16:59:59Z"} {
			el := short.Add(at(t, start), d).Sub(at(t, start))
			if el < d.MinElapsedAny(Default()) {
				t.Errorf("%s from %s on a one-minute day: %s elapsed, less than MinElapsedAny %s", s, start, el, d.MinElapsedAny(Default()))
			}
		}
	}
	if d := MustDuration("10wd"); d.MinElapsedAny(Default()) != 80*time.Hour || d.MinElapsed(short) != 10*time.Minute {
		t.Errorf("10wd: MinElapsedAny %s, MinElapsed on the short day %s", d.MinElapsedAny(Default()), d.MinElapsed(short))
	}
}
