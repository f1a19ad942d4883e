package webhook_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/webhook"
)

// TestChatPostFormats: the one builder differs by format only where the
// services do: a top-priority ticket or an alarm notifies the channel
// (<!channel> on Slack, @channel on Mattermost and Rocket.Chat) and is
// urgent with an acknowledgement on Mattermost; the colour follows the
// priority and the attachment links the ticket.
func TestChatPostFormats(t *testing.T) {
	b := ticket.Brief{ID: 7, Subject: "Site down & out", Status: "assigned", Priority: ticket.TopPriority}
	for _, c := range []struct {
		format, mention string
		urgent          bool
	}{{webhook.Slack, "<!channel> ", false}, {webhook.Mattermost, "@channel ", true}, {webhook.RocketChat, "@channel ", false}} {
		raw, err := json.Marshal(webhook.ChatPost(c.format, "https://help.example/", event.Event{Type: "ticket.alarm", TicketID: 7}, b))
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Text        string
			Attachments []struct {
				Color     string
				TitleLink string `json:"title_link"`
			}
			Priority *struct {
				Priority     string `json:"priority"`
				RequestedAck bool   `json:"requested_ack"`
			}
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.Text, c.mention+"ALARM ticket <https://help.example/tickets/7|#7>: Site down &amp; out") {
			t.Errorf("%s: text %q", c.format, p.Text)
		}
		if len(p.Attachments) != 1 || p.Attachments[0].Color != "#d0021b" || p.Attachments[0].TitleLink != "https://help.example/tickets/7" {
			t.Errorf("%s: attachments %s", c.format, raw)
		}
		if got := p.Priority != nil && p.Priority.Priority == "urgent" && p.Priority.RequestedAck; got != c.urgent {
			t.Errorf("%s: priority %s", c.format, raw)
		}
	}
	b.Priority = ticket.Urgent
	raw, _ := json.Marshal(webhook.ChatPost(webhook.Mattermost, "https://help.example", event.Event{Type: "ticket.created", TicketID: 7}, b))
	if s := string(raw); strings.Contains(s, "@channel") || strings.Contains(s, `"priority":{`) || !strings.Contains(s, "#f2c744") {
		t.Errorf("an urgent new ticket: %s", s)
	}
}
