package unit

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/worktime"
)

// QoS levels: committed response times by priority (research/operations.md
// §F). Custom is a unit's own QoS durations.
const (
	QoSBase     = "base"
	QoSMedium   = "medium"
	QoSAdvanced = "advanced"
	QoSCustom   = "custom"
)

// QoS is the response time a unit commits to for each priority, written
// as worktime durations ("5wd", "4wh", or wall-clock "90s").
type QoS struct {
	LessUrgent  string `json:"less_urgent"`
	Urgent      string `json:"urgent"`
	VeryUrgent  string `json:"very_urgent"`
	TopPriority string `json:"top_priority"`
}

// qosTables are the GGUS QoS levels: base 5 working days for every
// priority; medium 5, 5, 1, 1 days; advanced 5 days, 1 day, 1 day, 4 hours
// (less urgent to top priority).
var qosTables = map[string]QoS{
	QoSBase:     {LessUrgent: "5wd", Urgent: "5wd", VeryUrgent: "5wd", TopPriority: "5wd"},
	QoSMedium:   {LessUrgent: "5wd", Urgent: "5wd", VeryUrgent: "1wd", TopPriority: "1wd"},
	QoSAdvanced: {LessUrgent: "5wd", Urgent: "1wd", VeryUrgent: "1wd", TopPriority: "4wh"},
}

// QoSTable returns the response times of a GGUS level (base, medium,
// advanced), and whether there is such a level.
func QoSTable(level string) (QoS, bool) {
	q, ok := qosTables[level]
	return q, ok
}

// fields names q's durations as the API does.
func (q *QoS) fields() []struct {
	name string
	v    *string
} {
	return []struct {
		name string
		v    *string
	}{{"less_urgent", &q.LessUrgent}, {"urgent", &q.Urgent}, {"very_urgent", &q.VeryUrgent}, {"top_priority", &q.TopPriority}}
}

// For returns the response time of a priority (its name: less_urgent,
// urgent, very_urgent, top_priority); false for an unknown priority.
func (q QoS) For(priority string) (worktime.Duration, bool) {
	for _, f := range q.fields() {
		if f.name == priority {
			d, err := worktime.ParseDuration(*f.v)
			return d, err == nil
		}
	}
	return worktime.Duration{}, false
}

// check parses every duration of q, written back as ParseDuration reads them.
func (q *QoS) check() error {
	for _, f := range q.fields() {
		if strings.TrimSpace(*f.v) == "" {
			return apperr.Field("qos", "%s: is required with qos_level custom (e.g. 5wd, 4wh or 90s)", f.name)
		}
		d, err := worktime.ParseDuration(*f.v)
		if err != nil {
			return apperr.Field("qos", "%s: %v", f.name, err)
		}
		*f.v = d.String()
	}
	return nil
}

// ResponseTimes returns the response times u commits to: its level's
// table, or its own durations when its level is custom.
func (u *Unit) ResponseTimes() QoS {
	if u.QoSLevel == QoSCustom && u.QoS != nil {
		return *u.QoS
	}
	q, ok := qosTables[u.QoSLevel]
	if !ok {
		q = qosTables[QoSBase]
	}
	return q
}

// WorkCalendar returns u's calendar, or def when u has none of its own.
func (u *Unit) WorkCalendar(def *worktime.Calendar) (*worktime.Calendar, error) {
	if u.Calendar == nil {
		return def, nil
	}
	c, err := worktime.New(*u.Calendar)
	if err != nil {
		return nil, fmt.Errorf("unit %s: %w", u.Slug, err)
	}
	return c, nil
}

// checkQoS validates u's level, QoS durations and calendar. A unit whose
// level is not custom may be given durations only if they are its level's
// (what a read shows, sent back).
func (u *Unit) checkQoS() error {
	switch u.QoSLevel {
	case "":
		u.QoSLevel = QoSBase
		if u.QoS != nil {
			u.QoSLevel = QoSCustom
		}
	case QoSBase, QoSMedium, QoSAdvanced, QoSCustom:
	default:
		return apperr.Field("qos_level", "%q is not base, medium, advanced or custom", u.QoSLevel)
	}
	if u.QoSLevel == QoSCustom {
		if u.QoS == nil {
			return apperr.Field("qos", "is required with qos_level custom: {less_urgent, urgent, very_urgent, top_priority}")
		}
		if err := u.QoS.check(); err != nil {
			return err
		}
	} else if u.QoS != nil {
		q := *u.QoS
		if err := q.check(); err != nil {
			return err
		}
		if q != qosTables[u.QoSLevel] {
			return apperr.Field("qos", "sets the durations of qos_level custom; qos_level is %s", u.QoSLevel)
		}
		u.QoS = nil
	}
	if u.Calendar != nil {
		c, err := worktime.New(*u.Calendar)
		if err != nil {
			return apperr.Field("calendar", "%s", strings.TrimPrefix(err.Error(), "calendar: "))
		}
		spec := c.Spec()
		u.Calendar = &spec
	}
	return nil
}

// The database keeps a custom unit's durations in units.qos and its
// qos_level as base (the column's CHECK predates custom levels): a unit
// with durations is custom. The calendar is units.calendar, "" for the
// default.

// qosColumns returns what units.qos_level, units.qos and units.calendar
// hold for u.
func (u *Unit) qosColumns() (level, qos, calendar string) {
	level = u.QoSLevel
	if level == QoSCustom && u.QoS != nil {
		b, _ := json.Marshal(u.QoS) // strings always marshal
		level, qos = QoSBase, string(b)
	}
	if u.Calendar != nil {
		b, _ := json.Marshal(u.Calendar)
		calendar = string(b)
	}
	return level, qos, calendar
}

// setQoSColumns reads what qosColumns wrote.
func (u *Unit) setQoSColumns(qos, calendar string) error {
	if qos != "" {
		u.QoS = &QoS{}
		if err := json.Unmarshal([]byte(qos), u.QoS); err != nil {
			return fmt.Errorf("unit %s: qos: %w", u.Slug, err)
		}
		u.QoSLevel = QoSCustom
	}
	if calendar != "" {
		u.Calendar = &worktime.Spec{}
		if err := json.Unmarshal([]byte(calendar), u.Calendar); err != nil {
			return fmt.Errorf("unit %s: calendar: %w", u.Slug, err)
		}
	}
	return nil
}
