package change

import (
	"context"
	"fmt"
	"time"

	"github.com/helpmesh/helpmesh/internal/status"
)

// Maintenances returns the changes that end after since and are not
// cancelled, as the status page's announced maintenance
// (status.Maintenances): outage changes take their services down,
// warnings degrade them; a service ended early leaves an active
// maintenance.
func (s *Store) Maintenances(ctx context.Context, since time.Time) ([]status.Maintenance, error) {
	cs, err := s.query(ctx, s.db.Reader(), `SELECT `+cols+` FROM changes WHERE end_at > $1 AND status <> 'cancelled' ORDER BY start_at, id LIMIT 1000`, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("change: maintenances: %w", err)
	}
	now := s.clock()
	out := make([]status.Maintenance, 0, len(cs))
	for _, c := range cs {
		m := status.Maintenance{ID: c.ID, Title: c.Title, Description: c.Description, Status: c.Phase(now), Outage: c.Severity == "outage",
			Start: c.Start, End: c.End, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
		for _, sv := range c.Services {
			if m.Status != "in_progress" || c.Active(now, sv.ID) {
				m.Services = append(m.Services, sv.ID)
			}
		}
		out = append(out, m)
	}
	return out, nil
}
