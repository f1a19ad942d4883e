package rt5

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/connector"
)

// sourcePage is how many tickets one page of an import holds (each costs
// a few requests for its history).
const sourcePage = 20

// Tickets returns one page of the queue's tickets, oldest first, each with
// its first message, requester and full history. The cursor is the next
// page number.
func (c *Client) Tickets(ctx context.Context, cursor string) ([]connector.Ticket, string, int, error) {
	pageNo := 1
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 1 {
			return nil, "", -1, permanent("import: the cursor %q is not a page number", cursor)
		}
		pageNo = n
	}
	var p page[ticket]
	q := "Queue = '" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(c.queue) + "'"
	path := "/tickets" + query("query", q, "orderby", "id", "order", "ASC", "page", strconv.Itoa(pageNo),
		"per_page", strconv.Itoa(c.sourcePage), "fields", ticketFields)
	if _, err := c.call(ctx, "GET", path, nil, &p); err != nil {
		return nil, "", -1, fmt.Errorf("import: %w", err)
	}
	out := make([]connector.Ticket, 0, len(p.Items))
	for _, rt := range p.Items {
		t, err := c.sourceTicket(ctx, rt)
		if err != nil {
			return nil, "", -1, fmt.Errorf("import: ticket %d: %w", rt.ID, err)
		}
		out = append(out, t)
	}
	next := ""
	if pageNo < int(p.Pages) && len(p.Items) > 0 {
		next = strconv.Itoa(pageNo + 1)
	}
	return out, next, int(p.Total), nil
}

// sourceTicket reads one ticket's history: the Create transaction gives
// the first message, every later one a Change (all authors: nothing of
// an imported queue is an echo).
func (c *Client) sourceTicket(ctx context.Context, rt ticket) (connector.Ticket, error) {
	id := int64(rt.ID)
	t := connector.Ticket{
		Subject:  rt.Subject,
		Status:   hmStatus[rt.Status],
		Priority: fromRTPriority(int64(rt.Priority)),
		Created:  time.Time(rt.Created),
		Updated:  time.Time(rt.LastUpdated),
		Ref:      connector.Ref{RemoteID: strconv.FormatInt(id, 10), RemoteURL: c.ticketURL(id)},
	}
	if t.Status == "" {
		t.Status = "new"
	}
	requester := rt.Creator.ID
	if len(rt.Requestor) > 0 {
		requester = rt.Requestor[0].ID
	}
	var err error
	if t.Requester, err = c.person(ctx, requester); err != nil {
		return t, err
	}
	err = c.history(ctx, id, func(tx txn) error {
		var err error
		if tx.Type == "Create" {
			t.Body, t.Attachments, err = c.content(ctx, int64(tx.ID))
			return err
		}
		ch, ok, err := c.change(ctx, tx)
		if ok {
			ch.Ticket = t.Ref
			t.History = append(t.History, ch)
		}
		return err
	})
	return t, err
}

// history calls fn with each transaction of ticket id, oldest first.
func (c *Client) history(ctx context.Context, id int64, fn func(txn) error) error {
	for pageNo := 1; ; pageNo++ {
		var p page[txn]
		path := fmt.Sprintf("/ticket/%d/history", id) + query("page", strconv.Itoa(pageNo),
			"per_page", strconv.Itoa(perPage), "fields", txnFields)
		if _, err := c.call(ctx, "GET", path, nil, &p); err != nil {
			return err
		}
		for _, tx := range p.Items {
			if err := fn(tx); err != nil {
				return err
			}
		}
		if pageNo >= int(p.Pages) || len(p.Items) == 0 {
			return nil
		}
	}
}
