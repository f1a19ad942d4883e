package ticket

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// Filter selects tickets. Zero fields do not filter.
type Filter struct {
	Statuses   []Status
	Priorities []Priority
	// Overdue keeps tickets created before the cutoff of their priority.
	Overdue     []Cutoff
	UnitID      int64
	ServiceID   int64
	RequesterID int64
	AssigneeID  int64
	Unassigned  bool
	Query       string // full text over subjects and messages
	Before      int64  // cursor: only tickets with a smaller id
	Limit       int    // 1..MaxLimit, default DefaultLimit
}

// Cutoff is a creation time before which tickets of a priority are late.
type Cutoff struct {
	Priority      Priority
	CreatedBefore time.Time
}

// Page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 200
	maxTerms     = 12
	maxTermLen   = 64
)

// SearchTerms splits a search query into words: runs of letters and digits,
// lower-cased, at most 12 of at most 64 characters each. Everything else
// (quotes, operators, SQL) is a separator, so no input can change the
// meaning of the query sent to the database.
func SearchTerms(q string) []string {
	var terms []string
	seen := map[string]bool{}
	for _, w := range strings.FieldsFunc(q, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }) {
		w = strings.ToLower(w)
		if len([]rune(w)) > maxTermLen {
			w = string([]rune(w)[:maxTermLen])
		}
		if seen[w] {
			continue
		}
		seen[w] = true
		terms = append(terms, w)
		if len(terms) == maxTerms {
			break
		}
	}
	return terms
}

// FTS5Query turns terms into an FTS5 MATCH expression: every term must
// occur. Terms are quoted, so FTS5 operators in them are plain words.
func FTS5Query(terms []string) string {
	q := make([]string, len(terms))
	for i, t := range terms {
		q[i] = `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
	}
	return strings.Join(q, " AND ")
}

// List returns the tickets p may see that match f, newest first.
func (s *Store) List(ctx context.Context, p *auth.Principal, f Filter) ([]*Ticket, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultLimit
	}
	if f.Limit > MaxLimit {
		f.Limit = MaxLimit
	}
	var terms []string
	if strings.TrimSpace(f.Query) != "" {
		terms = SearchTerms(f.Query)
		if len(terms) == 0 {
			return nil, nil // only punctuation: nothing can match
		}
	}
	if len(terms) > 0 && s.db.Engine == db.SQLite {
		if p.SeesAll() || len(p.Units) > 0 {
			return s.searchByIndex(ctx, p, f, terms)
		}
		many, err := s.hasManyTickets(ctx, p)
		if err != nil {
			return nil, err
		}
		if many {
			return s.searchByIndex(ctx, p, f, terms)
		}
		// A requester sees few tickets: check each of them.
		var a args
		conds, err := s.filterConds(p, f, &a, true)
		if err != nil {
			return nil, err
		}
		conds = append(conds, `EXISTS (SELECT 1 FROM search_fts f WHERE search_fts MATCH `+a.add(FTS5Query(terms))+
			` AND f.rowid BETWEEN t.id * 1048576 AND t.id * 1048576 + 1048575 AND (f.rowid & 1) = 0)`)
		return s.query(ctx, conds, a, f.Limit)
	}
	// A requester with few tickets is served from the set of their ticket
	// ids; one with many, like staff, by walking tickets newest first.
	indexed := false
	if !p.SeesAll() && len(p.Units) == 0 && s.db.Engine == db.SQLite {
		many, err := s.hasManyTickets(ctx, p)
		if err != nil {
			return nil, err
		}
		indexed = !many
	}
	var a args
	conds, err := s.filterConds(p, f, &a, indexed)
	if err != nil {
		return nil, err
	}
	if len(terms) > 0 {
		conds = append(conds, s.searchCond(p, terms, &a))
	}
	return s.query(ctx, conds, a, f.Limit)
}

// filterConds turns p's visibility and f's fields (but not the query) into
// SQL conditions on tickets t. With indexed, the visibility condition is
// a set of ticket ids built from indexes, which suits people who see few
// tickets.
func (s *Store) filterConds(p *auth.Principal, f Filter, a *args, indexed bool) ([]string, error) {
	var conds []string
	if indexed && !p.SeesAll() {
		conds = append(conds, visibleIDs(p, a))
	} else {
		conds = append(conds, visible(p, a))
	}
	if len(f.Statuses) > 0 {
		ph := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			if err := checkEnum("status", st, Statuses); err != nil {
				return nil, err
			}
			ph[i] = a.add(string(st))
		}
		conds = append(conds, "t.status IN ("+strings.Join(ph, ",")+")")
	}
	if len(f.Priorities) > 0 {
		ph := make([]string, len(f.Priorities))
		for i, pr := range f.Priorities {
			if err := checkEnum("priority", pr, Priorities); err != nil {
				return nil, err
			}
			ph[i] = a.add(string(pr))
		}
		conds = append(conds, "t.priority IN ("+strings.Join(ph, ",")+")")
	}
	if len(f.Overdue) > 0 {
		or := make([]string, len(f.Overdue))
		for i, c := range f.Overdue {
			if err := checkEnum("priority", c.Priority, Priorities); err != nil {
				return nil, err
			}
			or[i] = "(t.priority = " + a.add(string(c.Priority)) + " AND t.created_at < " + a.add(c.CreatedBefore.UTC()) + ")"
		}
		conds = append(conds, "("+strings.Join(or, " OR ")+")")
	}
	if f.UnitID != 0 {
		conds = append(conds, "t.unit_id = "+a.add(f.UnitID))
	}
	if f.ServiceID != 0 {
		conds = append(conds, "t.service_id = "+a.add(f.ServiceID))
	}
	if f.RequesterID != 0 {
		conds = append(conds, "t.requester_id = "+a.add(f.RequesterID))
	}
	if f.AssigneeID != 0 {
		conds = append(conds, "t.assignee_id = "+a.add(f.AssigneeID))
	}
	if f.Unassigned {
		conds = append(conds, "t.assignee_id IS NULL")
	}
	if f.Before > 0 {
		conds = append(conds, "t.id < "+a.add(f.Before))
	}
	return conds, nil
}

// visibleIDs is visible as a set of ids read through indexes.
func visibleIDs(p *auth.Principal, a *args) string {
	u := a.add(p.UserID)
	sets := []string{"SELECT v.id FROM tickets v WHERE v.requester_id = " + u,
		"SELECT w.ticket_id FROM ticket_watchers w WHERE w.user_id = " + u}
	if ids := p.UnitIDs(); len(ids) > 0 {
		sets = append(sets, "SELECT v.id FROM tickets v WHERE v.unit_id IN ("+joinIDs(ids)+")")
	}
	if p.Team != "" {
		sets = append(sets, "SELECT v.id FROM tickets v WHERE v.team = "+a.add(p.Team)+" AND v.kind <> 'user'")
	}
	return "t.id IN (" + strings.Join(sets, " UNION ") + ")"
}

func (s *Store) query(ctx context.Context, conds []string, a args, limit int) ([]*Ticket, error) {
	query := `SELECT ` + ticketCols + ticketFrom + ` WHERE ` + strings.Join(conds, " AND ") + ` ORDER BY t.id DESC LIMIT ` + a.add(limit)
	rows, err := s.r.QueryContext(ctx, query, a...)
	if err != nil {
		return nil, fmt.Errorf("ticket: list: %w", err)
	}
	defer rows.Close()
	var ts []*Ticket
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, fmt.Errorf("ticket: list: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ticket: list: %w", err)
	}
	return ts, nil
}

// searchKey is the rowid of a search row: ticket id, place in the thread
// (0: the subject, n: the n-th message), and whether it is internal.
func searchKey(ticketID, seq int64, internal bool) int64 {
	k := ticketID<<20 | min(seq, 1<<19-1)<<1
	if internal {
		k |= 1
	}
	return k
}

// hasManyTickets tells whether p requested at least manyTickets tickets.
func (s *Store) hasManyTickets(ctx context.Context, p *auth.Principal) (bool, error) {
	var own int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM tickets WHERE requester_id = $1 LIMIT 500)`,
		p.UserID).Scan(&own); err != nil {
		return false, fmt.Errorf("ticket: list: %w", err)
	}
	return own >= manyTickets, nil
}

// manyTickets is where a requester's list and search switch from checking
// each of their tickets to walking the index, as staff's do. (The LIMIT in
// hasManyTickets is this number, written out: a bound LIMIT makes SQLite
// prepare the statement again at every run.)
const manyTickets = 500

// searchChunk bounds how many search rows are read at a time.
const (
	firstChunk = 256
	maxChunk   = 8192
)

// searchByIndex serves the searches of staff, who see many tickets: it walks
// the matching search rows from the newest ticket down, a chunk at a time,
// and keeps the tickets p may see that pass the filters, until the page is
// full. Only the FTS index is read for the walk.
func (s *Store) searchByIndex(ctx context.Context, p *auth.Principal, f Filter, terms []string) ([]*Ticket, error) {
	match := FTS5Query(terms)
	upper := int64(math.MaxInt64)
	if f.Before > 0 {
		upper = f.Before << 20
	}
	var out []*Ticket
	chunk := firstChunk
	for len(out) < f.Limit {
		rows, err := s.r.QueryContext(ctx, `SELECT rowid FROM search_fts WHERE search_fts MATCH $1 AND rowid < $2 ORDER BY rowid DESC LIMIT $3`,
			match, upper, chunk)
		if err != nil {
			return nil, fmt.Errorf("ticket: search: %w", err)
		}
		var public, internal []int64
		n := 0
		for rows.Next() {
			var k int64
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, fmt.Errorf("ticket: search: %w", err)
			}
			n++
			upper = k
			id := k >> 20
			set := &public
			if k&1 == 1 {
				set = &internal
			}
			if l := len(*set); l == 0 || (*set)[l-1] != id {
				*set = append(*set, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("ticket: search: %w", err)
		}
		if n == 0 {
			break
		}
		var a args
		conds, err := s.filterConds(p, f, &a, false)
		if err != nil {
			return nil, err
		}
		// Internal notes match only tickets whose notes p may see.
		match := "t.id IN (SELECT value FROM json_each(" + a.add(jsonIDs(public)) + "))"
		if len(internal) > 0 && (p.SeesAll() || len(p.Units) > 0) {
			notes := "t.id IN (SELECT value FROM json_each(" + a.add(jsonIDs(internal)) + "))"
			if !p.SeesAll() {
				notes = "(t.unit_id IN (" + joinIDs(p.UnitIDs()) + ") AND " + notes + ")"
			}
			match = "(" + match + " OR " + notes + ")"
		}
		ts, err := s.query(ctx, append(conds, match), a, f.Limit)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			// A ticket whose rows straddle two chunks comes twice.
			if len(out) < f.Limit && (len(out) == 0 || t.ID < out[len(out)-1].ID) {
				out = append(out, t)
			}
		}
		if n < chunk {
			break
		}
		chunk = min(2*chunk, maxChunk)
	}
	return out, nil
}

func jsonIDs(ids []int64) string {
	b := make([]byte, 0, 8*len(ids)+2)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

// searchCond matches tickets whose subject or messages contain every term
// (PostgreSQL). Internal notes only match for tickets whose internal notes
// p may see.
func (s *Store) searchCond(p *auth.Principal, terms []string, a *args) string {
	internalOK := "1=0"
	switch {
	case p.SeesAll():
		internalOK = "1=1"
	case len(p.Units) > 0:
		internalOK = "t.unit_id IN (" + joinIDs(p.UnitIDs()) + ")"
	}
	q := "plainto_tsquery('english', " + a.add(strings.Join(terms, " ")) + ")"
	return "(t.search @@ " + q + " OR t.id IN (SELECT m.ticket_id FROM messages m WHERE m.search @@ " + q +
		" AND NOT m.internal) OR (" + internalOK + " AND t.id IN (SELECT m.ticket_id FROM messages m WHERE m.search @@ " + q + ")))"
}

// Count returns how many tickets exist (for metrics and the load command).
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM tickets`).Scan(&n)
	if err != nil {
		return 0, apperr.New(apperr.Internal, "count tickets: %v", err)
	}
	return n, nil
}
