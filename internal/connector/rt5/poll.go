package rt5

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/helpmesh/helpmesh/internal/connector"
)

// perPage is the page size of every REST2 listing (RT allows up to 100).
const perPage = 100

// maxPollPages bounds how many pages of transactions one Poll reads; the
// cursor it returns resumes where it stopped.
const maxPollPages = 10

// systemUser is the account RT acts as on its own (scrips: "On Correspond
// Open Inactive Tickets" and the like).
const systemUser = "RT_System"

// Poll returns the correspondence, comments, status and priority changes
// made in RT to the tickets of refs after the transaction id in cursor,
// oldest first. Transactions of the connector's own account are left out,
// and so are RT's own (RT_System) ones caused by them: the status RT
// opens a ticket to when the connector replies is an echo too.
func (c *Client) Poll(ctx context.Context, cursor string, refs []connector.Ref) ([]connector.Change, string, error) {
	if cursor == "" {
		last, err := c.lastTxn(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("poll: %w", err)
		}
		return nil, strconv.FormatInt(last, 10), nil
	}
	after, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil || after < 0 {
		return nil, cursor, permanent("poll: the cursor %q is not a transaction id", cursor)
	}
	linked := map[string]connector.Ref{}
	for _, r := range refs {
		if _, err := parseID(r.RemoteID); err != nil {
			return nil, cursor, permanent("poll: ticket id %q: %v", r.RemoteID, err)
		}
		linked[r.RemoteID] = r
	}
	self := c.knownSelf()
	if self == "" && len(refs) > 0 {
		id, _ := parseID(refs[0].RemoteID)
		if self, err = c.learnSelf(ctx, id); err != nil {
			return nil, cursor, fmt.Errorf("poll: who is the connector: %w", err)
		}
	}
	var changes []connector.Change
	lastActor := map[string]string{} // ticket -> the last creator other than RT_System
	for range maxPollPages {
		txns, err := c.txnsAfter(ctx, after, perPage)
		if err != nil {
			return nil, cursor, fmt.Errorf("poll: %w", err)
		}
		for _, t := range txns {
			after = int64(t.ID)
			ref, ok := linked[t.ObjectID]
			if !ok || t.ObjectType != "RT::Ticket" {
				continue
			}
			actor := t.Creator.ID
			if actor != systemUser {
				lastActor[t.ObjectID] = actor
			} else if actor = lastActor[t.ObjectID]; actor == "" && fieldChange(t) {
				// The cause is before this poll's first transaction.
				if actor, err = c.actorBefore(ctx, t); err != nil {
					return nil, cursor, fmt.Errorf("poll: transaction %d: %w", t.ID, err)
				}
			}
			if actor == self {
				continue
			}
			ch, ok, err := c.change(ctx, t)
			if err != nil {
				return nil, cursor, fmt.Errorf("poll: transaction %d: %w", t.ID, err)
			}
			if ok {
				ch.Ticket = ref
				changes = append(changes, ch)
			}
		}
		if len(txns) < perPage {
			break
		}
	}
	return changes, strconv.FormatInt(after, 10), nil
}

// lastTxn returns the id of RT's newest ticket transaction (0 if none).
func (c *Client) lastTxn(ctx context.Context) (int64, error) {
	var p page[txn]
	q := []map[string]any{{"field": "ObjectType", "value": "RT::Ticket"}}
	if _, err := c.call(ctx, "POST", "/transactions"+query("orderby", "id", "order", "DESC", "per_page", "1", "fields", "Type"), q, &p); err != nil {
		return 0, err
	}
	if len(p.Items) == 0 {
		return 0, nil
	}
	return int64(p.Items[0].ID), nil
}

// txnsAfter returns up to n ticket transactions with ids above after,
// by id.
func (c *Client) txnsAfter(ctx context.Context, after int64, n int) ([]txn, error) {
	var raw json.RawMessage
	q := []map[string]any{
		{"field": "ObjectType", "value": "RT::Ticket"},
		{"field": "id", "operator": ">", "value": after},
	}
	path := "/transactions" + query("orderby", "id", "order", "ASC", "per_page", strconv.Itoa(n), "fields", txnFields)
	if _, err := c.call(ctx, "POST", path, q, &raw); err != nil {
		return nil, err
	}
	p, err := decodeTxnPage(raw)
	if err != nil {
		return nil, permanent("transactions: %v", err)
	}
	return p.Items, nil
}

// change turns a transaction into a Change; ok is false for the kinds of
// transaction that are not synchronised (links, owners, mail records...).
func (c *Client) change(ctx context.Context, t txn) (ch connector.Change, ok bool, err error) {
	ch = connector.Change{RemoteID: strconv.FormatInt(int64(t.ID), 10), At: time.Time(t.Created)}
	switch {
	case t.Type == "Correspond" || t.Type == "Comment":
		ch.Kind = connector.KindMessage
		if t.Type == "Comment" {
			ch.Kind = connector.KindNote
		}
		if ch.Body, ch.Attachments, err = c.content(ctx, int64(t.ID)); err != nil {
			return ch, false, err
		}
	case t.Type == "Status" || (t.Type == "Set" && t.Field == "Status"):
		ch.Kind = connector.KindStatus
		if ch.Status = hmStatus[t.NewValue]; ch.Status == "" {
			return ch, false, nil
		}
	case t.Type == "Set" && t.Field == "Priority":
		n, err := strconv.ParseInt(t.NewValue, 10, 64)
		if err != nil {
			return ch, false, nil
		}
		ch.Kind = connector.KindPriority
		ch.Priority = fromRTPriority(n)
	default:
		return ch, false, nil
	}
	if ch.Author, err = c.person(ctx, t.Creator.ID); err != nil {
		return ch, false, err
	}
	return ch, true, nil
}

// fieldChange tells whether t sets a synchronised field (status,
// priority): the kinds of transaction RT_System makes on its own.
func fieldChange(t txn) bool {
	return t.Type == "Status" || (t.Type == "Set" && (t.Field == "Status" || t.Field == "Priority"))
}

// actorBefore returns the creator of the newest transaction of t's ticket
// before t that RT_System did not make ("" if none): the person whose
// change made RT act.
func (c *Client) actorBefore(ctx context.Context, t txn) (string, error) {
	var p page[txn]
	q := []map[string]any{
		{"field": "ObjectType", "value": "RT::Ticket"},
		{"field": "ObjectId", "value": t.ObjectID},
		{"field": "id", "operator": "<", "value": int64(t.ID)},
	}
	path := "/transactions" + query("orderby", "id", "order", "DESC", "per_page", "10", "fields", "Creator")
	if _, err := c.call(ctx, "POST", path, q, &p); err != nil {
		return "", err
	}
	for _, b := range p.Items {
		if b.Creator.ID != systemUser {
			return b.Creator.ID, nil
		}
	}
	return "", nil
}

// Fetch reads ticket ref as it is now (status, priority) and, as
// History, every change made to it by anyone but the connector's account,
// as Poll returns them: reconciliation applies what polling missed.
func (c *Client) Fetch(ctx context.Context, ref connector.Ref) (connector.Ticket, error) {
	path, err := ticketPath(ref)
	if err != nil {
		return connector.Ticket{}, err
	}
	id, _ := parseID(ref.RemoteID)
	var rt ticket
	if _, err := c.call(ctx, "GET", path, nil, &rt); err != nil {
		return connector.Ticket{}, fmt.Errorf("fetch: %w", err)
	}
	t := connector.Ticket{Subject: rt.Subject, Status: hmStatus[rt.Status], Priority: fromRTPriority(int64(rt.Priority)),
		Created: time.Time(rt.Created), Updated: time.Time(rt.LastUpdated), Ref: ref}
	self := c.knownSelf()
	if self == "" {
		if self, err = c.learnSelf(ctx, id); err != nil {
			return t, fmt.Errorf("fetch: who is the connector: %w", err)
		}
	}
	lastActor := "" // the last creator other than RT_System
	err = c.history(ctx, id, func(tx txn) error {
		actor := tx.Creator.ID
		if actor != systemUser {
			lastActor = actor
		} else {
			actor = lastActor
		}
		if actor == self || tx.Type == "Create" {
			return nil
		}
		ch, ok, err := c.change(ctx, tx)
		if ok {
			ch.Ticket = ref
			t.History = append(t.History, ch)
		}
		return err
	})
	if err != nil {
		return t, fmt.Errorf("fetch: history of ticket %d: %w", id, err)
	}
	return t, nil
}
