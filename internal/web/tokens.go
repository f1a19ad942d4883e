package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/user"
)

// The API tokens page (/account/tokens): people make and revoke their own
// tokens for the REST API. A new token's secret is shown once.

type tokensView struct {
	Page
	NewToken string
	Tokens   []*user.Token
}

func (h *Handler) tokensPage(w http.ResponseWriter, r *http.Request) { h.showTokens(w, r, "") }

func (h *Handler) showTokens(w http.ResponseWriter, r *http.Request, secret string) {
	v := tokensView{Page: h.page(r, "Your API tokens", "tokens"), NewToken: secret}
	if secret != "" {
		v.Flash, v.FlashKey = "Token created. Copy it now: it is not shown again.", "token"
	}
	var err error
	if v.Tokens, err = h.d.Users.Tokens(r.Context(), principal(r).UserID); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "tokens", v)
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if p.ReadOnly {
		h.errorPage(w, r, http.StatusForbidden, "This credential is read-only.")
		return
	}
	days, err := strconv.Atoi(r.PostFormValue("days"))
	if err != nil || days < 1 || days > 366 {
		h.errorPage(w, r, http.StatusUnprocessableEntity, "Choose how long the token stays valid (1 to 366 days).")
		return
	}
	exp := h.d.Now().UTC().Add(time.Duration(days) * 24 * time.Hour)
	_, secret, err := h.d.Users.CreateToken(r.Context(), p.UserID, strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("scope"), &exp)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.showTokens(w, r, secret)
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err := h.d.Users.RevokeToken(r.Context(), principal(r).UserID, id); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account/tokens", http.StatusSeeOther)
}
