package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/mail"
)

// Outbox is the mail gateway as the outbox routes need it: outgoing mail
// by state and quarantined incoming mail, newest first, before a cursor.
type Outbox interface {
	Outbox(ctx context.Context, state string, before int64, limit int) ([]mail.OutboxEntry, error)
	Quarantine(ctx context.Context, before int64, limit int) ([]mail.Quarantined, error)
}

// adminOnly lets only administrators through to h; why says what they
// would have seen.
func (a *API) adminOnly(why string, h func(w http.ResponseWriter, r *http.Request)) func(http.ResponseWriter, *http.Request, *auth.Principal) {
	return func(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
		if !p.IsAdmin() {
			a.writeError(w, r, apperr.New(apperr.Forbidden, "only administrators see %s", why))
			return
		}
		h(w, r)
	}
}

// outboxCursor reads ?cursor= (the id to list before) and ?limit= (the
// gateway bounds it).
func outboxCursor(r *http.Request) (int64, int) {
	before, _ := strconv.ParseInt(r.URL.Query().Get("cursor"), 10, 64)
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	return before, limit
}

// outbox serves GET /api/v1/outbox?state=&cursor=&limit=: the mail
// gateway's outgoing mail, for administrators.
func (a *API) outbox(w http.ResponseWriter, r *http.Request) {
	before, limit := outboxCursor(r)
	es, err := a.Outbox.Outbox(r.Context(), r.URL.Query().Get("state"), before, limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	next := ""
	if len(es) > 0 {
		next = strconv.FormatInt(es[len(es)-1].ID, 10)
	}
	if es == nil {
		es = []mail.OutboxEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": es, "next_cursor": next, "relay": a.Relay})
}

// quarantine serves GET /api/v1/outbox/quarantine?cursor=&limit=: incoming
// mail the gateway held back, for administrators.
func (a *API) quarantine(w http.ResponseWriter, r *http.Request) {
	before, limit := outboxCursor(r)
	qs, err := a.Outbox.Quarantine(r.Context(), before, limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if qs == nil {
		qs = []mail.Quarantined{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": qs})
}
