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

// outboxCursor reads ?cursor= (the id to list before) and ?limit= (1 to
// 500; empty: the gateway's default); anything else is a 400.
func outboxCursor(r *http.Request) (int64, int, error) {
	var before int64
	if s := r.URL.Query().Get("cursor"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, apperr.Field("cursor", "must be a cursor from next_cursor")
		}
		before = n
	}
	limit, err := queryInt(r, "limit", 0, 1, 500)
	return before, limit, err
}

// outbox serves GET /api/v1/outbox?state=&cursor=&limit=: the mail
// gateway's outgoing mail, for administrators.
func (a *API) outbox(w http.ResponseWriter, r *http.Request) {
	before, limit, err := outboxCursor(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
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
	before, limit, err := outboxCursor(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
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
