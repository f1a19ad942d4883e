package webhook

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/ticket"
)

// A unit's chat (DESIGN.md "TEAM and ALARM tickets, chat") is a webhook
// row with a Format: the follower "chat" queues one Slack-compatible post
// per chosen event of the unit's tickets in the same delivery log, and the
// same sender sends and retries it, unsigned.

// ChatFollower is the chat's name in the event stream.
const ChatFollower = "chat"

// Chat formats: the services whose incoming webhooks take the posts.
const (
	Mattermost = "mattermost"
	RocketChat = "rocketchat"
	Slack      = "slack"
)

// Chat is a unit's chat: where and how its posts go, and for which
// events.
type Chat struct {
	URL    string   `json:"url"`
	Format string   `json:"format"`
	Events []string `json:"events"`
}

// TicketBriefs tells what a chat post shows of tickets (package ticket).
type TicketBriefs interface {
	Briefs(ctx context.Context, ids []int64) (map[int64]ticket.Brief, error)
}

// CheckChat validates c, its URL against the allow-list included, and
// returns it with its events sorted.
func (s *Store) CheckChat(ctx context.Context, c Chat) (Chat, error) {
	switch c.Format {
	case Mattermost, RocketChat, Slack:
	case "":
		return c, apperr.Field("chat.format", "is required: mattermost, rocketchat or slack")
	default:
		f := c.Format
		if len(f) > 32 {
			f = f[:32]
		}
		return c, apperr.Field("chat.format", "%q is not mattermost, rocketchat or slack", f)
	}
	evs, err := checkEvents(c.Events)
	if err != nil {
		return c, apperr.Field("chat.events", "%s", strings.TrimPrefix(err.Error(), "events: "))
	}
	c.Events = evs
	if s.opts.Checker == nil {
		return c, fmt.Errorf("webhook: no URL checker")
	}
	if len(c.URL) > 2000 {
		return c, apperr.Field("chat.url", "is longer than 2000 characters")
	}
	if err := s.opts.Checker.CheckURL(ctx, c.URL); err != nil {
		return c, apperr.Field("chat.url", "%v", err)
	}
	return c, nil
}

// SetChat sets unit unitID's chat to c, or removes it when c is nil, if
// p may manage the unit.
func (s *Store) SetChat(ctx context.Context, p *auth.Principal, unitID int64, c *Chat) error {
	if unitID == 0 || !CanManage(p, unitID) {
		return apperr.New(apperr.Forbidden, "only administrators and the unit's admins may set its chat")
	}
	if c != nil {
		checked, err := s.CheckChat(ctx, *c)
		if err != nil {
			return err
		}
		c = &checked
	}
	var by any
	if p.UserID != 0 {
		by = p.UserID
	}
	err := s.db.Tx(ctx, func(q db.Querier) error {
		var id int64
		err := q.QueryRowContext(ctx, `SELECT id FROM webhooks WHERE unit_id = $1 AND format <> ''`, unitID).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if c == nil {
				return nil
			}
			_, err = s.db.InsertID(ctx, q, `INSERT INTO webhooks (url, events, unit_id, secret, created_by, created_at, format) VALUES ($1, $2, $3, '', $4, $5, $6)`,
				c.URL, strings.Join(c.Events, " "), unitID, by, s.now(), c.Format)
			return err
		case err != nil:
			return err
		case c == nil:
			if _, err := q.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = $1`, id); err != nil {
				return err
			}
			_, err = q.ExecContext(ctx, `DELETE FROM webhooks WHERE id = $1`, id)
			return err
		}
		_, err = q.ExecContext(ctx, `UPDATE webhooks SET url = $1, events = $2, format = $3 WHERE id = $4`,
			c.URL, strings.Join(c.Events, " "), c.Format, id)
		return err
	})
	if db.IsForeignKeyViolation(err) {
		return apperr.New(apperr.NotFound, "no such unit")
	}
	if err != nil {
		return fmt.Errorf("webhook: set the chat of unit %d: %w", unitID, err)
	}
	return nil
}

// Chats returns the units' chats by unit id.
func (s *Store) Chats(ctx context.Context) (map[int64]*Chat, error) {
	ws, err := s.all(ctx)
	if err != nil {
		return nil, err
	}
	out := map[int64]*Chat{}
	for _, w := range ws {
		if w.Format != "" {
			out[w.UnitID] = &Chat{URL: w.URL, Format: w.Format, Events: w.Events}
		}
	}
	return out, nil
}

// FollowChat registers the chat's follower with the event stream.
func (s *Store) FollowChat(l *event.Log) {
	l.Follow(ChatFollower, s.TellChat, event.FollowOptions{Committed: s.committedFunc(ChatFollower)})
}

// TellChat is the chat follower's event.Handler: it returns the Commit
// that queues one post per event a unit's chat wants.
func (s *Store) TellChat(ctx context.Context, evs []event.Event) (event.Commit, error) {
	s.hand.stage(ChatFollower, nil)
	ws, err := s.all(ctx)
	if err != nil {
		return nil, err
	}
	ws = slices.DeleteFunc(ws, func(w *Webhook) bool { return w.Format == "" })
	if len(ws) == 0 {
		return nil, nil
	}
	if s.opts.Briefs == nil {
		return nil, fmt.Errorf("webhook: chat: no ticket briefs")
	}
	var ids []int64
	for _, e := range evs {
		if ticket.IsTicketEvent(e) {
			ids = append(ids, e.TicketID)
		}
	}
	briefs, err := s.opts.Briefs.Briefs(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("webhook: chat: briefs of the events' tickets: %w", err)
	}
	units := make(map[int64]int64, len(briefs))
	for id, b := range briefs {
		units[id] = b.UnitID
	}
	return s.match(ChatFollower, evs, ws, units, func(e event.Event, w *Webhook) (string, error) {
		b, ok := briefs[e.TicketID]
		if !ok {
			return "", nil // deleted meanwhile: nothing to show
		}
		body, err := json.Marshal(ChatPost(w.Format, s.opts.BaseURL, e, b))
		return string(body), err
	}), nil
}

// chatColors are the attachments' colours by priority.
var chatColors = map[ticket.Priority]string{
	ticket.LessUrgent:  "#9e9e9e", // grey
	ticket.Urgent:      "#f2c744", // yellow
	ticket.VeryUrgent:  "#f28c28", // orange
	ticket.TopPriority: "#d0021b", // red
}

// chatVerbs say what happened, by event type.
var chatVerbs = map[string]string{
	"ticket.created":      "New ticket",
	"ticket.updated":      "Ticket updated",
	"ticket.assigned":     "Ticket assigned",
	"ticket.message":      "New reply on ticket",
	"ticket.note":         "Internal note on ticket",
	"ticket.escalated":    "Ticket escalated",
	"ticket.qos_warning":  "QoS warning on ticket",
	"ticket.qos_violated": "QoS violated on ticket",
	"ticket.reminder":     "Reminder on ticket",
	"ticket.alarm":        "ALARM ticket",
	"ticket.solved":       "Ticket solved",
	"ticket.closed":       "Ticket closed",
	"ticket.reopened":     "Ticket reopened",
}

// escapeChat escapes s for the Slack message format (&, < and >), which
// Mattermost and Rocket.Chat read alike.
func escapeChat(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// ChatPost is the incoming-webhook payload of event e of ticket b in
// format: text plus one attachment coloured by priority that links the
// ticket. It shows the ticket's public fields and the event's type only:
// never a message's or a note's body. The formats differ only where the
// services do: an alarm or top-priority ticket notifies the channel
// (<!channel> on Slack, @channel elsewhere), and on Mattermost it is also
// posted with urgent priority, acknowledgement requested.
func ChatPost(format, baseURL string, e event.Event, b ticket.Brief) map[string]any {
	verb, ok := chatVerbs[e.Type]
	if !ok {
		verb = e.Type + " on ticket"
	}
	link := strings.TrimRight(baseURL, "/") + "/tickets/" + strconv.FormatInt(b.ID, 10)
	subject := escapeChat(b.Subject)
	text := fmt.Sprintf("%s <%s|#%d>: %s", verb, link, b.ID, subject)
	loud := e.Type == "ticket.alarm" || b.Priority == ticket.TopPriority
	if loud {
		mention := "@channel"
		if format == Slack {
			mention = "<!channel>"
		}
		text = mention + " " + text
	}
	color, ok := chatColors[b.Priority]
	if !ok {
		color = chatColors[ticket.LessUrgent]
	}
	post := map[string]any{
		"username": "helpmesh",
		"text":     text,
		"attachments": []map[string]any{{
			"fallback":   fmt.Sprintf("%s #%d: %s", verb, b.ID, b.Subject),
			"color":      color,
			"title":      fmt.Sprintf("#%d %s", b.ID, b.Subject),
			"title_link": link,
			"fields": []map[string]any{
				{"title": "Priority", "value": string(b.Priority), "short": true},
				{"title": "Status", "value": string(b.Status), "short": true},
			},
		}},
	}
	if format == Mattermost && loud {
		post["priority"] = map[string]any{"priority": "urgent", "requested_ack": true}
	}
	return post
}
