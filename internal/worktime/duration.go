// Package worktime holds working-time calendars (a time zone, working days
// and hours, holidays) and the durations of helpmesh's policies, written
// "5wd" (working days), "4wh" (working hours) or as a plain Go duration
// ("90s", "2h": wall-clock time, for tests and 24x7 units).
package worktime

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Unit is what a Duration counts.
type Unit int

// Units of a Duration.
const (
	Wall      Unit = iota // wall-clock time
	WorkHours             // hours of the calendar's working time
	WorkDays              // working days of the calendar's working time
)

// Duration is a policy's duration: wall-clock time, or an amount of a
// calendar's working time.
type Duration struct {
	Unit Unit
	// Wall is the time of a wall-clock duration.
	Wall time.Duration
	// N counts working hours or days.
	N int
}

// maxWorking bounds N, so that no sum overflows and no walk through a
// calendar takes long: ten years of working days.
const maxWorking = 10 * 366

// ParseDuration reads "5wd", "4wh" or a positive Go duration ("90s", "2h").
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]Unit{"wd": WorkDays, "wh": WorkHours} {
		num, ok := strings.CutSuffix(s, suffix)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n <= 0 || n > maxWorkingOf(unit) {
			return Duration{}, fmt.Errorf("%q: the number of working %s must be a positive whole number (at most %d)", s, unitName(unit), maxWorkingOf(unit))
		}
		return Duration{Unit: unit, N: n}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return Duration{}, fmt.Errorf("%q is neither working days (5wd), working hours (4wh) nor a duration such as 90s or 2h", s)
	}
	if d <= 0 {
		return Duration{}, fmt.Errorf("%q must be positive", s)
	}
	return Duration{Unit: Wall, Wall: d}, nil
}

// MustDuration is ParseDuration for constants; it panics on an error.
func MustDuration(s string) Duration {
	d, err := ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

// ParseDurations reads a comma-separated list of durations; "" and "none"
// are the empty list.
func ParseDurations(s string) ([]Duration, error) {
	if s = strings.TrimSpace(s); s == "" || s == "none" {
		return nil, nil
	}
	var ds []Duration
	var errs []error
	for _, f := range strings.Split(s, ",") {
		d, err := ParseDuration(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ds = append(ds, d)
	}
	return ds, errors.Join(errs...)
}

func unitName(u Unit) string {
	if u == WorkDays {
		return "days"
	}
	return "hours"
}

func maxWorkingOf(u Unit) int {
	if u == WorkDays {
		return maxWorking
	}
	return maxWorking * 24
}

// String writes d as ParseDuration reads it.
func (d Duration) String() string {
	switch d.Unit {
	case WorkDays:
		return strconv.Itoa(d.N) + "wd"
	case WorkHours:
		return strconv.Itoa(d.N) + "wh"
	}
	return d.Wall.String()
}

// working returns the working time d is on calendar c.
func (d Duration) working(c *Calendar) time.Duration {
	switch d.Unit {
	case WorkDays:
		return time.Duration(d.N) * c.DayLength()
	case WorkHours:
		return time.Duration(d.N) * time.Hour
	}
	return d.Wall
}

// MinElapsed is the least wall-clock time that passes between a start and
// c.Add(start, d): working time passes no faster than the clock. A scan
// for what is due looks at what started at least that long ago.
func (d Duration) MinElapsed(c *Calendar) time.Duration { return d.working(c) }

// MinElapsedAny is MinElapsed bounded for every calendar, c and those with
// a shorter working day: N working days span N distinct days, so at least
// N-1 whole days pass. A scan over tickets on many calendars reads what
// started at least that long ago.
func (d Duration) MinElapsedAny(c *Calendar) time.Duration {
	if d.Unit != WorkDays {
		return d.working(c)
	}
	return min(d.working(c), time.Duration(d.N-1)*24*time.Hour)
}

// Less tells whether d is shorter than e on every calendar: both count the
// same unit, and d counts less.
func (d Duration) Less(e Duration) bool {
	if d.Unit != e.Unit {
		return false
	}
	if d.Unit == Wall {
		return d.Wall < e.Wall
	}
	return d.N < e.N
}
