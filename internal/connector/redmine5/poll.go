package redmine5

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/connector"
)

// overlap is how far back each poll looks again before the last one
// (research/federation.md §5.8): journals whose transaction committed late
// are still found; the cursor's seen list keeps them from being returned
// twice.
const overlap = 2 * time.Minute

// pollCursor is the decoded Poll cursor: journals created at or after
// max(From, Since-overlap) are new unless their id is in Seen. Times are
// Redmine's clock (its Date header), in Unix seconds.
type pollCursor struct {
	From  int64   `json:"from"`  // when polling began ("from now")
	Since int64   `json:"since"` // when the last poll asked
	Seen  []int64 `json:"seen"`  // journals returned within the overlap
}

func (p pollCursor) lower() time.Time {
	return time.Unix(max(p.From, p.Since-int64(overlap/time.Second)), 0).UTC()
}

func (p pollCursor) encode() string {
	b, _ := json.Marshal(p) // ints only: never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseCursor decodes a cursor of Poll's; one it did not make wraps
// connector.ErrPermanent.
func parseCursor(s string) (pollCursor, error) {
	var p pollCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil || p.From <= 0 || p.Since < p.From {
		return pollCursor{}, fmt.Errorf("redmine5: %q is not a cursor of this connector: %w", s, connector.ErrPermanent)
	}
	return p, nil
}

// Poll returns the journals of the linked issues created since the
// cursor by anyone but the connector's own account, as changes, oldest
// first. It lists the issues updated since then
// (issues.json?issue_id=…&updated_on=>=…) and reads each one's journals.
func (c *Client) Poll(ctx context.Context, cursor string, refs []connector.Ref) ([]connector.Change, string, error) {
	l, err := c.ids(ctx)
	if err != nil {
		return nil, "", err
	}
	if cursor == "" {
		now, err := c.serverNow(ctx)
		if err != nil {
			return nil, "", err
		}
		return nil, pollCursor{From: now.Unix(), Since: now.Unix()}.encode(), nil
	}
	cur, err := parseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		id, err := issueID(r)
		if err != nil {
			return nil, "", err
		}
		ids = append(ids, strconv.FormatInt(id, 10))
	}
	if len(ids) == 0 {
		return nil, cursor, nil
	}
	lower := cur.lower()
	seen := map[int64]bool{}
	for _, id := range cur.Seen {
		seen[id] = true
	}
	var changes []connector.Change
	var now time.Time
	var read []journal // not the connector's own, inside the window
	for chunk := range slices.Chunk(ids, pageSize) {
		updated, date, err := c.updatedIssues(ctx, chunk, lower)
		if err != nil {
			return nil, "", err
		}
		if now.IsZero() {
			now = date
		}
		for _, id := range updated {
			is, err := c.fetchIssue(ctx, id)
			if errors.Is(err, errNotFound) {
				continue // deleted since it was listed
			}
			if err != nil {
				return nil, "", err
			}
			for _, j := range is.Journals {
				if j.User.ID == l.me || j.CreatedOn.Before(lower) {
					continue
				}
				read = append(read, j)
				if seen[j.ID] {
					continue
				}
				chs, err := c.journalChanges(ctx, l, is, j)
				if err != nil {
					return nil, "", err
				}
				changes = append(changes, chs...)
			}
		}
	}
	if now.IsZero() {
		now = time.Now().UTC()
	}
	next := pollCursor{From: cur.From, Since: max(now.Unix(), cur.Since)}
	// A journal read now that is still inside the next window would be
	// read again: remember it. (One seen before that is not read again is
	// older than the window, or its issue is no longer linked.)
	keep := next.lower()
	for _, j := range read {
		if !j.CreatedOn.Before(keep) {
			next.Seen = append(next.Seen, j.ID)
		}
	}
	slices.Sort(next.Seen)
	slices.SortStableFunc(changes, func(a, b connector.Change) int { return a.At.Compare(b.At) })
	return changes, next.encode(), nil
}

// updatedIssues lists which of the issues (ids) were updated at or after
// since, and Redmine's clock when it answered.
func (c *Client) updatedIssues(ctx context.Context, ids []string, since time.Time) ([]int64, time.Time, error) {
	var out []int64
	var date time.Time
	for offset := 0; ; {
		q := url.Values{
			"issue_id":   {strings.Join(ids, ",")},
			"status_id":  {"*"},
			"updated_on": {">=" + since.Format(time.RFC3339)},
			"sort":       {"updated_on"},
			"limit":      {strconv.Itoa(pageSize)},
			"offset":     {strconv.Itoa(offset)},
		}
		var list issueList
		a, err := c.getJSON(ctx, "/issues.json", q, &list)
		if err != nil {
			return nil, time.Time{}, err
		}
		if date.IsZero() {
			date = a.date
		}
		for _, is := range list.Issues {
			out = append(out, is.ID)
		}
		offset += len(list.Issues)
		if len(list.Issues) == 0 || offset >= list.TotalCount {
			return out, date, nil
		}
	}
}

// serverNow is Redmine's clock (its Date header), so that cursors do not
// depend on this machine's.
func (c *Client) serverNow(ctx context.Context) (time.Time, error) {
	a, err := c.do(ctx, request{method: http.MethodGet, path: "/issue_statuses.json"})
	if err != nil {
		return time.Time{}, err
	}
	if a.date.IsZero() {
		return time.Now().UTC().Truncate(time.Second), nil
	}
	return a.date, nil
}
