package observe

import (
	"io"
	"log/slog"
	"time"
)

// NewLogHandler is helpmesh's log handler: JSON when format is "json",
// else text, at level. Every duration attribute is written the same way in
// both, in human units ("12.3ms", "1.5s") rather than JSON's nanoseconds;
// the request log adds duration_ms, a number, for machines.
func NewLogHandler(w io.Writer, format string, level slog.Leveler) slog.Handler {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: humanDurations}
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

func humanDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, HumanDuration(a.Value.Duration()))
	}
	return a
}

// HumanDuration rounds d to about three significant digits: 12.3ms, 1.23s,
// 456µs.
func HumanDuration(d time.Duration) string {
	abs := d.Abs()
	for _, r := range roundings {
		if abs >= r.atLeast {
			return d.Round(r.to).String()
		}
	}
	return d.String()
}

// roundings keep three significant digits of a duration of at least
// atLeast.
var roundings = []struct{ atLeast, to time.Duration }{
	{100 * time.Second, time.Second},
	{10 * time.Second, 100 * time.Millisecond},
	{time.Second, 10 * time.Millisecond},
	{100 * time.Millisecond, time.Millisecond},
	{10 * time.Millisecond, 100 * time.Microsecond},
	{time.Millisecond, 10 * time.Microsecond},
	{100 * time.Microsecond, time.Microsecond},
	{10 * time.Microsecond, 100 * time.Nanosecond},
	{time.Microsecond, 10 * time.Nanosecond},
}

// Millis is d in milliseconds, to the microsecond.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// NewLogger is a logger with NewLogHandler, at the level named by level
// (debug, info, warn, error; info when it is none of them).
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(NewLogHandler(w, format, l))
}
