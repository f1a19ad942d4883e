package web

import (
	"net/http"
	"slices"

	"github.com/helpmesh/helpmesh/internal/user"
)

// The mail notifications page (/account/notifications): a person chooses
// which kinds of notice mail them (the same choice as PATCH
// /api/v1/me/notifications).

type notificationsView struct {
	Page
	Kinds []noticeChoice
}

// noticeChoice is one kind of notice and whether it mails the person.
type noticeChoice struct {
	Kind, Label string
	On          bool
}

// noticeLabels say what each kind of notice is, in the words of the page.
var noticeLabels = map[string]string{
	"auto_reply":        "Confirmation when I open a ticket",
	"new_ticket":        "New tickets of my units",
	"reply":             "Replies on tickets I follow",
	"note":              "Internal notes on my units' tickets",
	"status":            "Status changes of my tickets",
	"assigned":          "Tickets moved or assigned to me or my units",
	"escalated":         "Tickets escalated to the ticket handler team",
	"reminder":          "Reminders when a ticket waits for my answer",
	"escalated_by_user": "Escalations by requesters",
}

func (h *Handler) notificationsPage(w http.ResponseWriter, r *http.Request) {
	muted, err := h.d.Users.MutedKinds(r.Context(), principal(r).UserID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := notificationsView{Page: h.page(r, "Mail notifications", "notifications")}
	for _, k := range user.MailNoticeKinds() {
		v.Kinds = append(v.Kinds, noticeChoice{Kind: k, Label: noticeLabels[k], On: !slices.Contains(muted, k)})
	}
	h.render(w, r, http.StatusOK, "notifications", v)
}

func (h *Handler) saveNotifications(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if p.ReadOnly {
		h.errorPage(w, r, http.StatusForbidden, "This credential is read-only.")
		return
	}
	if err := r.ParseForm(); err != nil {
		h.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	on := r.PostForm["on"]
	var muted []string
	for _, k := range user.MailNoticeKinds() {
		if !slices.Contains(on, k) {
			muted = append(muted, k)
		}
	}
	if _, err := h.d.Users.SetMutedKinds(r.Context(), p.UserID, muted); err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/account/notifications", "notifications-saved")
}
