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
	ts, err := s.list(ctx, p, f)
	for i, t := range ts {
		ts[i] = t.For(p)
	}
	return ts, err
}

func (s *Store) list(ctx context.Context, p *auth.Principal, f Filter) ([]*Ticket, error) {
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
		if err := s.index.sync(ctx); err != nil {
			return nil, err
		}
		if p.SeesAll() || len(p.Units) > 0 {
			return s.searchByIndex(ctx, p, f, terms)
		}
		return s.searchFew(ctx, p, f, terms)
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
	if ids := p.TicketIDs(); len(ids) > 0 {
		sets = append(sets, "SELECT v.id FROM tickets v WHERE v.id IN ("+joinIDs(ids)+")")
	}
	return "t.id IN (" + strings.Join(sets, " UNION ") + ")"
}

// query reads the newest tickets t that meet conds. The LIMIT is written
// out: SQLite (built with STAT4, as modernc.org/sqlite is) prepares a
// statement again at every run when a LIMIT is bound, which cost a search
// as much as running it.
func (s *Store) query(ctx context.Context, conds []string, a args, limit int) ([]*Ticket, error) {
	query := `SELECT ` + ticketCols + ticketFrom + ` WHERE ` + strings.Join(conds, " AND ") + ` ORDER BY t.id DESC LIMIT ` + strconv.Itoa(limit)
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
	k := ticketID*ticketKeys | min(seq, ticketKeys/2-1)<<1
	if internal {
		k |= 1
	}
	return k
}

// hasManyTickets tells whether p requested at least manyTickets tickets.
func (s *Store) hasManyTickets(ctx context.Context, p *auth.Principal) (bool, error) {
	var own int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM tickets WHERE requester_id = $1 LIMIT `+strconv.Itoa(manyTickets)+`)`,
		p.UserID).Scan(&own); err != nil {
		return false, fmt.Errorf("ticket: list: %w", err)
	}
	return own >= manyTickets, nil
}

// manyTickets is where a requester's list and search switch from checking
// each of their tickets to walking the index, as staff's do. (Queries
// write it out as a literal: a bound LIMIT makes SQLite prepare the
// statement again at every run.)
const manyTickets = 500

// searchChunk bounds how many search rows are read at a time.
const (
	firstChunk = 128
	maxChunk   = 8192
)

// searchByIndex serves the searches of staff, who see many tickets: it walks
// the matching search rows from the newest ticket down, a chunk at a time,
// and keeps the tickets p may see that pass the filters, until the page is
// full; then it reads the tickets of the page. Only the FTS index is read
// for the walk, and the visibility and filters of the tickets found are
// checked on the tickets table alone; someone who sees every ticket and
// filters on nothing needs no check.
func (s *Store) searchByIndex(ctx context.Context, p *auth.Principal, f Filter, terms []string) ([]*Ticket, error) {
	match := FTS5Query(terms)
	upper := int64(math.MaxInt64)
	if f.Before > 0 {
		upper = f.Before * ticketKeys
	}
	everything := p.SeesAll() && f.onlyQuery()
	var out []int64
	add := func(id int64) {
		// A ticket whose rows straddle two chunks comes twice.
		if len(out) < f.Limit && (len(out) == 0 || id < out[len(out)-1]) {
			out = append(out, id)
		}
	}
	chunk := max(firstChunk, 2*f.Limit)
	for len(out) < f.Limit {
		rows, err := s.r.QueryContext(ctx, `SELECT rowid FROM search_fts WHERE search_fts MATCH $1 AND rowid < $2 ORDER BY rowid DESC LIMIT `+strconv.Itoa(chunk),
			match, upper)
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
			id := k / ticketKeys
			if everything {
				add(id)
				continue
			}
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
		if !everything && (len(public) > 0 || len(internal) > 0) {
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
			ids, err := db.Column[int64](s.r.QueryContext(ctx, `SELECT t.id FROM tickets t WHERE `+strings.Join(append(conds, match), " AND ")+
				` ORDER BY t.id DESC LIMIT `+strconv.Itoa(f.Limit), a...))
			if err != nil {
				return nil, fmt.Errorf("ticket: search: %w", err)
			}
			for _, id := range ids {
				add(id)
			}
		}
		if n < chunk {
			break
		}
		chunk = min(2*chunk, maxChunk)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return s.query(ctx, []string{"t.id IN (SELECT value FROM json_each($1))"}, args{jsonIDs(out)}, f.Limit)
}

// onlyQuery tells whether f filters on nothing but the search words (and
// the cursor).
func (f Filter) onlyQuery() bool {
	return len(f.Statuses) == 0 && len(f.Priorities) == 0 && len(f.Overdue) == 0 && f.UnitID == 0 &&
		f.ServiceID == 0 && f.RequesterID == 0 && f.AssigneeID == 0 && !f.Unassigned
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

// searchFew serves the searches of people who see few tickets (requesters,
// on SQLite): it reads the ids of the tickets p may see that pass the
// filters, then the search rows of those tickets only (searchAmong), and
// reads the tickets found. Someone who sees more than manyTickets tickets
// is served by searchByIndex, as staff are.
func (s *Store) searchFew(ctx context.Context, p *auth.Principal, f Filter, terms []string) ([]*Ticket, error) {
	var a args
	conds, err := s.filterConds(p, f, &a, true)
	if err != nil {
		return nil, err
	}
	ids, err := db.Column[int64](s.r.QueryContext(ctx, `SELECT t.id FROM tickets t WHERE `+strings.Join(conds, " AND ")+
		` ORDER BY t.id DESC LIMIT `+strconv.Itoa(manyTickets+1), a...))
	if err != nil {
		return nil, fmt.Errorf("ticket: search: %w", err)
	}
	if len(ids) > manyTickets {
		return s.searchByIndex(ctx, p, f, terms)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	hits, err := s.searchAmong(ctx, FTS5Query(terms), ids, f.Limit)
	if err != nil || len(hits) == 0 {
		return nil, err
	}
	return s.query(ctx, []string{"t.id IN (SELECT value FROM json_each($1))"}, args{jsonIDs(hits)}, f.Limit)
}

// Search costs, in search rows read: reading the rows of a range of keys
// costs about as much as walking rangeCost rows (the FTS index looks the
// terms up again in each of its segments). Measured over 100,000 tickets
// (BenchmarkSearch): a range costs 10-50 µs, walking a row 0.3-1 µs.
const (
	rangeCost  = 32
	firstWalk  = 256
	ticketKeys = 1 << 20 // search keys of one ticket: id<<20 .. id<<20 | ticketKeys-1
)

// searchAmong returns the newest (at most limit) of the tickets ids (newest
// first) that have a public search row matching match. It walks the
// matching rows of the span of ids from the newest down; when that first
// walk does not settle the answer, it estimates from it how densely the
// rows match, and reads the rest as ranges of keys: each remaining ticket
// alone when the matching rows are dense (a walk would mostly read other
// people's tickets), neighbouring tickets together when the rows between
// them cost less to walk than one more range, and the whole span when the
// terms are rare. Ranges are read in one statement, newest first, and the
// reading stops once limit tickets are found.
func (s *Store) searchAmong(ctx context.Context, match string, ids []int64, limit int) ([]int64, error) {
	hi := ids[0]*ticketKeys + ticketKeys - 1
	rows, err := s.r.QueryContext(ctx, `SELECT rowid FROM search_fts WHERE search_fts MATCH $1 AND rowid BETWEEN $2 AND $3 ORDER BY rowid DESC LIMIT `+strconv.Itoa(firstWalk),
		match, ids[len(ids)-1]*ticketKeys, hi)
	if err != nil {
		return nil, fmt.Errorf("ticket: search: %w", err)
	}
	var hits []int64
	i, n, last := 0, 0, int64(0)
	for rows.Next() {
		if err := rows.Scan(&last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ticket: search: %w", err)
		}
		n++
		if last&1 != 0 {
			continue // an internal note
		}
		id := last / ticketKeys
		for i < len(ids) && ids[i] > id {
			i++
		}
		if i < len(ids) && ids[i] == id && (len(hits) == 0 || hits[len(hits)-1] != id) {
			hits = append(hits, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ticket: search: %w", err)
	}
	if n < firstWalk || len(hits) >= limit {
		return hits[:min(len(hits), limit)], nil
	}
	// The rest: the tickets below the last row read, and the rows below it
	// of its own ticket.
	lastID := last / ticketKeys
	for i < len(ids) && ids[i] > lastID {
		i++
	}
	rest := ids[i:]
	if len(rest) > 0 && rest[0] == lastID && len(hits) > 0 && hits[len(hits)-1] == lastID {
		rest = rest[1:] // found already
	}
	if len(rest) == 0 {
		return hits, nil
	}
	// Matching rows per ticket id over the span walked, and the gap between
	// two tickets (in ticket ids) worth walking rather than seeking.
	density := float64(n) / float64(ids[0]-lastID+1)
	gap := int64(rangeCost / density)
	type keyRange struct{ lo, hi int64 }
	var ranges []keyRange
	for _, id := range rest {
		top := id*ticketKeys + ticketKeys - 1
		if id == lastID {
			top = last - 1
		}
		if l := len(ranges); l > 0 && ranges[l-1].lo/ticketKeys-id-1 <= gap {
			ranges[l-1].lo = id * ticketKeys
			continue
		}
		ranges = append(ranges, keyRange{id * ticketKeys, top})
	}
	b := make([]byte, 0, 32*len(ranges))
	b = append(b, '[')
	for k, r := range ranges {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, r.lo, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, r.hi, 10)
		b = append(b, ']')
	}
	b = append(b, ']')
	rows, err = s.r.QueryContext(ctx, `SELECT j.key, f.rowid FROM json_each($2) j CROSS JOIN search_fts f
		WHERE search_fts MATCH $1 AND f.rowid BETWEEN j.value ->> 0 AND j.value ->> 1
		AND (f.rowid & 1) = 0 AND f.rowid >> 20 IN (SELECT value FROM json_each($3))`, match, string(b), jsonIDs(rest))
	if err != nil {
		return nil, fmt.Errorf("ticket: search: %w", err)
	}
	defer rows.Close()
	// The rows of one range come in ascending order: gather them, then add
	// them to hits newest first.
	var found []int64
	flush := func() {
		for k := len(found) - 1; k >= 0; k-- {
			if id := found[k]; len(hits) == 0 || hits[len(hits)-1] != id {
				hits = append(hits, id)
			}
		}
		found = found[:0]
	}
	cur := int64(-1)
	for rows.Next() {
		var r, k int64
		if err := rows.Scan(&r, &k); err != nil {
			return nil, fmt.Errorf("ticket: search: %w", err)
		}
		if r != cur {
			flush()
			if len(hits) >= limit {
				break
			}
			cur = r
		}
		found = append(found, k/ticketKeys)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ticket: search: %w", err)
	}
	flush()
	return hits[:min(len(hits), limit)], nil
}

// Sight tells, for each of ids that p may see, whether p also sees its
// internal notes; tickets p may not see are absent. It is the batch form
// of Get's check, for feeds that name many tickets.
func (s *Store) Sight(ctx context.Context, p *auth.Principal, ids []int64) (map[int64]bool, error) {
	out := make(map[int64]bool, len(ids))
	if len(ids) == 0 || p == nil {
		return out, nil
	}
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT t.id, t.requester_id, COALESCE(t.unit_id, 0), t.kind, COALESCE(t.team, ''),
		EXISTS (SELECT 1 FROM ticket_watchers w WHERE w.ticket_id = t.id AND w.user_id = $1)
		FROM tickets t WHERE t.id IN (`+joinIDs(ids)+`)`, p.UserID)
	if err != nil {
		return nil, fmt.Errorf("ticket: sight: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var f auth.TicketFacts
		if err := rows.Scan(&id, &f.RequesterID, &f.UnitID, &f.Kind, &f.Team, &f.Watcher); err != nil {
			return nil, fmt.Errorf("ticket: sight: %w", err)
		}
		if p.CanSeeTicket(f) {
			out[id] = p.CanSeeInternal(f)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ticket: sight: %w", err)
	}
	return out, nil
}

// UnitsOf returns the unit each of the tickets ids is in (0 for none).
func (s *Store) UnitsOf(ctx context.Context, ids []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT id, COALESCE(unit_id, 0) FROM tickets WHERE id IN (`+joinIDs(ids)+`)`)
	if err != nil {
		return nil, fmt.Errorf("ticket: units of tickets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, unit int64
		if err := rows.Scan(&id, &unit); err != nil {
			return nil, fmt.Errorf("ticket: units of tickets: %w", err)
		}
		out[id] = unit
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ticket: units of tickets: %w", err)
	}
	return out, nil
}

// Brief is what a chat post shows of a ticket: public fields only.
type Brief struct {
	ID       int64
	Subject  string
	Status   Status
	Priority Priority
	UnitID   int64
	// ServiceID is the ticket's service, 0 when none (the connectors'
	// follower finds a ticket's connector by it).
	ServiceID int64
}

// Briefs returns the brief of each of the tickets ids that exists.
func (s *Store) Briefs(ctx context.Context, ids []int64) (map[int64]Brief, error) {
	out := make(map[int64]Brief, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT id, subject, status, priority, COALESCE(unit_id, 0), COALESCE(service_id, 0) FROM tickets WHERE id IN (`+joinIDs(ids)+`)`)
	if err != nil {
		return nil, fmt.Errorf("ticket: briefs of tickets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b Brief
		if err := rows.Scan(&b.ID, &b.Subject, &b.Status, &b.Priority, &b.UnitID, &b.ServiceID); err != nil {
			return nil, fmt.Errorf("ticket: briefs of tickets: %w", err)
		}
		out[b.ID] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ticket: briefs of tickets: %w", err)
	}
	return out, nil
}
