package ticket

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
)

// UnitCount selects the tickets of one unit that CountInUnit counts. Zero
// fields do not filter.
type UnitCount struct {
	Statuses      []Status
	Priority      Priority
	AssigneeID    int64
	CreatedBefore time.Time
}

// CountInUnit counts the tickets of unit unitID that match c, reading at
// most limit of them: the answer is at most limit, so that a queue page's
// counts stay cheap on a large unit. The counts follow the indexes
// (unit_id, status, id) and (unit_id, priority, status, id). Only staff of
// the unit may count its tickets.
func (s *Store) CountInUnit(ctx context.Context, p *auth.Principal, unitID int64, c UnitCount, limit int) (int, error) {
	if !p.StaffOf(unitID) {
		return 0, apperr.New(apperr.NotFound, "no such unit")
	}
	var a args
	conds := []string{"unit_id = " + a.add(unitID)}
	if c.AssigneeID != 0 {
		conds = append(conds, "assignee_id = "+a.add(c.AssigneeID))
	}
	if c.Priority != "" {
		conds = append(conds, "priority = "+a.add(string(c.Priority)))
	}
	if len(c.Statuses) > 0 {
		ph := make([]string, len(c.Statuses))
		for i, st := range c.Statuses {
			ph[i] = a.add(string(st))
		}
		conds = append(conds, "status IN ("+strings.Join(ph, ", ")+")")
	}
	if !c.CreatedBefore.IsZero() {
		conds = append(conds, "created_at < "+a.add(c.CreatedBefore))
	}
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM tickets WHERE `+strings.Join(conds, " AND ")+
		` LIMIT `+strconv.Itoa(max(limit, 0))+`) x`, a...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("ticket: count in unit %d: %w", unitID, err)
	}
	return n, nil
}
