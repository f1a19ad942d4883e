package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/identity"
)

// AuditLog is the identity audit log as GET /api/v1/audit reads it.
type AuditLog interface {
	AuditLog(ctx context.Context, userID int64, limit int) ([]identity.AuditEntry, error)
}

type auditDTO struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	UserID  int64     `json:"user_id,omitempty"`
	ActorID int64     `json:"actor_id,omitempty"`
	Source  string    `json:"source"`
	Action  string    `json:"action"`
	Target  string    `json:"target,omitempty"`
	Old     string    `json:"old,omitempty"`
	New     string    `json:"new,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// audit serves GET /api/v1/audit?user=ID&limit=N: the identity audit log
// (sign-ins, account links, role and membership changes by mapping rules,
// access decisions), newest first, for administrators.
func (a *API) audit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var userID int64
	if s := q.Get("user"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			a.writeError(w, r, apperr.Field("user", "must be a user id"))
			return
		}
		userID = n
	}
	limit, err := queryInt(r, "limit", 100, 1, 1000)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	es, err := a.Audit.AuditLog(r.Context(), userID, limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items := make([]auditDTO, len(es))
	for i, e := range es {
		items[i] = auditDTO{ID: e.ID, At: e.At, UserID: e.UserID, ActorID: e.ActorID, Source: e.Source,
			Action: e.Action, Target: e.Target, Old: e.Old, New: e.New, Detail: e.Detail}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}
