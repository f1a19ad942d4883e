package redmine5

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/helpmesh/helpmesh/internal/connector"
)

// fetchIssue reads an issue with its journals and attachments.
func (c *Client) fetchIssue(ctx context.Context, id int64) (*issue, error) {
	path := "/issues/" + strconv.FormatInt(id, 10) + ".json"
	a, err := c.do(ctx, request{method: http.MethodGet, path: path,
		query: url.Values{"include": {"journals,attachments"}}})
	if err != nil {
		return nil, err
	}
	is, err := decodeIssue(a.body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	// Journals come in the order of the user's preference: sort by id.
	slices.SortFunc(is.Journals, func(a, b journal) int { return cmp.Compare(a.ID, b.ID) })
	joinPrivateNoteFiles(is.Journals)
	return is, nil
}

// joinPrivateNoteFiles gives the files of a private note back to it.
// Redmine splits an update with private notes in two journals: a public
// one with the changes (files included), then the private notes alone.
// (Redmine's files have no privacy of their own: people who may see the
// issue see them.)
func joinPrivateNoteFiles(js []journal) {
	for i := 0; i+1 < len(js); i++ {
		pub, priv := &js[i], &js[i+1]
		if pub.Notes != "" || !priv.PrivateNotes || len(priv.Details) > 0 ||
			pub.User.ID != priv.User.ID || !pub.CreatedOn.Equal(priv.CreatedOn) {
			continue
		}
		var keep []detail
		for _, d := range pub.Details {
			if d.Property == "attachment" {
				priv.Details = append(priv.Details, d)
			} else {
				keep = append(keep, d)
			}
		}
		pub.Details = keep
	}
}

// journalChanges turns one journal into helpmesh's changes: its notes
// (with the files added by it) as a message or, private, a note, and its
// status and priority changes. Other details (subject, assignee, custom
// fields) are not synchronised.
func (c *Client) journalChanges(ctx context.Context, l *lookups, is *issue, j journal) ([]connector.Change, error) {
	ref := connector.Ref{RemoteID: strconv.FormatInt(is.ID, 10), RemoteURL: c.issueURL(is.ID)}
	author := c.person(ctx, l, j.User)
	base := connector.Change{Author: author, At: j.CreatedOn, Ticket: ref}
	rid := "journal:" + strconv.FormatInt(j.ID, 10)
	var out []connector.Change
	var files []connector.Attachment
	body := j.Notes
	for _, d := range j.Details {
		if d.Property != "attachment" || detailValue(d.NewValue) == "" {
			continue
		}
		f, note, err := c.attachmentByID(ctx, is, d.Name)
		if err != nil {
			return nil, err
		}
		if f != nil {
			files = append(files, *f)
		}
		if note != "" {
			body += "\n\n" + note
		}
	}
	if body != "" || len(files) > 0 {
		ch := base
		ch.Kind = connector.KindMessage
		if j.PrivateNotes {
			ch.Kind = connector.KindNote
		}
		ch.Body, ch.Attachments, ch.RemoteID = body, files, rid
		out = append(out, ch)
	}
	for _, d := range j.Details {
		if d.Property != "attr" {
			continue
		}
		v := detailValue(d.NewValue)
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		switch d.Name {
		case "status_id":
			st, ok := l.statusByID[id]
			if !ok {
				continue
			}
			ch := base
			ch.Kind, ch.Status, ch.RemoteID = connector.KindStatus, helpmeshStatus(st.name, st.closed), rid+":status"
			out = append(out, ch)
		case "priority_id":
			name, ok := l.priorityByID[id]
			if !ok {
				continue
			}
			ch := base
			ch.Kind, ch.Priority, ch.RemoteID = connector.KindPriority, helpmeshPriority(name), rid+":priority"
			out = append(out, ch)
		}
	}
	return out, nil
}

// attachmentByID downloads the issue's attachment with the id (a
// journal detail's name). A file that is gone or too large is not
// copied: the note says where it is instead.
func (c *Client) attachmentByID(ctx context.Context, is *issue, idText string) (*connector.Attachment, string, error) {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		return nil, "", nil
	}
	for _, at := range is.Attachments {
		if at.ID == id {
			return c.download(ctx, at)
		}
	}
	return nil, "", nil // deleted since
}

// download reads an attachment's content from this Redmine (never from
// the content_url of the answer, which may name another host).
func (c *Client) download(ctx context.Context, at attachment) (*connector.Attachment, string, error) {
	link := c.base.String() + "/attachments/" + strconv.FormatInt(at.ID, 10)
	if at.Filesize > maxAttachment {
		return nil, fmt.Sprintf("(file %q, %d bytes, is too large to copy: %s)", at.Filename, at.Filesize, link), nil
	}
	a, err := c.do(ctx, request{method: http.MethodGet,
		path: "/attachments/download/" + strconv.FormatInt(at.ID, 10), limit: maxAttachment})
	if err != nil {
		return nil, "", fmt.Errorf("downloading attachment %d: %w", at.ID, err)
	}
	ct := at.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	return &connector.Attachment{Filename: at.Filename, ContentType: ct, Data: a.body}, "", nil
}
