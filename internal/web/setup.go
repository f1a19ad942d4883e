package web

import (
	"net/http"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/user"
)

// The first-run setup page, /setup/{token}: while no user exists, helpmesh
// serve logs this address with a one-time token; its form creates the
// first administrator and signs them in.

type setupView struct {
	Page
	Token       string
	Name        string
	Email       string
	Error       string
	MinPassword int
}

const setupGone = "This setup address was used already, or the helpdesk has been set up. Sign in instead."

func (h *Handler) setupPage(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if err := h.d.Users.CheckSetupToken(r.Context(), token); err != nil {
		h.setupFailed(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "setup", setupView{Page: h.page(r, "Set up", "login"), Token: token, MinPassword: auth.MinPasswordLength})
}

func (h *Handler) setup(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	v := setupView{Page: h.page(r, "Set up", "login"), Token: token, MinPassword: auth.MinPasswordLength,
		Name: strings.TrimSpace(r.PostFormValue("name")), Email: strings.TrimSpace(r.PostFormValue("email"))}
	u, err := h.d.Users.Setup(r.Context(), token, user.NewUser{Email: v.Email, Name: v.Name, Password: r.PostFormValue("password")})
	if _, msg, ok := errField(err); ok {
		v.Error = msg
		h.render(w, r, http.StatusUnprocessableEntity, "setup", v)
		return
	}
	if err != nil {
		h.setupFailed(w, r, err)
		return
	}
	if err := h.signIn(w, r, u.ID, "setup"); err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/admin/units", "setup")
}

func (h *Handler) setupFailed(w http.ResponseWriter, r *http.Request, err error) {
	if apperr.Is(err, apperr.NotFound) {
		h.errorPage(w, r, http.StatusNotFound, setupGone)
		return
	}
	h.fail(w, r, err)
}
