// Package savedview keeps the queue views support staff name and save: a
// name and the address of a queue page with its filters, per person.
package savedview

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
)

// MaxPerUser is how many views one person may keep.
const MaxPerUser = 50

// View is one saved view.
type View struct {
	ID        int64
	UserID    int64
	Name      string
	Path      string // a queue page: /queue/<unit>?...
	CreatedAt time.Time
}

// Store reads and writes saved views.
type Store struct {
	db  *db.DB
	now func() time.Time
}

// NewStore returns a Store on d; now may be nil.
func NewStore(d *db.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: d, now: func() time.Time { return now().UTC() }}
}

// List returns the views of userID by name.
func (s *Store) List(ctx context.Context, userID int64) ([]View, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT id, user_id, name, path, created_at FROM saved_views WHERE user_id = $1
		ORDER BY name, id LIMIT $2`, userID, MaxPerUser)
	if err != nil {
		return nil, fmt.Errorf("savedview: list: %w", err)
	}
	defer rows.Close()
	var vs []View
	for rows.Next() {
		var v View
		if err := rows.Scan(&v.ID, &v.UserID, &v.Name, &v.Path, &v.CreatedAt); err != nil {
			return nil, fmt.Errorf("savedview: list: %w", err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("savedview: list: %w", err)
	}
	return vs, nil
}

// Save adds a view for userID. The name is one line of 1 to 60
// characters and the path a queue page of at most 500 bytes (field errors
// "name" and "path"); a person with MaxPerUser views already gets a
// Conflict.
func (s *Store) Save(ctx context.Context, userID int64, name, path string) (*View, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 60 || strings.ContainsAny(name, "\r\n\x00") {
		return nil, apperr.Field("name", "must be one line of 1 to 60 characters")
	}
	if !strings.HasPrefix(path, "/queue/") || len(path) > 500 || strings.ContainsAny(path, "\r\n\x00") {
		return nil, apperr.Field("path", "must be a queue page of at most 500 characters")
	}
	v := &View{UserID: userID, Name: name, Path: path, CreatedAt: s.now()}
	err := s.db.Tx(ctx, func(q db.Querier) error {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM saved_views WHERE user_id = $1`, userID).Scan(&n); err != nil {
			return err
		}
		if n >= MaxPerUser {
			return apperr.New(apperr.Conflict, "there are %d saved views already; delete one first", n)
		}
		return q.QueryRowContext(ctx, `INSERT INTO saved_views (user_id, name, path, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			userID, name, path, v.CreatedAt).Scan(&v.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("savedview: save: %w", err)
	}
	return v, nil
}

// Delete removes view id of userID; someone else's view, or none, is a
// NotFound error.
func (s *Store) Delete(ctx context.Context, userID, id int64) error {
	res, err := s.db.W.ExecContext(ctx, `DELETE FROM saved_views WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return fmt.Errorf("savedview: delete: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "no such view")
	}
	return nil
}
