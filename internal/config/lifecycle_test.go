package config

import (
	"strings"
	"testing"
	"time"
)

func TestLifecycleDefaults(t *testing.T) {
	l := Default().Lifecycle
	if l.Calendar.String() != "Mon-Fri 09:00-17:00 UTC" || l.CloseAfter.String() != "10wd" || l.WaitingUnsolved.String() != "15wd" ||
		len(l.WaitingReminders) != 2 || l.WaitingReminders[0].String() != "5wd" || l.WaitingReminders[1].String() != "10wd" || l.TimerInterval != time.Minute || l.AlarmRepage != 30*time.Minute {
		t.Errorf("defaults: %+v", l)
	}
}

func TestLifecycleLoad(t *testing.T) {
	env := map[string]string{"HELPMESH_CALENDAR": "Mon-Fri 08:00-16:00 Europe/Berlin 2026-12-25", "HELPMESH_CLOSE_AFTER": "2s",
		"HELPMESH_WAITING_REMINDERS": "1s, 2s", "HELPMESH_WAITING_UNSOLVED": "3s", "HELPMESH_TIMER_INTERVAL": "200ms", "HELPMESH_ALARM_REPAGE": "1s",
		"HELPMESH_QOS_WARNING": "80%"}
	c, err := Load(nil, nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	l := c.Lifecycle
	if l.Calendar.Location().String() != "Europe/Berlin" || l.CloseAfter.Wall != 2*time.Second || len(l.WaitingReminders) != 2 ||
		l.WaitingReminders[1].Wall != 2*time.Second || l.WaitingUnsolved.Wall != 3*time.Second || l.TimerInterval != 200*time.Millisecond || l.AlarmRepage != time.Second ||
		l.QoSWarning != 0.8 {
		t.Errorf("loaded: %+v", l)
	}
	c, err = Load(nil, nil, func(k string) string {
		if k == "HELPMESH_WAITING_REMINDERS" {
			return "none"
		}
		return ""
	})
	if err != nil || c.Validate() != nil || len(c.Lifecycle.WaitingReminders) != 0 {
		t.Errorf("no reminders: %v %+v", err, c.Lifecycle)
	}
}

func TestLifecycleErrors(t *testing.T) {
	for _, c := range []struct{ env, val, want string }{
		{"HELPMESH_CALENDAR", "Mon-Fri 09:00-17:00 Mars/Olympus", "HELPMESH_CALENDAR: calendar: timezone"},
		{"HELPMESH_CALENDAR", "Mon-Fry 09:00-17:00 UTC", "HELPMESH_CALENDAR: calendar: days"},
		{"HELPMESH_CALENDAR", "Mon-Fri 17:00-09:00 UTC", "HELPMESH_CALENDAR: calendar: hours"},
		{"HELPMESH_CALENDAR", "Mon-Fri 09:00-17:00 UTC 2026-02-30", "HELPMESH_CALENDAR: calendar: holidays"},
		{"HELPMESH_CLOSE_AFTER", "soon", "HELPMESH_CLOSE_AFTER"},
		{"HELPMESH_CLOSE_AFTER", "0wd", "HELPMESH_CLOSE_AFTER"},
		{"HELPMESH_CLOSE_AFTER", "-5s", "HELPMESH_CLOSE_AFTER"},
		{"HELPMESH_WAITING_REMINDERS", "5wd,x", "HELPMESH_WAITING_REMINDERS"},
		{"HELPMESH_WAITING_REMINDERS", "10wd,5wd", "HELPMESH_WAITING_REMINDERS: 5wd does not come after 10wd"},
		{"HELPMESH_WAITING_REMINDERS", "5wd,20wd", "HELPMESH_WAITING_UNSOLVED: 15wd is not after the reminder at 20wd"},
		{"HELPMESH_WAITING_UNSOLVED", "1.5wd", "HELPMESH_WAITING_UNSOLVED"},
		{"HELPMESH_TIMER_INTERVAL", "1ms", "HELPMESH_TIMER_INTERVAL"},
		{"HELPMESH_TIMER_INTERVAL", "often", "HELPMESH_TIMER_INTERVAL"},
		{"HELPMESH_ALARM_REPAGE", "soon", "HELPMESH_ALARM_REPAGE"},
		{"HELPMESH_ALARM_REPAGE", "10ms", "HELPMESH_ALARM_REPAGE: 10ms is not between 1s and 24h"},
		{"HELPMESH_ALARM_REPAGE", "2wd", "HELPMESH_ALARM_REPAGE"},
		{"HELPMESH_QOS_WARNING", "75", "HELPMESH_QOS_WARNING: \"75\" is not a percentage"},
		{"HELPMESH_QOS_WARNING", "100%", "HELPMESH_QOS_WARNING"},
		{"HELPMESH_QOS_WARNING", "0%", "HELPMESH_QOS_WARNING"},
		{"HELPMESH_QOS_WARNING", "most%", "HELPMESH_QOS_WARNING"},
	} {
		cfg, err := Load(nil, nil, func(k string) string {
			if k == c.env {
				return c.val
			}
			return ""
		})
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: %v, want %q", c.env, c.val, err, c.want)
		}
	}
}
