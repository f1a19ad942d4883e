package api

import (
	"net/http"

	"github.com/helpmesh/helpmesh/internal/auth"
)

// What other HTTP surfaces (the federation under /federation/v1/) share
// with the API: its credentials and its answers.

// Authenticate returns the principal of r's credentials, as the API's
// routes do (bearer token, then the other authenticators).
func (a *API) Authenticate(r *http.Request) (*auth.Principal, error) { return a.authenticate(r) }

// WriteError answers err in the API's error envelope.
func (a *API) WriteError(w http.ResponseWriter, r *http.Request, err error) { a.writeError(w, r, err) }

// WriteJSON answers v with code as the API does.
func WriteJSON(w http.ResponseWriter, code int, v any) { writeJSON(w, code, v) }
