package user

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
)

// mailNoticeKinds are the kinds of notice (package notify) a person may
// choose not to get by mail. Alarms always go out.
var mailNoticeKinds = []string{"auto_reply", "new_ticket", "reply", "note", "status", "assigned", "escalated", "reminder", "escalated_by_user"}

// MailNoticeKinds returns the kinds of notice a person may turn off.
func MailNoticeKinds() []string { return slices.Clone(mailNoticeKinds) }

// MutedKinds returns the kinds of notice user id does not want by mail.
func (s *Store) MutedKinds(ctx context.Context, id int64) ([]string, error) {
	var muted string
	err := s.db.Reader().QueryRowContext(ctx, `SELECT COALESCE((SELECT muted FROM user_mail_prefs WHERE user_id = $1), '')`, id).Scan(&muted)
	if err != nil {
		return nil, fmt.Errorf("user: mail preferences of %d: %w", id, err)
	}
	return splitKinds(muted), nil
}

// SetMutedKinds records which kinds of notice user id does not want by
// mail; an unknown kind is an Invalid error.
func (s *Store) SetMutedKinds(ctx context.Context, id int64, kinds []string) ([]string, error) {
	var clean []string
	for _, k := range kinds {
		if !slices.Contains(mailNoticeKinds, k) {
			return nil, apperr.Field("muted", "%q is not a kind of notice one may turn off (%s)", k, strings.Join(mailNoticeKinds, ", "))
		}
		if !slices.Contains(clean, k) {
			clean = append(clean, k)
		}
	}
	slices.Sort(clean)
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	_, err := s.db.W.ExecContext(ctx, `INSERT INTO user_mail_prefs (user_id, muted) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET muted = excluded.muted`, id, strings.Join(clean, ","))
	if err != nil {
		return nil, fmt.Errorf("user: mail preferences of %d: %w", id, err)
	}
	if clean == nil {
		clean = []string{}
	}
	return clean, nil
}

// MutedByEmail returns, for those of emails that belong to users who
// turned some kinds of notice off, those kinds.
func (s *Store) MutedByEmail(ctx context.Context, emails []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(emails) == 0 {
		return out, nil
	}
	ph := make([]string, len(emails))
	args := make([]any, len(emails))
	for i, e := range emails {
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = e
	}
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT u.email, p.muted FROM users u JOIN user_mail_prefs p ON p.user_id = u.id
		WHERE p.muted <> '' AND u.email IN (`+strings.Join(ph, ", ")+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("user: mail preferences: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var email, muted string
		if err := rows.Scan(&email, &muted); err != nil {
			return nil, fmt.Errorf("user: mail preferences: %w", err)
		}
		out[email] = splitKinds(muted)
	}
	return out, rows.Err()
}

func splitKinds(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}
