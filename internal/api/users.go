package api

import (
	"net/http"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/user"
)

type userDTO struct {
	ID             int64     `json:"id"`
	Email          string    `json:"email"`
	Name           string    `json:"name"`
	Role           string    `json:"role"`
	Team           string    `json:"team,omitempty"`
	Disabled       bool      `json:"disabled"`
	CertificateDNs []string  `json:"certificate_dns"`
	CreatedAt      time.Time `json:"created_at"`
}

func toUser(u *user.User) userDTO {
	dns := u.CertificateDNs
	if dns == nil {
		dns = []string{}
	}
	return userDTO{ID: u.ID, Email: u.Email, Name: u.Name, Role: string(u.Role), Team: u.Team, Disabled: u.Disabled, CertificateDNs: dns, CreatedAt: u.CreatedAt}
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

type updateUserReq struct {
	Name           *string   `json:"name"`
	Role           *string   `json:"role"`
	Team           *string   `json:"team"`
	Disabled       *bool     `json:"disabled"`
	CertificateDNs *[]string `json:"certificate_dns"`
}

// updateUser is PATCH /api/v1/users/{id}, for administrators. Disabling
// a user revokes their tokens (user.Store.Update) and ends their browser
// sessions.
func (a *API) updateUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if !p.CanManageUsers() {
		a.writeError(w, r, forbidden("only administrators may change users"))
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req updateUserReq
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	c := user.Change{Name: req.Name, Team: req.Team, Disabled: req.Disabled, CertificateDNs: req.CertificateDNs}
	if req.Role != nil {
		role := auth.Role(*req.Role)
		c.Role = &role
	}
	if err := user.CheckOwnChange(p.UserID, id, c); err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.Users.Update(r.Context(), id, c)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if u.Disabled && a.Sessions != nil {
		if err := a.Sessions.EndAll(r.Context(), u.ID); err != nil {
			a.writeError(w, r, err)
			return
		}
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
