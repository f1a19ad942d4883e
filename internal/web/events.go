package web

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Live updates: a page that shows a ticket or a queue opens a server-sent
// event stream; the stream looks at the database every SSEInterval and
// sends "changed" when the ticket (or any ticket of the unit) changed.
// Asking the shared database, rather than an in-process bus, makes updates
// made on any node (web, API, mail, peers) reach every browser.

// maxStream bounds one stream; the browser's EventSource reconnects.
const maxStream = 10 * time.Minute

func (h *Handler) ticketEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := ticketID(r)
	if !ok {
		h.errorPage(w, r, http.StatusNotFound, "No such ticket.")
		return
	}
	if _, err := h.d.Tickets.Get(r.Context(), principal(r), id); err != nil {
		h.fail(w, r, err)
		return
	}
	// The ticket as the subscriber sees it: an internal note changes
	// nothing for someone who may not see it.
	h.stream(w, r, func(ctx context.Context) (string, error) {
		t, err := h.d.Tickets.Get(ctx, principal(r), id)
		if err != nil {
			return "", err
		}
		return t.UpdatedAt.UTC().Format(time.RFC3339Nano), nil
	})
}

func (h *Handler) queueEvents(w http.ResponseWriter, r *http.Request) {
	u, err := h.d.Units.Unit(r.Context(), r.PathValue("unit"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !principal(r).StaffOf(u.ID) {
		h.errorPage(w, r, http.StatusForbidden, "You do not work this unit's queue.")
		return
	}
	h.stream(w, r, func(ctx context.Context) (string, error) {
		var at sql.NullString // MAX() of a timestamp is text on SQLite
		var n int64
		err := h.d.DB.R.QueryRowContext(ctx, `SELECT MAX(updated_at), COUNT(*) FROM tickets WHERE unit_id = $1`, u.ID).Scan(&at, &n)
		return fmt.Sprintf("%s/%d", at.String, n), err
	})
}

// stream sends "changed" each time version returns something new.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, version func(ctx context.Context) (string, error)) {
	ctx, cancel := context.WithTimeout(r.Context(), maxStream)
	defer cancel()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(maxStream + time.Minute))
	last, err := version(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 3000\n: hello\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	tick := time.NewTicker(h.d.SSEInterval)
	defer tick.Stop()
	beat := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		v, err := version(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				h.d.Log.Warn("web: live updates", "err", err)
			}
			return
		}
		beat++
		switch {
		case v != last:
			last = v
			fmt.Fprintf(w, "event: changed\ndata: %s\n\n", v)
		case beat%10 == 0:
			fmt.Fprintf(w, ": keep-alive\n\n")
		default:
			continue
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
