package ticket

import (
	"context"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
)

// TestCountInUnit: counts by status, assignee, priority and age, capped
// at the limit, and only for staff of the unit.
func TestCountInUnit(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d, Options{})
		ctx := context.Background()
		var ids []int64
		for _, pr := range []Priority{Urgent, Urgent, TopPriority, LessUrgent} {
			ids = append(ids, w.create(t, w.req, NewTicket{UnitID: w.ops.ID, Priority: pr}).ID)
		}
		w.create(t, w.req, NewTicket{UnitID: w.elsewhere.ID, Priority: Urgent})
		w.setStatus(t, ids[3], Solved)
		me := w.staff.UserID
		if _, err := w.s.Update(ctx, w.staff, ids[0], Update{AssigneeID: &me}); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Hour)
		for _, c := range []struct {
			name  string
			c     UnitCount
			limit int
			want  int
		}{
			{"all", UnitCount{}, 100, 4},
			{"capped", UnitCount{}, 2, 2},
			{"solved", UnitCount{Statuses: []Status{Solved}}, 100, 1},
			{"open", UnitCount{Statuses: []Status{New, Assigned, InProgress}}, 100, 3},
			{"mine", UnitCount{AssigneeID: me, Statuses: []Status{New, Assigned, InProgress}}, 100, 1},
			{"urgent", UnitCount{Priority: Urgent}, 100, 2},
			{"urgent, created before now+1h", UnitCount{Priority: Urgent, CreatedBefore: later}, 100, 2},
			{"urgent, created before an hour ago", UnitCount{Priority: Urgent, CreatedBefore: time.Now().Add(-time.Hour)}, 100, 0},
		} {
			n, err := w.s.CountInUnit(ctx, w.staff, w.ops.ID, c.c, c.limit)
			if err != nil || n != c.want {
				t.Errorf("%s: %d %v, want %d", c.name, n, err, c.want)
			}
		}
		if n, err := w.s.CountInUnit(ctx, w.adm, w.ops.ID, UnitCount{}, 100); err != nil || n != 4 {
			t.Errorf("admin: %d %v", n, err)
		}
		if _, err := w.s.CountInUnit(ctx, w.req, w.ops.ID, UnitCount{}, 100); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("requester counts a unit: %v", err)
		}
		if _, err := w.s.CountInUnit(ctx, w.other, w.ops.ID, UnitCount{}, 100); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("staff of another unit counts ops: %v", err)
		}
	})
}
