// Handlers of support units, their members and the service catalogue.

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/webhook"
	"github.com/helpmesh/helpmesh/internal/worktime"
)

type unitDTO struct {
	ID           int64  `json:"id"`
	Slug         string `json:"slug"`
	Name         string `json:"name"`
	Email        string `json:"email"`
	CommentEmail string `json:"comment_email"`
	QoSLevel     string `json:"qos_level"`
	// QoS is the unit's response time per priority: its level's table, or
	// its own durations when the level is custom.
	QoS unit.QoS `json:"qos"`
	// Calendar is the unit's working time; null: the instance's default.
	Calendar *worktime.Spec `json:"calendar"`
	Mode     string         `json:"mode"`
	Handler  bool           `json:"handler"`
	// Chat is shown to those who may manage the unit only: its URL lets
	// anyone post to the channel.
	Chat      *webhook.Chat `json:"chat"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

func toUnit(u *unit.Unit) unitDTO {
	return unitDTO{ID: u.ID, Slug: u.Slug, Name: u.Name, Email: u.Email, CommentEmail: u.CommentEmail,
		QoSLevel: u.QoSLevel, QoS: u.ResponseTimes(), Calendar: u.Calendar, Mode: string(u.Mode), Handler: u.Handler, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

type unitReq struct {
	Slug         *string     `json:"slug"`
	Name         *string     `json:"name"`
	Email        *string     `json:"email"`
	CommentEmail *string     `json:"comment_email"`
	QoSLevel     *string     `json:"qos_level"`
	QoS          *unit.QoS   `json:"qos"`
	Calendar     calendarReq `json:"calendar"`
	Mode         *string     `json:"mode"`
	Handler      *bool       `json:"handler"`
	Chat         chatReq     `json:"chat"`
}

// calendarReq is a unit's calendar in a request: absent leaves it, null
// sets the instance's default, an object sets it.
type calendarReq struct {
	set  bool
	spec *worktime.Spec
}

func (c *calendarReq) UnmarshalJSON(b []byte) (err error) {
	c.set = true
	c.spec, err = nullableObject[worktime.Spec](b, "calendar", "{timezone, days, hours, holidays}")
	return err
}

// chatReq is a unit's chat in a request: absent leaves it, null removes
// it, an object sets it.
type chatReq struct {
	set  bool
	chat *webhook.Chat
}

func (c *chatReq) UnmarshalJSON(b []byte) (err error) {
	c.set = true
	c.chat, err = nullableObject[webhook.Chat](b, "chat", "{url, format, events}")
	return err
}

// nullableObject decodes b, a field's JSON, as null (nil) or an object of
// type T without unknown fields; shape describes the object in the error.
func nullableObject[T any](b []byte, field, shape string) (*T, error) {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil, nil
	}
	v := new(T)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, apperr.Field(field, "must be null or an object %s: %v", shape, err)
	}
	return v, nil
}

// checkChat validates the chat of req before anything is written.
func (a *API) checkChat(ctx context.Context, req unitReq) error {
	if !req.Chat.set || req.Chat.chat == nil {
		return nil
	}
	if a.Webhooks == nil {
		return apperr.Field("chat", "chat is not available on this instance")
	}
	_, err := a.Webhooks.CheckChat(ctx, *req.Chat.chat)
	return err
}

// setChat stores the chat of req, if given, on unit u.
func (a *API) setChat(ctx context.Context, p *auth.Principal, u *unit.Unit, req unitReq) error {
	if !req.Chat.set || a.Webhooks == nil {
		return nil
	}
	return a.Webhooks.SetChat(ctx, p, u.ID, req.Chat.chat)
}

// unitOut is u as p sees it.
func (a *API) unitOut(ctx context.Context, p *auth.Principal, u *unit.Unit) (unitDTO, error) {
	d := toUnit(u)
	if a.Webhooks == nil || !webhook.CanManage(p, u.ID) {
		return d, nil
	}
	chats, err := a.Webhooks.Chats(ctx)
	d.Chat = chats[u.ID]
	return d, err
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
	if q.QoS != nil {
		qos := *q.QoS
		u.QoS = &qos
	} else if q.QoSLevel != nil && *q.QoSLevel != unit.QoSCustom {
		u.QoS = nil // a level of the table leaves the custom durations
	}
	if q.Calendar.set {
		u.Calendar = q.Calendar.spec
	}
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
	if err := a.checkChat(r.Context(), req); err != nil {
		a.writeError(w, r, err)
		return
	}
	var u unit.Unit
	if req.Slug != nil {
		u.Slug = *req.Slug
	}
	req.apply(&u)
	out, err := a.Units.CreateUnit(r.Context(), u)
	if err == nil {
		err = a.setChat(r.Context(), p, out, req)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeUnit(w, r, p, http.StatusCreated, out)
}

func (a *API) listUnits(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	us, err := a.Units.Units(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var chats map[int64]*webhook.Chat
	if a.Webhooks != nil {
		if chats, err = a.Webhooks.Chats(r.Context()); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	items := make([]unitDTO, len(us))
	for i, u := range us {
		items[i] = toUnit(u)
		if webhook.CanManage(p, u.ID) {
			items[i].Chat = chats[u.ID]
		}
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
	a.writeUnit(w, r, p, http.StatusOK, u)
}

// writeUnit answers with u as p sees it.
func (a *API) writeUnit(w http.ResponseWriter, r *http.Request, p *auth.Principal, code int, u *unit.Unit) {
	d, err := a.unitOut(r.Context(), p, u)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, code, d)
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
	old := *u
	req.apply(u)
	if err := unit.CheckChange(p, &old, u); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.checkChat(r.Context(), req); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.Units.UpdateUnit(r.Context(), *u)
	a.Users.ForgetPrincipals() // the handler flag is part of a principal
	if err == nil {
		err = a.setChat(r.Context(), p, out, req)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeUnit(w, r, p, http.StatusOK, out)
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
	AlarmEmail  string    `json:"alarm_email"`
	AlarmTeams  []string  `json:"alarm_teams"`
	Connector   string    `json:"connector"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func toService(s *unit.Service) serviceDTO {
	out := serviceDTO{ID: s.ID, Slug: s.Slug, Name: s.Name, Description: s.Description, Unit: s.UnitSlug,
		Mode: string(s.Mode), AlarmEmail: s.AlarmEmail, AlarmTeams: s.AlarmTeams, Connector: s.Connector, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
	if out.AlarmTeams == nil {
		out.AlarmTeams = []string{}
	}
	return out
}

type serviceReq struct {
	Slug        *string   `json:"slug"`
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	Unit        *string   `json:"unit"`
	Mode        *string   `json:"mode"`
	AlarmEmail  *string   `json:"alarm_email"`
	AlarmTeams  *[]string `json:"alarm_teams"`
	Connector   *string   `json:"connector"`
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
	if q.AlarmEmail != nil {
		s.AlarmEmail = *q.AlarmEmail
	}
	if q.AlarmTeams != nil {
		s.AlarmTeams = *q.AlarmTeams
	}
	if q.Connector != nil {
		s.Connector = *q.Connector
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
	if err := a.checkConnector(r.Context(), req.Connector); err != nil {
		a.writeError(w, r, err)
		return
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
	if err := a.checkConnector(r.Context(), req.Connector); err != nil {
		a.writeError(w, r, err)
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
