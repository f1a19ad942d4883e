package redmine5

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/helpmesh/helpmesh/internal/connector"
)

// Tickets returns one page of the project's issues (not its
// subprojects'), oldest first, each with its description, files and every
// journal as history; the cursor is the offset of the next page. New
// issues come last, so paging while people work misses none.
func (c *Client) Tickets(ctx context.Context, cursor string) ([]connector.Ticket, string, int, error) {
	offset := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 {
			return nil, "", 0, fmt.Errorf("redmine5: %q is not a cursor of this source: %w", cursor, connector.ErrPermanent)
		}
		offset = n
	}
	l, err := c.ids(ctx)
	if err != nil {
		return nil, "", 0, err
	}
	q := url.Values{
		"project_id":    {strconv.FormatInt(l.projectID, 10)},
		"subproject_id": {"!*"},
		"status_id":     {"*"},
		"sort":          {"id"},
		"limit":         {strconv.Itoa(c.sourcePage)},
		"offset":        {strconv.Itoa(offset)},
	}
	var list issueList
	if _, err := c.getJSON(ctx, "/issues.json", q, &list); err != nil {
		return nil, "", 0, err
	}
	page := make([]connector.Ticket, 0, len(list.Issues))
	for _, summary := range list.Issues {
		is, err := c.fetchIssue(ctx, summary.ID)
		if err != nil {
			return nil, "", 0, err
		}
		t, err := c.ticket(ctx, l, is)
		if err != nil {
			return nil, "", 0, err
		}
		page = append(page, t)
	}
	next := ""
	if end := offset + len(list.Issues); len(list.Issues) > 0 && end < list.TotalCount {
		next = strconv.Itoa(end)
	}
	return page, next, list.TotalCount, nil
}

// ticket is an issue as an imported ticket: the files no journal added
// belong to the first message.
func (c *Client) ticket(ctx context.Context, l *lookups, is *issue) (connector.Ticket, error) {
	t := c.issueTicket(l, is)
	t.Body, t.Requester = is.Description, c.person(ctx, l, is.Author)
	byJournal := map[string]bool{}
	for _, j := range is.Journals {
		for _, d := range j.Details {
			if d.Property == "attachment" {
				byJournal[d.Name] = true
			}
		}
	}
	for _, at := range is.Attachments {
		if byJournal[strconv.FormatInt(at.ID, 10)] {
			continue
		}
		f, note, err := c.download(ctx, at)
		if err != nil {
			return connector.Ticket{}, err
		}
		if f != nil {
			t.Attachments = append(t.Attachments, *f)
		}
		if note != "" {
			t.Body += "\n\n" + note
		}
	}
	for _, j := range is.Journals {
		chs, err := c.journalChanges(ctx, l, is, j)
		if err != nil {
			return connector.Ticket{}, err
		}
		t.History = append(t.History, chs...)
	}
	return t, nil
}

// issueTicket is what an issue's fields say of the ticket: subject,
// status, priority, dates and ref.
func (c *Client) issueTicket(l *lookups, is *issue) connector.Ticket {
	st := l.statusByID[is.Status.ID]
	if st.name == "" {
		st.name = is.Status.Name
	}
	return connector.Ticket{
		Subject:  is.Subject,
		Status:   helpmeshStatus(st.name, st.closed),
		Priority: helpmeshPriority(is.Priority.Name),
		Created:  is.CreatedOn,
		Updated:  is.UpdatedOn,
		Ref:      connector.Ref{RemoteID: strconv.FormatInt(is.ID, 10), RemoteURL: c.issueURL(is.ID)},
	}
}

// Fetch reads issue ref as it is now (status, priority) and, as History,
// the changes of every journal not written by the connector's account,
// as Poll returns them: reconciliation applies what polling missed.
func (c *Client) Fetch(ctx context.Context, ref connector.Ref) (connector.Ticket, error) {
	l, err := c.ids(ctx)
	if err != nil {
		return connector.Ticket{}, err
	}
	id, err := issueID(ref)
	if err != nil {
		return connector.Ticket{}, err
	}
	is, err := c.fetchIssue(ctx, id)
	if err != nil {
		return connector.Ticket{}, fmt.Errorf("redmine5: fetch issue %d: %w", id, err)
	}
	t := c.issueTicket(l, is)
	for _, j := range is.Journals {
		if j.User.ID == l.me {
			continue
		}
		chs, err := c.journalChanges(ctx, l, is, j)
		if err != nil {
			return t, fmt.Errorf("redmine5: fetch issue %d: %w", id, err)
		}
		t.History = append(t.History, chs...)
	}
	return t, nil
}
