package api

import (
	"net/http"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/user"
)

// notificationsDTO is which kinds of notice mail the signed-in person:
// Muted are the ones turned off, Kinds every one that can be.
type notificationsDTO struct {
	Muted []string `json:"muted"`
	Kinds []string `json:"kinds"`
}

type notificationsReq struct {
	Muted *[]string `json:"muted"`
}

// myNotifications is GET /api/v1/me/notifications.
func (a *API) myNotifications(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if p.UserID == 0 {
		a.writeError(w, r, forbidden("only people have mail preferences"))
		return
	}
	muted, err := a.Users.MutedKinds(r.Context(), p.UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, notificationsDTO{Muted: muted, Kinds: user.MailNoticeKinds()})
}

// setMyNotifications is PATCH /api/v1/me/notifications {"muted": [...]}.
func (a *API) setMyNotifications(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if p.UserID == 0 {
		a.writeError(w, r, forbidden("only people have mail preferences"))
		return
	}
	var req notificationsReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.Muted == nil {
		a.writeError(w, r, apperr.Field("muted", "is required: the list of kinds of notice not to mail"))
		return
	}
	muted, err := a.Users.SetMutedKinds(r.Context(), p.UserID, *req.Muted)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, notificationsDTO{Muted: muted, Kinds: user.MailNoticeKinds()})
}
