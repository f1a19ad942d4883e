package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
)

type loginView struct {
	Page
	Email     string
	Next      string
	Error     string
	CanMail   bool
	Token     string // for the link and reset pages
	Purpose   string
	Remaining time.Duration
	Providers []SignInProvider
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	next := auth.SafeNext(r.URL.Query().Get("next"))
	if principal(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "login", loginView{Page: h.page(r, "Sign in", "login"), Next: next, CanMail: h.d.Mailer != nil, Providers: h.d.SignOn.buttons()})
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	password := r.PostFormValue("password")
	next := auth.SafeNext(r.PostFormValue("next"))
	v := loginView{Page: h.page(r, "Sign in", "login"), Email: email, Next: next, CanMail: h.d.Mailer != nil, Providers: h.d.SignOn.buttons()}
	if len(email) > 254 || len(password) > 1024 {
		v.Error = "Wrong email or password."
		h.render(w, r, http.StatusUnauthorized, "login", v)
		return
	}
	// Failures count per address and per (address, account), never per
	// account alone: nobody can lock another person out by guessing
	// wrong on purpose.
	ipKey := "ip:" + throttleAddr(r)
	accountKey := "email:" + email + " " + ipKey
	until, err := h.throttle.blocked(ctx, accountKey, ipKey)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !until.IsZero() {
		h.signInRefused(r, "password", email, "too many failed attempts", true)
		v.Error = fmt.Sprintf("Too many failed attempts. Try again in %s, or ask for a sign-in link by mail.", plural(int(until.Sub(h.d.Now()).Minutes())+1, "minute"))
		h.render(w, r, http.StatusTooManyRequests, "login", v)
		return
	}
	u, err := h.d.Users.CheckPassword(ctx, email, password)
	if apperr.Is(err, apperr.Unauthorized) {
		if err := h.throttle.fail(ctx, accountKey, maxFailuresPerAccount); err != nil {
			h.fail(w, r, err)
			return
		}
		if err := h.throttle.fail(ctx, ipKey, maxFailuresPerIP); err != nil {
			h.fail(w, r, err)
			return
		}
		h.signInRefused(r, "password", email, "wrong email or password", false)
		v.Error = "Wrong email or password."
		h.render(w, r, http.StatusUnauthorized, "login", v)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.throttle.reset(ctx, accountKey); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.signIn(w, r, u.ID, "password"); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the web session (POST /logout and POST /auth/logout) and,
// after an OIDC sign-in, the session at the provider too (RP-initiated
// logout, when the provider offers it).
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	via := ""
	if ss, _ := r.Context().Value(sessionKey).(*Session); ss != nil {
		via = ss.Via
	}
	if err := h.sessions.End(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	if target := h.providerLogout(via); target != "" {
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	h.redirect(w, r, "/login", "signout")
}

// ssoOnlyMessage tells people who try another way of signing in when the
// instance accepts single sign-on only.
const ssoOnlyMessage = "This instance accepts single sign-on only. Sign in with your organisation at /auth/oidc."

// ssoRefuses refuses fn when only single sign-on is allowed (SSOOnly).
func (h *Handler) ssoRefuses(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.d.SSOOnly {
			h.errorPage(w, r, http.StatusForbidden, ssoOnlyMessage)
			return
		}
		fn(w, r)
	}
}

// breakGlassOnly lets only the break-glass addresses (the form's email)
// through to fn when only single sign-on is allowed, so that an
// administrator can always get in, even when the identity provider is down.
func (h *Handler) breakGlassOnly(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.d.SSOOnly && !h.breakGlass[strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))] {
			h.d.Log.Info("password sign-in refused: SSO only", "path", r.URL.Path)
			h.errorPage(w, r, http.StatusForbidden, ssoOnlyMessage)
			return
		}
		fn(w, r)
	}
}

// The one-time sign-in link: a requester who wrote by mail has an account
// without a password, and signs in with a link mailed to them.

func (h *Handler) linkRequestPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "link_request", loginView{Page: h.page(r, "Sign in by mail", "login"), Purpose: linkSignIn, CanMail: h.d.Mailer != nil})
}

func (h *Handler) forgotPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "link_request", loginView{Page: h.page(r, "Reset your password", "login"), Purpose: linkReset, CanMail: h.d.Mailer != nil})
}

func (h *Handler) linkRequest(w http.ResponseWriter, r *http.Request) { h.mailLink(w, r, linkSignIn) }
func (h *Handler) forgot(w http.ResponseWriter, r *http.Request)      { h.mailLink(w, r, linkReset) }

// mailLink mails a one-time link when the address has an account. The
// answer is the same either way, so that it does not tell which addresses
// exist; requests count against the same throttle as failed sign-ins.
func (h *Handler) mailLink(w http.ResponseWriter, r *http.Request, purpose string) {
	ctx := r.Context()
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	title := "Sign in by mail"
	if purpose == linkReset {
		title = "Reset your password"
	}
	v := loginView{Page: h.page(r, title, "login"), Purpose: purpose, Email: email, CanMail: h.d.Mailer != nil}
	if h.d.Mailer == nil {
		v.Error = "This instance cannot send mail yet. Ask an administrator."
		h.render(w, r, http.StatusServiceUnavailable, "link_request", v)
		return
	}
	if email == "" || len(email) > 254 || !strings.Contains(email, "@") {
		v.Error = "Enter the email address of your account."
		h.render(w, r, http.StatusUnprocessableEntity, "link_request", v)
		return
	}
	key, ipKey := "mail:"+email, "ip:"+clientIP(r)
	until, err := h.throttle.blocked(ctx, key, ipKey)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !until.IsZero() {
		v.Error = "Too many requests for this address. Try again later."
		h.render(w, r, http.StatusTooManyRequests, "link_request", v)
		return
	}
	if err := h.throttle.fail(ctx, key, maxFailuresPerAccount); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.sendLink(ctx, email, purpose); err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/login", "linksent")
}

func (h *Handler) sendLink(ctx context.Context, email, purpose string) error {
	u, err := h.d.Users.GetByEmail(ctx, email)
	if apperr.Is(err, apperr.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if u.Disabled {
		return nil
	}
	token, err := h.links.create(ctx, u.ID, purpose)
	if err != nil {
		return err
	}
	base := strings.TrimRight(h.d.BaseURL, "/")
	site := h.d.InstanceName
	var subject, text string
	if purpose == linkReset {
		subject = site + ": reset your password"
		text = fmt.Sprintf("Hello %s,\n\nsomeone (hopefully you) asked to reset the password of your %s account.\nChoose a new password here within 30 minutes:\n\n  %s/password/reset/%s\n\nIf you did not ask for this, ignore this mail: nothing changes.\n", u.Name, site, base, token)
	} else {
		subject = site + ": your sign-in link"
		text = fmt.Sprintf("Hello %s,\n\nsign in to %s with this link within 30 minutes. It works once:\n\n  %s/login/link/%s\n\nIf you did not ask for this, ignore this mail.\n", u.Name, site, base, token)
	}
	if err := h.d.Mailer.Send(ctx, u.Email, subject, text); err != nil {
		return fmt.Errorf("web: mail link: %w", err)
	}
	return nil
}

// linkPage and resetPage ask for a click before using a mailed link: mail
// scanners that fetch links must not use it up.
func (h *Handler) linkPage(w http.ResponseWriter, r *http.Request) {
	h.linkLanding(w, r, linkSignIn, "Sign in", "This sign-in link was used already or has expired. Ask for a new one.")
}

func (h *Handler) resetPage(w http.ResponseWriter, r *http.Request) {
	h.linkLanding(w, r, linkReset, "Choose a new password", "This reset link was used already or has expired. Ask for a new one.")
}

func (h *Handler) linkLanding(w http.ResponseWriter, r *http.Request, purpose, title, expired string) {
	token := r.PathValue("token")
	uid, err := h.links.check(r.Context(), token, purpose)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if uid == 0 {
		h.errorPage(w, r, http.StatusNotFound, expired)
		return
	}
	h.render(w, r, http.StatusOK, "link", loginView{Page: h.page(r, title, "login"), Token: token, Purpose: purpose})
}

func (h *Handler) linkSignIn(w http.ResponseWriter, r *http.Request) {
	uid, err := h.links.use(r.Context(), r.PathValue("token"), linkSignIn)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if uid == 0 {
		h.signInRefused(r, "link", "", "the link was used already or has expired", false)
		h.errorPage(w, r, http.StatusNotFound, "This sign-in link was used already or has expired. Ask for a new one.")
		return
	}
	if err := h.startActive(w, r, uid, "link"); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/tickets", http.StatusSeeOther)
}

func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := r.PathValue("token")
	pw, again := r.PostFormValue("password"), r.PostFormValue("password2")
	v := loginView{Page: h.page(r, "Choose a new password", "login"), Token: token, Purpose: linkReset}
	switch {
	case len(pw) < auth.MinPasswordLength:
		v.Error = fmt.Sprintf("Choose a password of at least %d characters.", auth.MinPasswordLength)
	case pw != again:
		v.Error = "The two passwords differ."
	}
	if v.Error != "" {
		h.render(w, r, http.StatusUnprocessableEntity, "link", v)
		return
	}
	uid, err := h.links.use(ctx, token, linkReset)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if uid == 0 {
		h.errorPage(w, r, http.StatusNotFound, "This reset link was used already or has expired. Ask for a new one.")
		return
	}
	if _, err := h.d.Users.Principal(ctx, uid); err != nil { // disabled after the link was mailed
		h.fail(w, r, err)
		return
	}
	if err := h.d.Users.SetPassword(ctx, uid, pw); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.sessions.EndAll(ctx, uid); err != nil {
		h.fail(w, r, err)
		return
	}
	if r.PostFormValue("end_tokens") == "1" {
		if _, err := h.d.Users.RevokeAllTokens(ctx, uid); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if err := h.signIn(w, r, uid, "reset"); err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/", "password")
}

// startActive signs user uid in with a mailed link, unless they were
// disabled after it was sent (Unauthorized).
func (h *Handler) startActive(w http.ResponseWriter, r *http.Request, uid int64, via string) error {
	if _, err := h.d.Users.Principal(r.Context(), uid); err != nil {
		return err
	}
	return h.signIn(w, r, uid, via)
}
