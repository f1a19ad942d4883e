package ticket

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// Filter selects tickets. Zero fields do not filter.
type Filter struct {
	Statuses    []Status
	Priorities  []Priority
	UnitID      int64
	ServiceID   int64
	RequesterID int64
	AssigneeID  int64
	Unassigned  bool
	Query       string // full text over subjects and messages
	Before      int64  // cursor: only tickets with a smaller id
	Limit       int    // 1..MaxLimit, default DefaultLimit
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
	var a args
	conds := []string{visible(p, &a)}
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
	if strings.TrimSpace(f.Query) != "" {
		terms := SearchTerms(f.Query)
		if len(terms) == 0 {
			return nil, nil // only punctuation: nothing can match
		}
		conds = append(conds, s.searchCond(p, terms, &a))
	}
	query := `SELECT ` + ticketCols + ticketFrom + ` WHERE ` + strings.Join(conds, " AND ") + ` ORDER BY t.id DESC LIMIT ` + a.add(f.Limit)
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

// searchCond matches tickets whose subject or messages contain every term.
// Internal notes only match for tickets whose internal notes p may see.
func (s *Store) searchCond(p *auth.Principal, terms []string, a *args) string {
	internalOK := "1=0"
	switch {
	case p.SeesAll():
		internalOK = "1=1"
	case len(p.Units) > 0:
		internalOK = "t.unit_id IN (" + joinIDs(p.UnitIDs()) + ")"
	}
	if s.db.Engine == db.Postgres {
		q := "plainto_tsquery('english', " + a.add(strings.Join(terms, " ")) + ")"
		return "(t.search @@ " + q + " OR t.id IN (SELECT m.ticket_id FROM messages m WHERE m.search @@ " + q +
			" AND NOT m.internal) OR (" + internalOK + " AND t.id IN (SELECT m.ticket_id FROM messages m WHERE m.search @@ " + q + ")))"
	}
	q := a.add(FTS5Query(terms))
	public := "t.id IN (SELECT f.ticket_id FROM search_fts f WHERE search_fts MATCH " + q + " AND f.internal = 0)"
	if internalOK == "1=0" {
		return public
	}
	if internalOK == "1=1" {
		return "t.id IN (SELECT f.ticket_id FROM search_fts f WHERE search_fts MATCH " + q + ")"
	}
	return "(" + public + " OR (" + internalOK + " AND t.id IN (SELECT f.ticket_id FROM search_fts f WHERE search_fts MATCH " + q + ")))"
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
