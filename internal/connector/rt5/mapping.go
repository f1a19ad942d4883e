package rt5

import (
	"fmt"

	"github.com/helpmesh/helpmesh/internal/connector"
)

// rtStatus maps helpmesh's status to RT's default lifecycle
// (research/federation.md §3).
var rtStatus = map[string]string{
	"new":               "new",
	"assigned":          "new",
	"in_progress":       "open",
	"reopened":          "open",
	"waiting_for_reply": "stalled",
	"on_hold":           "stalled",
	"solved":            "resolved",
	"verified":          "resolved",
	"closed":            "resolved",
	"unsolved":          "rejected",
}

// hmStatus maps RT's status back; a status of a custom lifecycle maps to
// "" (not synchronised).
var hmStatus = map[string]string{
	"new":      "new",
	"open":     "in_progress",
	"stalled":  "on_hold",
	"resolved": "solved",
	"rejected": "unsolved",
	"deleted":  "unsolved",
}

// toRTStatus returns RT's status for helpmesh's, or a permanent error.
func toRTStatus(s string) (string, error) {
	if v, ok := rtStatus[s]; ok {
		return v, nil
	}
	return "", fmt.Errorf("rt5: no RT status for helpmesh's %q: %w", s, connector.ErrPermanent)
}

// rtPriority maps helpmesh's priority to RT's 0–100 scale (§3: 25/50/75/100).
var rtPriority = map[string]int64{
	"less_urgent":  25,
	"urgent":       50,
	"very_urgent":  75,
	"top_priority": 100,
}

// toRTPriority returns RT's priority for helpmesh's, or a permanent error.
func toRTPriority(p string) (int64, error) {
	if v, ok := rtPriority[p]; ok {
		return v, nil
	}
	return 0, fmt.Errorf("rt5: no RT priority for helpmesh's %q: %w", p, connector.ErrPermanent)
}

// fromRTPriority maps any RT priority to the nearest of helpmesh's.
func fromRTPriority(n int64) string {
	switch {
	case n < 38:
		return "less_urgent"
	case n < 63:
		return "urgent"
	case n < 88:
		return "very_urgent"
	default:
		return "top_priority"
	}
}
