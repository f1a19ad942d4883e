package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// outboxStates are the states of an outgoing mail.
var outboxStates = []string{"held", "pending", "sent", "failed", "suppressed"}

// Stats is what /metrics shows of the mail: the outbox by state (sent and
// failed only grow: rows are kept), how long the oldest mail not sent yet
// has waited, the quarantine and the notices gathered for a batched mail.
type Stats struct {
	Outbox map[string]int64
	// OldestWaiting is the age of the oldest pending or held mail; 0 when
	// none waits.
	OldestWaiting time.Duration
	Quarantined   int64
	// Gathering counts the notices waiting in mail_gathering for their
	// batch's mail (Options.Batch).
	Gathering int64
}

// Stats reads the mail's figures for /metrics.
func (g *Gateway) Stats(ctx context.Context) (Stats, error) {
	by, err := g.outboxByState(ctx)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Outbox: by}
	for _, state := range []string{"pending", "held"} {
		var at time.Time
		err := g.db.R.QueryRowContext(ctx, `SELECT created_at FROM outbox WHERE state = $1 ORDER BY id LIMIT 1`, state).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return Stats{}, fmt.Errorf("mail: oldest %s mail: %w", state, err)
		}
		st.OldestWaiting = max(st.OldestWaiting, g.now().Sub(at))
	}
	if err := g.db.R.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM quarantine), (SELECT COUNT(*) FROM mail_gathering)`).Scan(&st.Quarantined, &st.Gathering); err != nil {
		return Stats{}, fmt.Errorf("mail: quarantine and gathering: %w", err)
	}
	return st, nil
}

// outboxByState counts the outgoing mails of each state, 0 for a state
// without any.
func (g *Gateway) outboxByState(ctx context.Context) (map[string]int64, error) {
	out := make(map[string]int64, len(outboxStates))
	for _, s := range outboxStates {
		out[s] = 0
	}
	rows, err := g.db.R.QueryContext(ctx, `SELECT state, COUNT(*) FROM outbox GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("mail: outbox by state: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("mail: outbox by state: %w", err)
		}
		out[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mail: outbox by state: %w", err)
	}
	return out, nil
}
