// Package setting keeps the instance's settings: named values such as the
// theme of the web pages and the secret that signs mail tokens, one row per
// key, shared by every node.
package setting

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
)

// Store reads and writes the settings table.
type Store struct{ db *db.DB }

// NewStore returns a Store on d.
func NewStore(d *db.DB) *Store { return &Store{db: d} }

// Get returns the values of keys that are set; a key without a value is
// absent from the map.
func (s *Store) Get(ctx context.Context, keys ...string) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	ph := make([]string, len(keys))
	args := make([]any, len(keys))
	for i, k := range keys {
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = k
	}
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT key, value FROM settings WHERE key IN (`+strings.Join(ph, ", ")+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("setting: get: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("setting: get: %w", err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("setting: get: %w", err)
	}
	return out, nil
}

// Set writes values, all in one transaction.
func (s *Store) Set(ctx context.Context, values map[string]string) error {
	for k := range values {
		if k == "" {
			return apperr.Field("key", "is required")
		}
	}
	err := s.db.Tx(ctx, func(q db.Querier) error {
		for k, v := range values {
			if _, err := q.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("setting: set: %w", err)
	}
	return nil
}

// Ensure sets key to value unless it has a value already, and returns the
// value kept: the first writer wins, on every node alike.
func (s *Store) Ensure(ctx context.Context, key, value string) (string, error) {
	if _, err := s.db.W.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", fmt.Errorf("setting: ensure %s: %w", key, err)
	}
	var v string
	err := s.db.W.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("setting: ensure %s: row missing", key)
	}
	if err != nil {
		return "", fmt.Errorf("setting: ensure %s: %w", key, err)
	}
	return v, nil
}
