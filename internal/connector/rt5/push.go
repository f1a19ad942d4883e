package rt5

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/helpmesh/helpmesh/internal/connector"
)

// Create opens the ticket in the configured queue. The connector's own
// account is the Requestor (once it is known), so RT mails nobody; the
// real requester is named at the top of the first message.
func (c *Client) Create(ctx context.Context, t connector.Ticket) (connector.Ref, error) {
	if strings.TrimSpace(t.Subject) == "" {
		return connector.Ref{}, permanent("create: the subject is empty")
	}
	req := map[string]any{
		"Queue":       c.queue,
		"Subject":     t.Subject,
		"Content":     c.firstMessage(t),
		"ContentType": "text/plain",
	}
	if t.Status != "" {
		s, err := toRTStatus(t.Status)
		if err != nil {
			return connector.Ref{}, err
		}
		req["Status"] = s
	}
	if t.Priority != "" {
		p, err := toRTPriority(t.Priority)
		if err != nil {
			return connector.Ref{}, err
		}
		req["Priority"] = p
	}
	if a := rtAttachments(t.Attachments); len(a) > 0 {
		req["Attachments"] = a
	}
	self := c.knownSelf()
	if self != "" {
		req["Requestor"] = self
	}
	var cr created
	if _, err := c.call(ctx, "POST", "/ticket", req, &cr); err != nil {
		return connector.Ref{}, fmt.Errorf("create: %w", err)
	}
	id := int64(cr.ID)
	ref := connector.Ref{RemoteID: strconv.FormatInt(id, 10), RemoteURL: c.ticketURL(id)}
	if self == "" {
		// The first ticket tells who the connector is in RT. The ticket
		// exists now, so this is best effort: an error would make the
		// engine create it again, and a ticket without Requestor mails
		// nobody either.
		if self, err := c.learnSelf(ctx, id); err == nil {
			_, _ = c.call(ctx, "PUT", fmt.Sprintf("/ticket/%d", id), map[string]any{"Requestor": self}, nil)
		}
	}
	return ref, nil
}

// firstMessage is the body of a created ticket: who asked, where the
// ticket lives in helpmesh, then the requester's text.
func (c *Client) firstMessage(t connector.Ticket) string {
	var b strings.Builder
	if who := personLine(t.Requester); who != "" {
		fmt.Fprintf(&b, "Requester: %s\n", who)
	}
	if c.instance != "" && t.LocalID > 0 {
		fmt.Fprintf(&b, "helpmesh ticket: %s/tickets/%d\n", c.instance, t.LocalID)
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	b.WriteString(t.Body)
	return b.String()
}

// personLine is "Name <email>", or whichever of the two is known.
func personLine(p connector.Person) string {
	switch {
	case p.Name != "" && p.Email != "":
		return fmt.Sprintf("%s <%s>", p.Name, p.Email)
	case p.Email != "":
		return p.Email
	default:
		return p.Name
	}
}

// rtAttachments encodes files for REST2. RT refuses an attachment without
// a name, a type or content, so empty files are left out and the others
// get a default name and type.
func rtAttachments(files []connector.Attachment) []map[string]string {
	var out []map[string]string
	for i, f := range files {
		if len(f.Data) == 0 {
			continue
		}
		name, typ := f.Filename, f.ContentType
		if strings.TrimSpace(name) == "" {
			name = fmt.Sprintf("attachment-%d", i+1)
		}
		if strings.TrimSpace(typ) == "" {
			typ = "application/octet-stream"
		}
		out = append(out, map[string]string{
			"FileName":    name,
			"FileType":    typ,
			"FileContent": base64.StdEncoding.EncodeToString(f.Data),
		})
	}
	return out
}

// Push applies one change of helpmesh's to the RT ticket: a public reply
// as correspondence, an internal note as a comment (both with their
// files), status and priority by the §3 mapping.
func (c *Client) Push(ctx context.Context, ref connector.Ref, ch connector.Change) error {
	path, err := ticketPath(ref)
	if err != nil {
		return err
	}
	switch ch.Kind {
	case connector.KindMessage, connector.KindNote:
		action := "/correspond"
		if ch.Kind == connector.KindNote {
			action = "/comment"
		}
		body := ch.Body
		if who := personLine(ch.Author); who != "" {
			body = who + " wrote in helpmesh:\n\n" + body
		}
		req := map[string]any{"Content": body, "ContentType": "text/plain"}
		if a := rtAttachments(ch.Attachments); len(a) > 0 {
			req["Attachments"] = a
		}
		if _, err := c.call(ctx, "POST", path+action, req, nil); err != nil {
			return fmt.Errorf("push %s: %w", ch.Kind, err)
		}
		return nil
	case connector.KindStatus:
		s, err := toRTStatus(ch.Status)
		if err != nil {
			return err
		}
		return c.update(ctx, path, "Status", s)
	case connector.KindPriority:
		p, err := toRTPriority(ch.Priority)
		if err != nil {
			return err
		}
		return c.update(ctx, path, "Priority", p)
	default:
		return permanent("push: unknown kind of change %q", ch.Kind)
	}
}

// update sets one field of a ticket. REST2 answers 200 with a list of
// messages even when RT refused the change (a transition the lifecycle
// does not allow), so a message that does not say "changed" is an error.
func (c *Client) update(ctx context.Context, path, field string, value any) error {
	var msgs []string
	if _, err := c.call(ctx, "PUT", path, map[string]any{field: value}, &msgs); err != nil {
		return fmt.Errorf("push %s: %w", strings.ToLower(field), err)
	}
	for _, m := range msgs {
		if !strings.Contains(m, "changed") && !strings.Contains(m, "already") {
			return permanent("push %s: RT refused %v: %s", strings.ToLower(field), value, m)
		}
	}
	return nil
}

// knownSelf returns the connector's RT user name if it is known.
func (c *Client) knownSelf() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.self
}

// learnSelf reads the Creator of ticket id, which the connector created,
// as the connector's own RT user name.
func (c *Client) learnSelf(ctx context.Context, id int64) (string, error) {
	var t ticket
	if _, err := c.call(ctx, "GET", fmt.Sprintf("/ticket/%d", id), nil, &t); err != nil {
		return "", err
	}
	if t.Creator.ID == "" {
		return "", permanent("ticket %d has no creator", id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.self = t.Creator.ID
	return c.self, nil
}
