package tmf621

// TMF621's coarse statuses.
const (
	Acknowledged = "acknowledged"
	InProgress   = "inProgress"
	Pending      = "pending"
	Held         = "held"
	Resolved     = "resolved"
	Closed       = "closed"
	Cancelled    = "cancelled"
	Rejected     = "rejected"
)

// CoarseStatuses lists TMF621's statuses.
var CoarseStatuses = []string{Acknowledged, InProgress, Pending, Held, Resolved, Closed, Cancelled, Rejected}

// toCoarse maps helpmesh's statuses to TMF621's.
var toCoarse = map[string]string{
	"new":               Acknowledged,
	"assigned":          Acknowledged,
	"in_progress":       InProgress,
	"waiting_for_reply": Pending,
	"on_hold":           Held,
	"reopened":          InProgress,
	"solved":            Resolved,
	"unsolved":          Resolved,
	"verified":          Closed,
	"closed":            Closed,
}

// fromCoarse maps TMF621's statuses to helpmesh's, for foreign clients
// that send no helpmesh.status characteristic.
var fromCoarse = map[string]string{
	Acknowledged: "assigned",
	InProgress:   "in_progress",
	Pending:      "waiting_for_reply",
	Held:         "on_hold",
	Resolved:     "solved",
	Closed:       "closed",
	Cancelled:    "unsolved",
	Rejected:     "unsolved",
}

// ToCoarse returns the TMF621 status of helpmesh status s ("" when unknown).
func ToCoarse(s string) string { return toCoarse[s] }

// FromCoarse returns the helpmesh status of TMF621 status s ("" when unknown).
func FromCoarse(s string) string { return fromCoarse[s] }
