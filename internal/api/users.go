package api

import (
	"net/http"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

type userDTO struct {
	ID             int64     `json:"id"`
	Email          string    `json:"email"`
	Name           string    `json:"name"`
	Role           string    `json:"role"`
	Team           string    `json:"team,omitempty"`
	CertificateDNs []string  `json:"certificate_dns"`
	CreatedAt      time.Time `json:"created_at"`
}

func toUser(u *user.User) userDTO {
	dns := u.CertificateDNs
	if dns == nil {
		dns = []string{}
	}
	return userDTO{ID: u.ID, Email: u.Email, Name: u.Name, Role: string(u.Role), Team: u.Team, CertificateDNs: dns, CreatedAt: u.CreatedAt}
}

type meUnitDTO struct {
	Slug    string `json:"slug"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	Handler bool   `json:"handler"`
}

type meDTO struct {
	userDTO
	Units   []meUnitDTO `json:"units"`
	Handler bool        `json:"handler"`
	Via     string      `json:"via"`
}

func (a *API) me(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	u, err := a.Users.Get(r.Context(), p.UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	units, roles, err := a.Units.UnitsOf(r.Context(), p.UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := meDTO{userDTO: toUser(u), Units: []meUnitDTO{}, Handler: p.Handler, Via: p.Via}
	for i, un := range units {
		out.Units = append(out.Units, meUnitDTO{Slug: un.Slug, Name: un.Name, Role: string(roles[i]), Handler: un.Handler})
	}
	writeJSON(w, http.StatusOK, out)
}

type createUserReq struct {
	Email          string   `json:"email"`
	Name           string   `json:"name"`
	Role           string   `json:"role"`
	Password       string   `json:"password"`
	Team           string   `json:"team"`
	CertificateDNs []string `json:"certificate_dns"`
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if !p.CanManageUsers() {
		a.writeError(w, r, forbidden("only administrators may create users"))
		return
	}
	var req createUserReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.Users.Create(r.Context(), user.NewUser{Email: req.Email, Name: req.Name, Role: auth.Role(req.Role),
		Password: req.Password, Team: req.Team, CertificateDNs: req.CertificateDNs})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toUser(u))
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if !p.CanManageUsers() {
		a.writeError(w, r, forbidden("only administrators may list users"))
		return
	}
	limit, err := queryInt(r, "limit", 100, 1, 1000)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var after int64
	if c := r.URL.Query().Get("cursor"); c != "" {
		if after, err = decodeCursor(c); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	us, err := a.Users.List(r.Context(), after, limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]userDTO, len(us))
	for i, u := range us {
		items[i] = toUser(u)
	}
	next := ""
	if len(us) == limit {
		next = encodeCursor(us[len(us)-1].ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}

// userFor reads {id} and checks that p may act on that user: administrators
// on everyone, everyone on themselves.
func (a *API) userFor(r *http.Request, p *auth.Principal) (int64, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, err
	}
	if id != p.UserID && !p.CanManageUsers() {
		return 0, apperr.New(apperr.NotFound, "no such user")
	}
	return id, nil
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := a.userFor(r, p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.Users.Get(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toUser(u))
}

type tokenDTO struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Scope     string     `json:"scope"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Token     string     `json:"token,omitempty"`
}

func toToken(t *user.Token) tokenDTO {
	return tokenDTO{ID: t.ID, Name: t.Name, Scope: t.Scope, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt}
}

type createTokenReq struct {
	Name      string     `json:"name"`
	Scope     string     `json:"scope"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := a.userFor(r, p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req createTokenReq
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	t, secret, err := a.Users.CreateToken(r.Context(), id, req.Name, req.Scope, req.ExpiresAt)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := toToken(t)
	out.Token = secret
	writeJSON(w, http.StatusCreated, out)
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := a.userFor(r, p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ts, err := a.Users.Tokens(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]tokenDTO, len(ts))
	for i, t := range ts {
		items[i] = toToken(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := a.userFor(r, p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	tid, err := pathID(r, "tid")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Users.RevokeToken(r.Context(), id, tid); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Units and services.

type unitDTO struct {
	ID           int64     `json:"id"`
	Slug         string    `json:"slug"`
	Name         string    `json:"name"`
	Email        string    `json:"email"`
	CommentEmail string    `json:"comment_email"`
	QoSLevel     string    `json:"qos_level"`
	Mode         string    `json:"mode"`
	Handler      bool      `json:"handler"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func toUnit(u *unit.Unit) unitDTO {
	return unitDTO{ID: u.ID, Slug: u.Slug, Name: u.Name, Email: u.Email, CommentEmail: u.CommentEmail,
		QoSLevel: u.QoSLevel, Mode: string(u.Mode), Handler: u.Handler, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

type unitReq struct {
	Slug         *string `json:"slug"`
	Name         *string `json:"name"`
	Email        *string `json:"email"`
	CommentEmail *string `json:"comment_email"`
	QoSLevel     *string `json:"qos_level"`
	Mode         *string `json:"mode"`
	Handler      *bool   `json:"handler"`
}

func (q unitReq) apply(u *unit.Unit) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&u.Name, q.Name)
	set(&u.Email, q.Email)
	set(&u.CommentEmail, q.CommentEmail)
	set(&u.QoSLevel, q.QoSLevel)
	if q.Mode != nil {
		u.Mode = unit.Mode(*q.Mode)
	}
	if q.Handler != nil {
		u.Handler = *q.Handler
	}
}

func (a *API) createUnit(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if !p.CanManageCatalogue() {
		a.writeError(w, r, forbidden("only administrators may create units"))
		return
	}
	var req unitReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	var u unit.Unit
	if req.Slug != nil {
		u.Slug = *req.Slug
	}
	req.apply(&u)
	out, err := a.Units.CreateUnit(r.Context(), u)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toUnit(out))
}

func (a *API) listUnits(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	us, err := a.Units.Units(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]unitDTO, len(us))
	for i, u := range us {
		items[i] = toUnit(u)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (a *API) unitOf(r *http.Request) (*unit.Unit, error) {
	slug := r.PathValue("slug")
	if err := unit.CheckSlug("slug", slug); err != nil {
		return nil, err
	}
	return a.Units.Unit(r.Context(), slug)
}

func (a *API) getUnit(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	u, err := a.unitOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toUnit(u))
}

func (a *API) updateUnit(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	u, err := a.unitOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if !p.CanManageUnit(u.ID) {
		a.writeError(w, r, forbidden("only administrators and the unit's admins may change it"))
		return
	}
	var req unitReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.Slug != nil && *req.Slug != u.Slug {
		a.writeError(w, r, apperr.Field("slug", "cannot change"))
		return
	}
	if (req.Handler != nil || req.Mode != nil) && !p.CanManageCatalogue() {
		a.writeError(w, r, forbidden("only administrators may change a unit's mode or handler flag"))
		return
	}
	req.apply(u)
	out, err := a.Units.UpdateUnit(r.Context(), *u)
	a.Users.ForgetPrincipals() // the handler flag is part of a principal
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toUnit(out))
}

type memberDTO struct {
	UserID int64  `json:"user_id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Role   string `json:"role"`
}

func (a *API) listMembers(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	u, err := a.unitOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if !p.StaffOf(u.ID) {
		a.writeError(w, r, forbidden("only the unit's staff may list its members"))
		return
	}
	ms, err := a.Units.Members(r.Context(), u.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]memberDTO, len(ms))
	for i, m := range ms {
		items[i] = memberDTO{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: string(m.Role)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

type memberReq struct {
	UserID int64  `json:"user_id"`
	Role   string `json:"role"`
}

func (a *API) addMember(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	u, err := a.unitOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if !p.CanManageUnit(u.ID) {
		a.writeError(w, r, forbidden("only administrators and the unit's admins may change its members"))
		return
	}
	var req memberReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.UserID <= 0 {
		a.writeError(w, r, apperr.Field("user_id", "is required"))
		return
	}
	if req.Role == "" {
		req.Role = string(auth.UnitMember)
	}
	err = a.Units.SetMember(r.Context(), u.ID, req.UserID, auth.UnitRole(req.Role))
	a.Users.ForgetPrincipals() // memberships are part of a principal
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	usr, err := a.Users.Get(r.Context(), req.UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, memberDTO{UserID: usr.ID, Email: usr.Email, Name: usr.Name, Role: req.Role})
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	u, err := a.unitOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	uid, err := pathID(r, "uid")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if !p.CanManageUnit(u.ID) {
		a.writeError(w, r, forbidden("only administrators and the unit's admins may change its members"))
		return
	}
	err = a.Units.RemoveMember(r.Context(), u.ID, uid)
	a.Users.ForgetPrincipals()
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type serviceDTO struct {
	ID          int64     `json:"id"`
	Slug        string    `json:"slug"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Unit        string    `json:"unit"`
	Mode        string    `json:"mode"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func toService(s *unit.Service) serviceDTO {
	return serviceDTO{ID: s.ID, Slug: s.Slug, Name: s.Name, Description: s.Description, Unit: s.UnitSlug,
		Mode: string(s.Mode), CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

type serviceReq struct {
	Slug        *string `json:"slug"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Unit        *string `json:"unit"`
	Mode        *string `json:"mode"`
}

func (q serviceReq) apply(s *unit.Service) {
	if q.Name != nil {
		s.Name = *q.Name
	}
	if q.Description != nil {
		s.Description = *q.Description
	}
	if q.Unit != nil {
		s.UnitSlug = *q.Unit
	}
	if q.Mode != nil {
		s.Mode = unit.Mode(*q.Mode)
	}
}

func (a *API) createService(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if !p.CanManageCatalogue() {
		a.writeError(w, r, forbidden("only administrators may create services"))
		return
	}
	var req serviceReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	var s unit.Service
	if req.Slug != nil {
		s.Slug = *req.Slug
	}
	req.apply(&s)
	out, err := a.Units.CreateService(r.Context(), s)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toService(out))
}

func (a *API) listServices(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	ss, err := a.Units.Services(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]serviceDTO, len(ss))
	for i, s := range ss {
		items[i] = toService(s)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (a *API) serviceOf(r *http.Request) (*unit.Service, error) {
	slug := r.PathValue("slug")
	if err := unit.CheckSlug("slug", slug); err != nil {
		return nil, err
	}
	return a.Units.Service(r.Context(), slug)
}

func (a *API) getService(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	s, err := a.serviceOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toService(s))
}

func (a *API) updateService(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if !p.CanManageCatalogue() {
		a.writeError(w, r, forbidden("only administrators may change services"))
		return
	}
	s, err := a.serviceOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req serviceReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.Slug != nil && *req.Slug != s.Slug {
		a.writeError(w, r, apperr.Field("slug", "cannot change"))
		return
	}
	req.apply(s)
	out, err := a.Units.UpdateService(r.Context(), *s)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toService(out))
}
