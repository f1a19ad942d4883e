package worktime

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Spec is a calendar as people write it (and as a unit's calendar field
// holds it): {"timezone": "Europe/Berlin", "days": "Mon-Fri", "hours":
// "09:00-17:00", "holidays": ["2026-12-25"]}.
type Spec struct {
	Timezone string   `json:"timezone"`
	Days     string   `json:"days"`
	Hours    string   `json:"hours"`
	Holidays []string `json:"holidays,omitempty"`
}

// DefaultSpec is the calendar when none is configured.
const DefaultSpec = "Mon-Fri 09:00-17:00 UTC"

// Calendar is a checked Spec: the working time of a unit.
type Calendar struct {
	spec        Spec
	loc         *time.Location
	days        [7]bool // by time.Weekday
	open, close int     // minutes after local midnight; close may be 24*60
	holidays    map[string]bool
}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// New checks spec and returns its calendar. The errors name the field.
func New(spec Spec) (*Calendar, error) {
	c := &Calendar{spec: spec, holidays: map[string]bool{}}
	c.spec.Holidays = slices.Clone(spec.Holidays)
	var errs []error
	if spec.Timezone == "" {
		errs = append(errs, errors.New("timezone: is required (e.g. UTC or Europe/Berlin)"))
	} else if loc, err := time.LoadLocation(spec.Timezone); err != nil || strings.EqualFold(spec.Timezone, "local") {
		errs = append(errs, fmt.Errorf("timezone: %q is not a time zone of the IANA database (e.g. UTC or Europe/Berlin)", spec.Timezone))
	} else {
		c.loc = loc
	}
	if err := c.parseDays(spec.Days); err != nil {
		errs = append(errs, fmt.Errorf("days: %w", err))
	}
	if err := c.parseHours(spec.Hours); err != nil {
		errs = append(errs, fmt.Errorf("hours: %w", err))
	}
	for _, h := range spec.Holidays {
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(h))
		if err != nil {
			errs = append(errs, fmt.Errorf("holidays: %q is not a date written 2026-12-25", h))
			continue
		}
		c.holidays[d.Format(time.DateOnly)] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("calendar: %w", err)
	}
	return c, nil
}

// Parse reads a calendar written on one line, "Mon-Fri 09:00-17:00 UTC",
// optionally followed by holidays ("... 2026-12-25,2026-12-26"), or as
// the JSON of a Spec.
func Parse(s string) (*Calendar, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		var spec Spec
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			return nil, fmt.Errorf("calendar: not a calendar object {timezone, days, hours, holidays}: %w", err)
		}
		return New(spec)
	}
	f := strings.Fields(s)
	if len(f) < 3 || len(f) > 4 {
		return nil, fmt.Errorf("calendar: %q is not written DAYS HOURS TIMEZONE [HOLIDAYS], e.g. %q", s, DefaultSpec+" 2026-12-25,2026-12-26")
	}
	spec := Spec{Days: f[0], Hours: f[1], Timezone: f[2]}
	if len(f) == 4 {
		spec.Holidays = strings.Split(f[3], ",")
	}
	return New(spec)
}

// Default returns the calendar DefaultSpec.
func Default() *Calendar {
	c, err := Parse(DefaultSpec)
	if err != nil {
		panic(err)
	}
	return c
}

// parseDays reads "Mon-Fri", "Mon,Wed,Fri", "Sun-Thu" or "Mon-Sun".
func (c *Calendar) parseDays(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("are required (e.g. Mon-Fri)")
	}
	day := func(name string) (int, error) {
		i := slices.Index(weekdays, strings.ToLower(strings.TrimSpace(name)))
		if i < 0 {
			return 0, fmt.Errorf("%q is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)", name)
		}
		return i, nil
	}
	for _, part := range strings.Split(s, ",") {
		from, to, isRange := strings.Cut(part, "-")
		a, err := day(from)
		if err != nil {
			return err
		}
		b := a
		if isRange {
			if b, err = day(to); err != nil {
				return err
			}
		}
		for i := a; ; i = (i + 1) % 7 {
			c.days[i] = true
			if i == b {
				break
			}
		}
	}
	return nil
}

// parseHours reads "09:00-17:00"; the end may be 24:00.
func (c *Calendar) parseHours(s string) error {
	from, to, ok := strings.Cut(strings.TrimSpace(s), "-")
	clock := func(v string) (int, bool) {
		var h, m int
		if len(v) != 5 || v[2] != ':' {
			return 0, false
		}
		if _, err := fmt.Sscanf(v, "%02d:%02d", &h, &m); err != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
			return 0, false
		}
		return h*60 + m, true
	}
	a, okA := clock(from)
	b, okB := clock(to)
	switch {
	case !ok || !okA || !okB:
		return fmt.Errorf("%q is not written HH:MM-HH:MM, e.g. 09:00-17:00", s)
	case a >= b:
		return fmt.Errorf("%q ends before it starts", s)
	}
	c.open, c.close = a, b
	return nil
}

// Spec returns the calendar as it was written.
func (c *Calendar) Spec() Spec {
	s := c.spec
	s.Holidays = slices.Clone(c.spec.Holidays)
	return s
}

// String writes c on one line, as Parse reads it.
func (c *Calendar) String() string {
	s := c.spec.Days + " " + c.spec.Hours + " " + c.spec.Timezone
	if len(c.spec.Holidays) > 0 {
		s += " " + strings.Join(c.spec.Holidays, ",")
	}
	return s
}

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// DayLength is the working time of one working day: what "1wd" counts.
func (c *Calendar) DayLength() time.Duration { return time.Duration(c.close-c.open) * time.Minute }

// working returns the working hours of the local day that starts at
// midnight, and whether it is a working day at all.
func (c *Calendar) working(y int, m time.Month, d int) (open, close time.Time, ok bool) {
	midnight := time.Date(y, m, d, 0, 0, 0, 0, c.loc)
	if !c.days[midnight.Weekday()] || c.holidays[midnight.Format(time.DateOnly)] {
		return time.Time{}, time.Time{}, false
	}
	open = time.Date(y, m, d, c.open/60, c.open%60, 0, 0, c.loc)
	close = time.Date(y, m, d, c.close/60, c.close%60, 0, 0, c.loc) // 24:00 is the next midnight
	return open, close, true
}

// maxDays bounds the walk of Add: a calendar whose working days are all
// holidays for that long has no more working time.
const maxDays = 20 * 366

// Add returns when d has passed after start: on the wall clock for a
// wall-clock duration, else counting only the calendar's working time
// (its working days and hours in its time zone, holidays left out). A
// start outside working hours counts from the next opening. The result is
// in start's location.
func (c *Calendar) Add(start time.Time, d Duration) time.Time {
	if d.Unit == Wall {
		return start.Add(d.Wall)
	}
	return c.addWorking(start, d.working(c))
}

// AddFraction returns when the fraction f (0 < f <= 1) of d has passed
// after start, counted as Add counts: the QoS warning at 75 % of a
// response time. Working time is counted to the minute.
func (c *Calendar) AddFraction(start time.Time, d Duration, f float64) time.Time {
	if d.Unit == Wall {
		return start.Add(time.Duration(float64(d.Wall) * f))
	}
	return c.addWorking(start, time.Duration(float64(d.working(c))*f).Round(time.Minute))
}

// addWorking returns when left of the calendar's working time has passed
// after start.
func (c *Calendar) addWorking(start time.Time, left time.Duration) time.Time {
	t := start.In(c.loc)
	y, m, day := t.Date()
	for range maxDays {
		open, close, ok := c.working(y, m, day)
		if ok && t.Before(close) {
			if t.Before(open) {
				t = open
			}
			span := close.Sub(t)
			if left <= span {
				return t.Add(left).In(start.Location())
			}
			left -= span
		}
		y, m, day = time.Date(y, m, day+1, 0, 0, 0, 0, c.loc).Date()
		t = time.Date(y, m, day, 0, 0, 0, 0, c.loc)
	}
	return time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) // no working time left
}
