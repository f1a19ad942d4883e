package idweb

import (
	"context"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/identity"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// The pages are deliberately plain: they share the portal's security
// headers and CSP (no inline script or style) and link back to it.
var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"whenp": func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}).Parse(`
{{define "top"}}<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · helpmesh</title></head><body>
<header><nav><a href="/">helpmesh</a> · <a href="/tickets">Tickets</a> · <a href="/access">Supporter privileges</a> · <a href="/account/tokens">API tokens</a>
{{if .P}} · signed in as {{.P.Email}} <form method="post" action="/auth/logout" class="inline"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit" id="logout">Sign out</button></form>{{end}}</nav></header>
<main><h1>{{.Title}}</h1>{{if .Flash}}<p class="flash" role="status">{{.Flash}}</p>{{end}}{{end}}
{{define "bottom"}}</main></body></html>{{end}}

{{define "error"}}{{template "top" .}}<p id="error">{{.Message}}</p><p><a href="/login">Sign in</a> · <a href="/">Home</a></p>{{template "bottom" .}}{{end}}

{{define "providers"}}{{template "top" .}}
{{if .Providers}}<ul>{{range .Providers}}<li><a class="oidc" id="oidc-{{.Name}}" href="/auth/oidc/{{.Name}}{{if $.Next}}?next={{$.Next}}{{end}}">Sign in with {{.Label}}</a></li>{{end}}</ul>
{{else}}<p>No identity provider is configured.</p>{{end}}
<p><a href="/login">Sign in with a password</a> (local accounts)</p>{{template "bottom" .}}{{end}}

{{define "access"}}{{template "top" .}}
<h2>Ask to join a support unit</h2>
<form method="post" action="/access" id="access-form">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<p><label>Unit <select name="unit" id="unit">{{range .Units}}<option value="{{.Slug}}">{{.Name}} ({{.Slug}})</option>{{end}}</select></label></p>
<p><label>Role <select name="role" id="role"><option value="member">member (works tickets)</option><option value="admin">admin (manages the unit)</option></select></label></p>
<p><label>Why do you need it?<br><textarea name="reason" id="reason" rows="4" cols="60" required></textarea></label></p>
<p><button type="submit" id="request-access">Send the request</button></p>
</form>
{{if .ToDecide}}<h2>Requests waiting for your decision</h2><ul id="to-decide">{{range .ToDecide}}
<li><a href="/access/requests/{{.ID}}">{{.UserName}} &lt;{{.UserEmail}}&gt; asks to be {{.Role}} of {{.UnitName}}</a> ({{when .CreatedAt}})</li>{{end}}</ul>{{end}}
{{if .Mine}}<h2>Your requests</h2><ul id="mine">{{range .Mine}}
<li><a href="/access/requests/{{.ID}}">{{.Role}} of {{.UnitName}}</a>: <span class="status">{{.Status}}</span>{{if .TicketID}} (ticket <a href="/tickets/{{.TicketID}}">#{{.TicketID}}</a>){{end}}</li>{{end}}</ul>{{end}}
{{template "bottom" .}}{{end}}

{{define "request"}}{{template "top" .}}{{with .Req}}
<dl><dt>Person</dt><dd id="req-user">{{.UserName}} &lt;{{.UserEmail}}&gt;</dd><dt>Unit</dt><dd>{{.UnitName}} ({{.UnitSlug}})</dd>
<dt>Role</dt><dd>{{.Role}}</dd><dt>Reason</dt><dd>{{.Reason}}</dd><dt>Status</dt><dd id="req-status">{{.Status}}</dd>
{{if .TicketID}}<dt>Ticket</dt><dd><a href="/tickets/{{.TicketID}}">#{{.TicketID}}</a></dd>{{end}}</dl>{{end}}
{{if .CanDecide}}<form method="post" action="/access/requests/{{.Req.ID}}/decide" id="decide-form">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<p><label>Note to the requester<br><textarea name="note" rows="3" cols="60"></textarea></label></p>
<p><button type="submit" name="decision" value="approve" id="approve">Approve</button> <button type="submit" name="decision" value="deny" id="deny">Deny</button></p>
</form>{{end}}{{template "bottom" .}}{{end}}

{{define "tokens"}}{{template "top" .}}
{{if .NewToken}}<p>Your new token (shown only now): <code id="new-token">{{.NewToken}}</code></p>{{end}}
<form method="post" action="/account/tokens" id="token-form"><input type="hidden" name="csrf" value="{{.CSRF}}">
<p><label>Name <input name="name" id="token-name" maxlength="200" required></label>
<label>Scope <select name="scope" id="token-scope"><option value="read">read</option><option value="write">read and write</option></select></label>
<label>Valid for <select name="days" id="token-days"><option value="7">7 days</option><option value="30" selected>30 days</option><option value="90">90 days</option><option value="365">1 year</option></select></label>
<button type="submit" id="create-token">Create a token</button></p></form>
<table id="tokens"><thead><tr><th>Name</th><th>Scope</th><th>Created</th><th>Expires</th><th></th></tr></thead><tbody>
{{range .Tokens}}<tr><td>{{.Name}}</td><td>{{.Scope}}</td><td>{{when .CreatedAt}}</td><td>{{whenp .ExpiresAt}}</td>
<td>{{if .RevokedAt}}revoked{{else}}<form method="post" action="/account/tokens/{{.ID}}/revoke"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Revoke</button></form>{{end}}</td></tr>{{end}}
</tbody></table>{{template "bottom" .}}{{end}}
`))

type page struct {
	Title, Message, Flash, CSRF, Next string
	P                                 *auth.Principal
}

func (h *Handler) base(r *http.Request, title string) page {
	pg := page{Title: title}
	pg.P, _ = h.Principal(r)
	if h.d.Sessions != nil {
		_, _, pg.CSRF, _ = h.d.Sessions.Current(r)
	}
	return pg
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		h.d.Log.Error("identity page", "page", name, "err", err)
	}
}

func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	pg := page{Title: http.StatusText(status), Message: msg}
	h.render(w, status, "error", pg)
}

type ctxKey struct{}

func principalOf(r *http.Request) *auth.Principal {
	p, _ := r.Context().Value(ctxKey{}).(*auth.Principal)
	return p
}

// signedIn resolves the principal; visitors go to the sign-in page. An
// unsafe request with a session must carry the session's form token.
func (h *Handler) signedIn(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := h.Principal(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if p == nil {
			if r.Method != http.MethodGet {
				h.errorPage(w, r, http.StatusUnauthorized, "Your session has ended. Sign in again.")
				return
			}
			http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err != nil {
				h.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if p.Via == "session" {
				_, _, csrf, _ := h.d.Sessions.Current(r)
				if csrf == "" || r.PostFormValue("csrf") != csrf {
					h.errorPage(w, r, http.StatusForbidden, "This form has expired or did not come from this site. Reload the page and try again.")
					return
				}
			}
		}
		fn(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
	}
}

func urlQueryEscape(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "?", "%3F", "#", "%23", "+", "%2B", " ", "%20").Replace(s)
}

type providerView struct{ Name, Label string }

func (h *Handler) providerList(w http.ResponseWriter, r *http.Request) {
	v := struct {
		page
		Providers []providerView
	}{page: h.base(r, "Sign in with your organisation")}
	v.Next = auth.SafeNext(r.URL.Query().Get("next"))
	if v.Next == "/" {
		v.Next = ""
	}
	for _, n := range h.order {
		v.Providers = append(v.Providers, providerView{Name: n, Label: h.providers[n].label()})
	}
	h.render(w, http.StatusOK, "providers", v)
}

type accessView struct {
	page
	Units          []*unit.Unit
	Mine, ToDecide []*identity.AccessRequest
	Req            *identity.AccessRequest
	CanDecide      bool
}

func (h *Handler) accessPage(w http.ResponseWriter, r *http.Request) {
	h.showAccess(w, r, http.StatusOK, "")
}

func (h *Handler) showAccess(w http.ResponseWriter, r *http.Request, status int, flash string) {
	p := principalOf(r)
	v := accessView{page: h.base(r, "Supporter privileges")}
	v.Flash = flash
	var err error
	if v.Units, err = h.d.Units.Units(r.Context()); err != nil {
		h.fail(w, r, err)
		return
	}
	if v.Mine, v.ToDecide, err = h.d.Identity.AccessRequests(r.Context(), p); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, status, "access", v)
}

func (h *Handler) requestAccess(w http.ResponseWriter, r *http.Request) {
	ar, err := h.d.Identity.RequestAccess(r.Context(), h.d.Tickets, principalOf(r), r.PostFormValue("unit"),
		auth.UnitRole(r.PostFormValue("role")), r.PostFormValue("reason"))
	if err != nil {
		if k := apperr.KindOf(err); k == apperr.Invalid || k == apperr.Conflict {
			h.showAccess(w, r, http.StatusUnprocessableEntity, err.Error())
			return
		}
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/access/requests/"+strconv.FormatInt(ar.ID, 10), http.StatusSeeOther)
}

func (h *Handler) requestPage(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	ar, err := h.d.Identity.AccessRequestByID(r.Context(), p, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := accessView{page: h.base(r, "Access request"), Req: ar}
	v.CanDecide = ar.Status == "pending" && p.CanManageUnit(ar.UnitID) && (ar.UserID != p.UserID || p.IsAdmin())
	h.render(w, http.StatusOK, "request", v)
}

func (h *Handler) decide(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	d := r.PostFormValue("decision")
	if d != "approve" && d != "deny" {
		h.errorPage(w, r, http.StatusUnprocessableEntity, "Choose approve or deny.")
		return
	}
	if _, err := h.d.Identity.DecideAccess(r.Context(), h.d.Tickets, principalOf(r), id, d == "approve", r.PostFormValue("note")); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/access/requests/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

type tokensView struct {
	page
	NewToken string
	Tokens   []tokenRow
}

type tokenRow struct {
	*user.Token
	CSRF string
}

func (h *Handler) tokensPage(w http.ResponseWriter, r *http.Request) { h.showTokens(w, r, "", "") }

func (h *Handler) showTokens(w http.ResponseWriter, r *http.Request, secret, flash string) {
	p := principalOf(r)
	v := tokensView{page: h.base(r, "Your API tokens"), NewToken: secret}
	v.Flash = flash
	ts, err := h.d.Users.Tokens(r.Context(), p.UserID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, t := range ts {
		v.Tokens = append(v.Tokens, tokenRow{Token: t, CSRF: v.CSRF})
	}
	h.render(w, http.StatusOK, "tokens", v)
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
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
	h.showTokens(w, r, secret, "Token created. Copy it now: it is not shown again.")
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err := h.d.Users.RevokeToken(r.Context(), principalOf(r).UserID, id); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account/tokens", http.StatusSeeOther)
}
