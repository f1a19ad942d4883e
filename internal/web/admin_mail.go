package web

import (
	"net/http"
	"net/url"
	"strconv"
)

// The admin mail page (/admin/outbox): outgoing mail with its kind, a
// preview of its text and its ticket, failed mail sent again or mail
// discarded before it goes out, and the quarantine of incoming mail; both
// lists page by id.

type adminMailView struct {
	Page
	NoOutbox          bool
	Outgoing, Quarant []OutboxMail
	MoreOut, MoreQuar string
}

// mailPageSize is how many mails each list of the mail page shows.
const mailPageSize = 25

func (h *Handler) adminOutbox(w http.ResponseWriter, r *http.Request) {
	v := adminMailView{Page: h.page(r, "Mail", "admin")}
	if h.d.Outbox == nil {
		v.NoOutbox = true
		h.render(w, r, http.StatusOK, "admin_outbox", v)
		return
	}
	q := r.URL.Query()
	before, ok1 := cursorParam(q, "before")
	qbefore, ok2 := cursorParam(q, "qbefore")
	if !ok1 || !ok2 {
		h.errorPage(w, r, http.StatusBadRequest, "The page of the list is a mail number, like ?before=120.")
		return
	}
	var err error
	if v.Outgoing, err = h.d.Outbox.Outgoing(r.Context(), before, mailPageSize); err != nil {
		h.fail(w, r, err)
		return
	}
	if v.Quarant, err = h.d.Outbox.Quarantined(r.Context(), qbefore, mailPageSize); err != nil {
		h.fail(w, r, err)
		return
	}
	if len(v.Outgoing) == mailPageSize {
		v.MoreOut = "/admin/outbox?" + url.Values{"before": {strconv.FormatInt(v.Outgoing[len(v.Outgoing)-1].ID, 10)}}.Encode()
	}
	if len(v.Quarant) == mailPageSize {
		v.MoreQuar = "/admin/outbox?" + url.Values{"qbefore": {strconv.FormatInt(v.Quarant[len(v.Quarant)-1].ID, 10)}}.Encode() + "#quarantine"
	}
	h.render(w, r, http.StatusOK, "admin_outbox", v)
}

// cursorParam reads an optional positive id of a query; ok is false for
// anything else.
func cursorParam(q url.Values, name string) (n int64, ok bool) {
	s := q.Get(name)
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

func (h *Handler) retryMail(w http.ResponseWriter, r *http.Request) { h.changeMail(w, r, "retry") }

func (h *Handler) discardMail(w http.ResponseWriter, r *http.Request) { h.changeMail(w, r, "discard") }

// changeMail sends a failed mail again (retry) or discards one (discard).
func (h *Handler) changeMail(w http.ResponseWriter, r *http.Request, what string) {
	if h.d.Outbox == nil {
		h.errorPage(w, r, http.StatusNotFound, "Mail is not set up.")
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.errorPage(w, r, http.StatusNotFound, "No such mail.")
		return
	}
	change, flash := h.d.Outbox.Retry, "mail-retry"
	if what == "discard" {
		change, flash = h.d.Outbox.Discard, "mail-discard"
	}
	if err := change(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/admin/outbox", flash)
}
