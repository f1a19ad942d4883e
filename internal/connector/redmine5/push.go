package redmine5

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/connector"
)

// uploadRef is an uploaded file as an issue create or update names it.
type uploadRef struct {
	Token       string `json:"token"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type,omitempty"`
}

// issueFields is the body of POST /issues.json and PUT /issues/:id.json.
type issueFields struct {
	ProjectID    int64       `json:"project_id,omitempty"`
	TrackerID    int64       `json:"tracker_id,omitempty"`
	Subject      string      `json:"subject,omitempty"`
	Description  string      `json:"description,omitempty"`
	StatusID     int64       `json:"status_id,omitempty"`
	PriorityID   int64       `json:"priority_id,omitempty"`
	Notes        string      `json:"notes,omitempty"`
	PrivateNotes bool        `json:"private_notes,omitempty"`
	Uploads      []uploadRef `json:"uploads,omitempty"`
}

// Create opens the issue in the configured project and tracker, with the
// ticket's priority, its first message (and lines naming the requester
// and helpmesh's ticket) as description and its attachments. A status
// other than Redmine's New is set by a second request. When an earlier
// Create of the same ticket reached Redmine but its answer was lost, that
// issue is found (research/federation.md §5.4) and no second one made.
func (c *Client) Create(ctx context.Context, t connector.Ticket) (connector.Ref, error) {
	l, err := c.ids(ctx)
	if err != nil {
		return connector.Ref{}, err
	}
	if c.trackerID <= 0 {
		return connector.Ref{}, fmt.Errorf("redmine5: no tracker configured to create issues in: %w", connector.ErrPermanent)
	}
	subject := strings.TrimSpace(t.Subject)
	if subject == "" {
		return connector.Ref{}, fmt.Errorf("redmine5: the ticket has no subject: %w", connector.ErrPermanent)
	}
	f := issueFields{
		ProjectID:   l.projectID,
		TrackerID:   c.trackerID,
		Subject:     truncate(subject, 255),
		Description: c.description(t),
	}
	if t.Priority != "" {
		if f.PriorityID, err = l.priority(t.Priority); err != nil {
			return connector.Ref{}, err
		}
	}
	var statusID int64
	if t.Status != "" {
		if statusID, err = l.status(t.Status); err != nil {
			return connector.Ref{}, err
		}
	}
	is, err := c.createdBefore(ctx, l, t.LocalID)
	if err != nil {
		return connector.Ref{}, err
	}
	if is == nil {
		if f.Uploads, err = c.upload(ctx, t.Attachments); err != nil {
			return connector.Ref{}, err
		}
		a, err := c.sendIssue(ctx, http.MethodPost, "/issues.json", f)
		if err != nil {
			return connector.Ref{}, err
		}
		if is, err = decodeIssue(a.body); err != nil {
			return connector.Ref{}, fmt.Errorf("POST /issues.json: %w", err)
		}
	}
	ref := connector.Ref{RemoteID: strconv.FormatInt(is.ID, 10), RemoteURL: c.issueURL(is.ID)}
	if statusID != 0 && statusID != is.Status.ID {
		if _, err := c.sendIssue(ctx, http.MethodPut, "/issues/"+ref.RemoteID+".json", issueFields{StatusID: statusID}); err != nil {
			return ref, err
		}
	}
	return ref, nil
}

// refMarker is the last line of the description of the issue of
// helpmesh's ticket id: "helpmesh ticket: [hm:<instance>/<id>]".
func (c *Client) refMarker(id int64) string {
	return fmt.Sprintf("[hm:%s/%d]", c.instance, id)
}

// createdBefore finds the issue the connector's account opened for
// helpmesh's ticket id in the last week, if any: the one whose
// description ends with the ticket's marker. (Only the end counts, so
// that a marker quoted in a message names nothing; only a week, so that
// a helpmesh started afresh at the same address does not take over old
// issues.)
func (c *Client) createdBefore(ctx context.Context, l *lookups, id int64) (*issue, error) {
	if id <= 0 {
		return nil, nil
	}
	marker := c.refMarker(id)
	q := url.Values{
		"project_id":    {strconv.FormatInt(l.projectID, 10)},
		"subproject_id": {"!*"},
		"status_id":     {"*"},
		"author_id":     {strconv.FormatInt(l.me, 10)},
		"description":   {"~" + marker},
		"created_on":    {">=" + time.Now().UTC().Add(-7*24*time.Hour).Format(time.RFC3339)},
		"sort":          {"id"},
		"limit":         {"25"},
	}
	var list issueList
	if _, err := c.getJSON(ctx, "/issues.json", q, &list); err != nil {
		return nil, fmt.Errorf("looking for an issue of ticket %d: %w", id, err)
	}
	for i := range list.Issues {
		if strings.HasSuffix(strings.TrimSpace(list.Issues[i].Description), marker) {
			return &list.Issues[i], nil
		}
	}
	return nil, nil
}

// description is the issue's description: the first message, then who
// asked and, last, which ticket of helpmesh's it is.
func (c *Client) description(t connector.Ticket) string {
	var b strings.Builder
	b.WriteString(t.Body)
	var meta []string
	if who := personText(t.Requester); who != "" {
		meta = append(meta, "Requester: "+who)
	}
	if t.LocalID > 0 {
		meta = append(meta, "helpmesh ticket: "+c.refMarker(t.LocalID))
	}
	if len(meta) > 0 {
		b.WriteString("\n\n---\n")
		b.WriteString(strings.Join(meta, "\n"))
	}
	return b.String()
}

// Push applies one change: a public note (KindMessage) or a private note
// (KindNote) with its attachments, or a new status or priority mapped by
// research/federation.md §3.
func (c *Client) Push(ctx context.Context, ref connector.Ref, ch connector.Change) error {
	id, err := issueID(ref)
	if err != nil {
		return err
	}
	l, err := c.ids(ctx)
	if err != nil {
		return err
	}
	var f issueFields
	switch ch.Kind {
	case connector.KindMessage, connector.KindNote:
		f.Notes = noteText(ch)
		f.PrivateNotes = ch.Kind == connector.KindNote
		if strings.TrimSpace(ch.Body) == "" && len(ch.Attachments) == 0 {
			return fmt.Errorf("redmine5: a %s with neither text nor files: %w", ch.Kind, connector.ErrPermanent)
		}
	case connector.KindStatus:
		if f.StatusID, err = l.status(ch.Status); err != nil {
			return err
		}
	case connector.KindPriority:
		if f.PriorityID, err = l.priority(ch.Priority); err != nil {
			return err
		}
	default:
		return fmt.Errorf("redmine5: unknown kind of change %q: %w", ch.Kind, connector.ErrPermanent)
	}
	if f.Uploads, err = c.upload(ctx, ch.Attachments); err != nil {
		return err
	}
	_, err = c.sendIssue(ctx, http.MethodPut, "/issues/"+strconv.FormatInt(id, 10)+".json", f)
	return err
}

// noteText is a note's text: the author (Redmine shows the connector's
// account) and the body.
func noteText(ch connector.Change) string {
	body := strings.TrimSpace(ch.Body)
	who := personText(ch.Author)
	switch {
	case who == "":
		return body
	case body == "":
		return who + " (helpmesh) added files."
	default:
		return who + " (helpmesh) wrote:\n\n" + body
	}
}

// personText is "Name <email>", or whichever part is known.
func personText(p connector.Person) string {
	name, mail := strings.TrimSpace(p.Name), strings.TrimSpace(p.Email)
	switch {
	case name != "" && mail != "":
		return name + " <" + mail + ">"
	case name != "":
		return name
	default:
		return mail
	}
}

// sendIssue POSTs or PUTs {"issue": f}.
func (c *Client) sendIssue(ctx context.Context, method, path string, f issueFields) (answer, error) {
	body, err := json.Marshal(map[string]issueFields{"issue": f})
	if err != nil {
		return answer{}, fmt.Errorf("redmine5: %w", err)
	}
	return c.do(ctx, request{method: method, path: path, body: body, contentType: "application/json"})
}

// upload sends each file to /uploads.json and returns the tokens.
func (c *Client) upload(ctx context.Context, files []connector.Attachment) ([]uploadRef, error) {
	var refs []uploadRef
	for _, f := range files {
		name := strings.TrimSpace(f.Filename)
		if name == "" {
			name = "attachment"
		}
		a, err := c.do(ctx, request{
			method: http.MethodPost, path: "/uploads.json",
			query:       url.Values{"filename": {name}},
			body:        f.Data,
			contentType: "application/octet-stream",
		})
		if err != nil {
			return nil, fmt.Errorf("uploading %q: %w", name, err)
		}
		var u uploadAnswer
		if err := decodeJSON(a.body, &u); err != nil {
			return nil, fmt.Errorf("uploading %q: %w", name, err)
		}
		if u.Upload == nil || u.Upload.Token == "" {
			return nil, fmt.Errorf("redmine5: uploading %q: no token in the answer: %w", name, connector.ErrPermanent)
		}
		refs = append(refs, uploadRef{Token: u.Upload.Token, Filename: name, ContentType: f.ContentType})
	}
	return refs, nil
}

// status is the id of Redmine's status for helpmesh's status s.
func (l *lookups) status(s string) (int64, error) {
	return mappedID("status", s, statusToRedmine, l.statusID)
}

// priority is the id of Redmine's priority for helpmesh's priority p.
func (l *lookups) priority(p string) (int64, error) {
	return mappedID("priority", p, priorityToRedmine, l.priorityID)
}

// mappedID maps helpmesh's value v by toRedmine to a name, and the name
// to this Redmine's id.
func mappedID[K ~string](what, v string, toRedmine map[K]string, ids map[string]int64) (int64, error) {
	name, ok := toRedmine[K(v)]
	if !ok {
		return 0, fmt.Errorf("redmine5: %q is not a helpmesh %s: %w", v, what, connector.ErrPermanent)
	}
	id, ok := ids[strings.ToLower(name)]
	if !ok {
		return 0, fmt.Errorf("redmine5: this Redmine has no %s %q (for %s): %w", what, name, v, connector.ErrPermanent)
	}
	return id, nil
}

// issueID is the issue number of a ref.
func issueID(ref connector.Ref) (int64, error) {
	id, err := strconv.ParseInt(ref.RemoteID, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("redmine5: %q is not a Redmine issue id: %w", ref.RemoteID, connector.ErrPermanent)
	}
	return id, nil
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
