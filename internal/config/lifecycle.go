package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/worktime"
)

// Lifecycle is the configuration of the working-time calendar and the
// ticket lifecycle timers (DESIGN.md "QoS, calendars and the ticket
// lifecycle").
type Lifecycle struct {
	// Calendar is the working time of units without a calendar of their
	// own (HELPMESH_CALENDAR, default "Mon-Fri 09:00-17:00 UTC").
	Calendar *worktime.Calendar
	// CloseAfter: solved and unsolved tickets are closed this long after
	// they were solved (HELPMESH_CLOSE_AFTER, default 10wd).
	CloseAfter worktime.Duration
	// WaitingReminders: the requester of a ticket waiting for their reply
	// is reminded this long after it started waiting
	// (HELPMESH_WAITING_REMINDERS, default 5wd,10wd; "none" for none).
	WaitingReminders []worktime.Duration
	// WaitingUnsolved: a ticket still waiting this long after it started
	// waiting becomes unsolved (HELPMESH_WAITING_UNSOLVED, default 15wd).
	WaitingUnsolved worktime.Duration
	// TimerInterval is how often the timers look for due tickets
	// (HELPMESH_TIMER_INTERVAL, default 1m).
	TimerInterval time.Duration
	// AlarmRepage: an alarm ticket nobody of its unit has responded to is
	// paged again this often (HELPMESH_ALARM_REPAGE, default 30m).
	AlarmRepage time.Duration
	// QoSWarning is the fraction of a unit's response time at which it is
	// warned (HELPMESH_QOS_WARNING, written "75%", the default).
	QoSWarning float64
}

func defaultLifecycle() Lifecycle {
	return Lifecycle{
		Calendar:         worktime.Default(),
		CloseAfter:       worktime.MustDuration("10wd"),
		WaitingReminders: []worktime.Duration{worktime.MustDuration("5wd"), worktime.MustDuration("10wd")},
		WaitingUnsolved:  worktime.MustDuration("15wd"),
		TimerInterval:    time.Minute,
		AlarmRepage:      30 * time.Minute,
		QoSWarning:       0.75,
	}
}

// load reads the lifecycle's variables into l and returns what
// does not parse, each error naming its variable.
func (l *Lifecycle) load(getenv func(string) string) []error {
	var errs []error
	bad := func(env string, err error) { errs = append(errs, fmt.Errorf("%s: %w", env, err)) }
	if v := getenv("HELPMESH_CALENDAR"); v != "" {
		if c, err := worktime.Parse(v); err != nil {
			bad("HELPMESH_CALENDAR", err)
		} else {
			l.Calendar = c
		}
	}
	for _, d := range []struct {
		env string
		dst *worktime.Duration
	}{{"HELPMESH_CLOSE_AFTER", &l.CloseAfter}, {"HELPMESH_WAITING_UNSOLVED", &l.WaitingUnsolved}} {
		if v := getenv(d.env); v != "" {
			if w, err := worktime.ParseDuration(v); err != nil {
				bad(d.env, err)
			} else {
				*d.dst = w
			}
		}
	}
	if v := getenv("HELPMESH_WAITING_REMINDERS"); v != "" {
		if ds, err := worktime.ParseDurations(v); err != nil {
			bad("HELPMESH_WAITING_REMINDERS", err)
		} else {
			l.WaitingReminders = ds
		}
	}
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{{"HELPMESH_TIMER_INTERVAL", &l.TimerInterval}, {"HELPMESH_ALARM_REPAGE", &l.AlarmRepage}} {
		if v := getenv(d.env); v != "" {
			if p, err := ParseDuration(v); err != nil {
				bad(d.env, err)
			} else {
				*d.dst = p
			}
		}
	}
	if v := getenv("HELPMESH_QOS_WARNING"); v != "" {
		if f, err := parsePercent(v); err != nil {
			bad("HELPMESH_QOS_WARNING", err)
		} else {
			l.QoSWarning = f
		}
	}
	return errs
}

// parsePercent reads a percentage between 1 % and 99 %, "75%", as a
// fraction.
func parsePercent(s string) (float64, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if !ok || err != nil || n < 1 || n > 99 {
		return 0, fmt.Errorf("%q is not a percentage between 1%% and 99%%, e.g. 75%%", s)
	}
	return n / 100, nil
}

// validate reports what is wrong with l through bad.
func (l *Lifecycle) validate(bad func(name, format string, a ...any)) {
	zero := worktime.Duration{}
	if l.Calendar == nil {
		bad("HELPMESH_CALENDAR", "is required, e.g. %q", worktime.DefaultSpec)
	}
	if l.CloseAfter == zero {
		bad("HELPMESH_CLOSE_AFTER", "is required, e.g. 10wd")
	}
	if l.WaitingUnsolved == zero {
		bad("HELPMESH_WAITING_UNSOLVED", "is required, e.g. 15wd")
	}
	for i, r := range l.WaitingReminders {
		if r == zero {
			bad("HELPMESH_WAITING_REMINDERS", "reminder %d has no duration", i+1)
		}
		if i > 0 && !l.WaitingReminders[i-1].Less(r) && r.Unit == l.WaitingReminders[i-1].Unit {
			bad("HELPMESH_WAITING_REMINDERS", "%s does not come after %s: list the reminders in the order they are sent", r, l.WaitingReminders[i-1])
		}
		if !r.Less(l.WaitingUnsolved) && r.Unit == l.WaitingUnsolved.Unit {
			bad("HELPMESH_WAITING_UNSOLVED", "%s is not after the reminder at %s (HELPMESH_WAITING_REMINDERS)", l.WaitingUnsolved, r)
		}
	}
	if l.TimerInterval < 100*time.Millisecond || l.TimerInterval > time.Hour {
		bad("HELPMESH_TIMER_INTERVAL", "%s is not between 100ms and 1h", l.TimerInterval)
	}
	if l.AlarmRepage < time.Second || l.AlarmRepage > 24*time.Hour {
		bad("HELPMESH_ALARM_REPAGE", "%s is not between 1s and 24h", l.AlarmRepage)
	}
}
