package redmine5

import (
	"testing"

	"github.com/helpmesh/helpmesh/internal/ticket"
)

func TestStatusRoundTrip(t *testing.T) {
	c := &Client{}
	for s, name := range statusToRedmine {
		back := helpmeshStatus(name, name == "Closed" || name == "Rejected")
		if c.PeerStatus(string(s)) != c.PeerStatus(back) {
			t.Errorf("%s -> %s -> %s shows as another Redmine status", s, name, back)
		}
	}
	if got := c.PeerStatus("assigned"); got != c.PeerStatus("new") {
		t.Errorf("assigned and new show as %q and %q, want one status", got, c.PeerStatus("new"))
	}
	if got := helpmeshStatus("Triage", true); got != string(ticket.Closed) {
		t.Errorf("an unknown closed status maps to %q, want closed", got)
	}
	if got := helpmeshStatus("Triage", false); got != string(ticket.InProgress) {
		t.Errorf("an unknown open status maps to %q, want in_progress", got)
	}
}

func TestPriorityRoundTrip(t *testing.T) {
	for p, name := range priorityToRedmine {
		if back := helpmeshPriority(name); back != string(p) {
			t.Errorf("%s -> %s -> %s", p, name, back)
		}
	}
	if got := helpmeshPriority("Low"); got != string(ticket.LessUrgent) {
		t.Errorf("Low maps to %q, want less_urgent", got)
	}
}
