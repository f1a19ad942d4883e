package web

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/helpmesh/helpmesh/internal/live"
)

// Live updates: a page that shows a ticket or a queue opens a server-sent
// event stream, subscribed to the live hub, which follows the event stream
// (package live): every change made on any node (web, API, mail, peers)
// reaches every browser, and a change the viewer may not see (an internal
// note, for a requester) is not told.

const (
	// maxStream bounds one stream; the browser's EventSource reconnects.
	maxStream = 10 * time.Minute
	// keepAlive is how often an idle stream sends a comment, so that
	// proxies keep it open.
	keepAlive = 20 * time.Second
)

func (h *Handler) ticketEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := ticketID(r)
	if !ok {
		h.errorPage(w, r, http.StatusNotFound, "No such ticket.")
		return
	}
	p := principal(r)
	t, err := h.d.Tickets.Get(r.Context(), p, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sub, done := h.d.Live.Ticket(id, p.CanSeeInternal(t.Facts()))
	defer done()
	h.stream(w, r, sub)
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
	sub, done := h.d.Live.Queue(u.ID)
	defer done()
	h.stream(w, r, sub)
}

// stream sends "changed" each time sub is told of a change.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, sub *live.Sub) {
	ctx, cancel := context.WithTimeout(r.Context(), maxStream)
	defer cancel()
	stop := context.AfterFunc(h.streams, cancel)
	defer stop()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(maxStream + time.Minute))
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 3000\n: hello\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	beat := time.NewTicker(keepAlive)
	defer beat.Stop()
	for n := 1; ; {
		select {
		case <-ctx.Done():
			return
		case <-sub.C:
			fmt.Fprintf(w, "event: changed\ndata: %d\n\n", n)
			n++
		case <-beat.C:
			fmt.Fprintf(w, ": keep-alive\n\n")
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
