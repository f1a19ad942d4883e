package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

type adminView struct {
	Page
	Units    []*unit.Unit
	Unit     *unit.Unit
	Members  []unit.Member
	Services []*unit.Service
	Users    []*user.User
	Errors   map[string]string
	Form     map[string]string
	Modes    []unit.Mode
	QoS      []string
	More     string
	// Subscribers counts the status page's confirmed subscribers of each
	// service (those of every service included); nil when not known.
	Subscribers map[string]int
}

func (h *Handler) adminPage(r *http.Request, title string) adminView {
	return adminView{Page: h.page(r, title, "admin"), Modes: []unit.Mode{unit.Direct, unit.Redirect, unit.External},
		QoS: []string{unit.QoSBase, unit.QoSMedium, unit.QoSAdvanced, unit.QoSCustom}, Form: map[string]string{}, Errors: map[string]string{}}
}

// adminUnits lists the units p manages: all of them for administrators,
// their own for unit admins.
func (h *Handler) adminUnits(w http.ResponseWriter, r *http.Request) {
	h.renderUnits(w, r, http.StatusOK, nil, nil)
}

func (h *Handler) renderUnits(w http.ResponseWriter, r *http.Request, status int, form, errs map[string]string) {
	p := principal(r)
	us, err := h.d.Units.Units(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := h.adminPage(r, "Support units")
	for _, u := range us {
		if p.CanManageUnit(u.ID) {
			v.Units = append(v.Units, u)
		}
	}
	if len(v.Units) == 0 && !p.IsAdmin() {
		h.errorPage(w, r, http.StatusForbidden, "This page is for administrators of support units.")
		return
	}
	if form != nil {
		v.Form, v.Errors = form, errs
	}
	h.render(w, r, status, "admin_units", v)
}

func formMap(r *http.Request, keys ...string) map[string]string {
	m := map[string]string{}
	for _, k := range keys {
		m[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	return m
}

func errField(err error) (string, string, bool) {
	var e *apperr.Error
	if asAppErr(err, &e) && (e.Kind == apperr.Invalid || e.Kind == apperr.Conflict) {
		f := e.Field
		if f == "" {
			f = "form"
		}
		return f, capitalize(e.Message) + ".", true
	}
	return "", "", false
}

func (h *Handler) createUnit(w http.ResponseWriter, r *http.Request) {
	f := formMap(r, "slug", "name", "email", "comment_email", "qos_level", "mode", "handler")
	u, err := h.d.Units.CreateUnit(r.Context(), unit.Unit{Slug: f["slug"], Name: f["name"], Email: f["email"], CommentEmail: f["comment_email"],
		QoSLevel: f["qos_level"], Mode: unit.Mode(f["mode"]), Handler: f["handler"] == "1"})
	if err != nil {
		if field, msg, ok := errField(err); ok {
			h.renderUnits(w, r, http.StatusUnprocessableEntity, f, map[string]string{field: msg})
			return
		}
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/admin/units/"+u.Slug, "saved")
}

// managedUnit loads the unit of the path if p may manage it.
func (h *Handler) managedUnit(w http.ResponseWriter, r *http.Request) *unit.Unit {
	u, err := h.d.Units.Unit(r.Context(), r.PathValue("slug"))
	if err != nil {
		h.fail(w, r, err)
		return nil
	}
	if !principal(r).CanManageUnit(u.ID) {
		h.errorPage(w, r, http.StatusForbidden, "Only administrators of this unit may change it.")
		return nil
	}
	return u
}

func (h *Handler) adminUnit(w http.ResponseWriter, r *http.Request) {
	u := h.managedUnit(w, r)
	if u == nil {
		return
	}
	h.renderUnit(w, r, u, http.StatusOK, nil)
}

func (h *Handler) renderUnit(w http.ResponseWriter, r *http.Request, u *unit.Unit, status int, errs map[string]string) {
	ms, err := h.d.Units.Members(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := h.adminPage(r, u.Name)
	v.Unit, v.Members = u, ms
	if errs != nil {
		v.Errors = errs
	}
	h.render(w, r, status, "admin_unit", v)
}

func (h *Handler) updateUnit(w http.ResponseWriter, r *http.Request) {
	u := h.managedUnit(w, r)
	if u == nil {
		return
	}
	f := formMap(r, "name", "email", "comment_email", "qos_level", "mode", "handler")
	nu := *u
	nu.Name, nu.Email, nu.CommentEmail, nu.QoSLevel, nu.Mode = f["name"], f["email"], f["comment_email"], f["qos_level"], unit.Mode(f["mode"])
	if nu.QoSLevel != unit.QoSCustom {
		nu.QoS = nil // a level of the table leaves the custom durations
	}
	if principal(r).IsAdmin() {
		nu.Handler = f["handler"] == "1"
	}
	if err := unit.CheckChange(principal(r), u, &nu); err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.d.Units.UpdateUnit(r.Context(), nu); err != nil {
		if field, msg, ok := errField(err); ok {
			h.renderUnit(w, r, &nu, http.StatusUnprocessableEntity, map[string]string{field: msg})
			return
		}
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/admin/units/"+u.Slug, "saved")
}

func (h *Handler) setMember(w http.ResponseWriter, r *http.Request) {
	u := h.managedUnit(w, r)
	if u == nil {
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	role := auth.UnitRole(r.PostFormValue("role"))
	m, err := h.d.Users.GetByEmail(r.Context(), email)
	if apperr.Is(err, apperr.NotFound) {
		h.renderUnit(w, r, u, http.StatusUnprocessableEntity, map[string]string{"member": "No user has the address " + email + ". Create the user first."})
		return
	}
	if err == nil {
		err = h.d.Units.SetMember(r.Context(), u.ID, m.ID, role)
	}
	if err != nil {
		if _, msg, ok := errField(err); ok {
			h.renderUnit(w, r, u, http.StatusUnprocessableEntity, map[string]string{"member": msg})
			return
		}
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/admin/units/"+u.Slug, "saved")
}

func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request) {
	u := h.managedUnit(w, r)
	if u == nil {
		return
	}
	uid, err := strconv.ParseInt(r.PathValue("uid"), 10, 64)
	if err != nil {
		h.errorPage(w, r, http.StatusNotFound, "No such member.")
		return
	}
	if err := h.d.Units.RemoveMember(r.Context(), u.ID, uid); err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/admin/units/"+u.Slug, "saved")
}

func (h *Handler) adminServices(w http.ResponseWriter, r *http.Request) {
	h.renderServices(w, r, http.StatusOK, nil, nil)
}

func (h *Handler) renderServices(w http.ResponseWriter, r *http.Request, status int, form, errs map[string]string) {
	v := h.adminPage(r, "Service catalogue")
	var err error
	if v.Services, err = h.d.Units.Services(r.Context()); err != nil {
		h.fail(w, r, err)
		return
	}
	if v.Units, err = h.d.Units.Units(r.Context()); err != nil {
		h.fail(w, r, err)
		return
	}
	if h.d.Announcements != nil {
		if v.Subscribers, err = subscriberCounts(r.Context(), h.d.Announcements, v.Services); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if form != nil {
		v.Form, v.Errors = form, errs
	}
	h.render(w, r, status, "admin_services", v)
}

func (h *Handler) createService(w http.ResponseWriter, r *http.Request) {
	f := formMap(r, "slug", "name", "description", "unit", "mode")
	_, err := h.d.Units.CreateService(r.Context(), unit.Service{Slug: f["slug"], Name: f["name"], Description: f["description"],
		UnitSlug: f["unit"], Mode: unit.Mode(f["mode"])})
	if err != nil {
		if field, msg, ok := errField(err); ok {
			h.renderServices(w, r, http.StatusUnprocessableEntity, f, map[string]string{field: msg})
			return
		}
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/admin/services", "saved")
}

func (h *Handler) updateService(w http.ResponseWriter, r *http.Request) {
	sv, err := h.d.Units.Service(r.Context(), r.PathValue("slug"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f := formMap(r, "name", "description", "unit", "mode")
	sv.Name, sv.Description, sv.UnitSlug, sv.Mode = f["name"], f["description"], f["unit"], unit.Mode(f["mode"])
	if _, err := h.d.Units.UpdateService(r.Context(), *sv); err != nil {
		if field, msg, ok := errField(err); ok {
			f["slug"] = sv.Slug
			h.renderServices(w, r, http.StatusUnprocessableEntity, f, map[string]string{field: msg})
			return
		}
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/admin/services", "saved")
}

func (h *Handler) adminUsers(w http.ResponseWriter, r *http.Request) {
	h.renderUsers(w, r, http.StatusOK, nil, nil)
}

func (h *Handler) renderUsers(w http.ResponseWriter, r *http.Request, status int, form, errs map[string]string) {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	us, err := h.d.Users.List(r.Context(), after, 100)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := h.adminPage(r, "Users")
	v.Users = us
	if len(us) == 100 {
		v.More = "/admin/users?after=" + url.QueryEscape(strconv.FormatInt(us[len(us)-1].ID, 10))
	}
	if form != nil {
		v.Form = form
	}
	if errs != nil {
		v.Errors = errs
	}
	h.render(w, r, status, "admin_users", v)
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) {
	f := formMap(r, "email", "name", "role", "team")
	pw := r.PostFormValue("password")
	_, err := h.d.Users.Create(r.Context(), user.NewUser{Email: f["email"], Name: f["name"], Role: auth.Role(f["role"]), Team: f["team"], Password: pw})
	if err != nil {
		if field, msg, ok := errField(err); ok {
			h.renderUsers(w, r, http.StatusUnprocessableEntity, f, map[string]string{field: msg})
			return
		}
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/admin/users", "saved")
}

// editUser saves the name, role and team of a user.
func (h *Handler) editUser(w http.ResponseWriter, r *http.Request) {
	f := formMap(r, "name", "role", "team")
	role := auth.Role(f["role"])
	h.changeUser(w, r, user.Change{Name: ptr(f["name"]), Role: &role, Team: ptr(f["team"])})
}

// setUserDisabled disables (disabled=1) or enables (disabled=0) a user.
func (h *Handler) setUserDisabled(w http.ResponseWriter, r *http.Request) {
	var disabled bool
	switch r.PostFormValue("disabled") {
	case "1":
		disabled = true
	case "0":
	default:
		h.renderUsers(w, r, http.StatusUnprocessableEntity, nil, map[string]string{"form": "Choose to disable or to enable the user."})
		return
	}
	h.changeUser(w, r, user.Change{Disabled: &disabled})
}

// changeUser applies c to the user {id}; disabling them also ends their
// browser sessions (their tokens are revoked by the change itself).
func (h *Handler) changeUser(w http.ResponseWriter, r *http.Request, c user.Change) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.errorPage(w, r, http.StatusNotFound, "No such user.")
		return
	}
	err = user.CheckOwnChange(principal(r).UserID, id, c)
	var u *user.User
	if err == nil {
		u, err = h.d.Users.Update(r.Context(), id, c)
	}
	if err != nil {
		if field, msg, ok := errField(err); ok {
			h.renderUsers(w, r, http.StatusUnprocessableEntity, nil, map[string]string{"edit": fmt.Sprintf("User %d: %s: %s", id, field, msg)})
			return
		}
		h.fail(w, r, err)
		return
	}
	if u.Disabled {
		if err := h.sessions.EndAll(r.Context(), u.ID); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	h.redirect(w, r, "/admin/users", "saved")
}

func ptr[T any](v T) *T { return &v }

func (h *Handler) setUserPassword(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.errorPage(w, r, http.StatusNotFound, "No such user.")
		return
	}
	if err := h.d.Users.SetPassword(r.Context(), id, r.PostFormValue("password")); err != nil {
		if _, msg, ok := errField(err); ok {
			h.renderUsers(w, r, http.StatusUnprocessableEntity, nil, map[string]string{"password": msg})
			return
		}
		h.fail(w, r, err)
		return
	}
	if err := h.sessions.EndAll(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/admin/users", "saved")
}
