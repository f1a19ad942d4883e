package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
)

// Creating users: one validation (check, in user.go) and one statement
// (insert) for every way a person is added.

// validUser is a NewUser that passed check: fields normalised, the
// password hashed.
type validUser struct {
	user *User // without ID
	hash string
}

// errExists is insert's answer when the email belongs to a user already.
var errExists = errors.New("user: email exists")

// insert writes v inside q, the only statement that adds a user. An email
// that exists already is errExists, and leaves q usable (no constraint
// violation aborts a PostgreSQL transaction).
func (s *Store) insert(ctx context.Context, q db.Querier, v *validUser) (*User, error) {
	u := *v.user
	err := q.QueryRowContext(ctx, `INSERT INTO users (email, name, role, team, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (email) DO NOTHING RETURNING id`,
		u.Email, u.Name, string(u.Role), u.Team, v.hash, u.CreatedAt).Scan(&u.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errExists
	}
	if err != nil {
		return nil, err
	}
	for _, dn := range u.CertificateDNs {
		_, err := q.ExecContext(ctx, `INSERT INTO user_certificates (dn, user_id) VALUES ($1, $2)`, dn, u.ID)
		if db.IsUniqueViolation(err) {
			return nil, apperr.New(apperr.Conflict, "certificate subject %q belongs to another user", dn)
		}
		if err != nil {
			return nil, err
		}
	}
	return &u, nil
}

// insertNew is insert where an existing email is a Conflict.
func (s *Store) insertNew(ctx context.Context, q db.Querier, v *validUser) (*User, error) {
	u, err := s.insert(ctx, q, v)
	if errors.Is(err, errExists) {
		return nil, apperr.New(apperr.Conflict, "a user with email %s exists already", v.user.Email)
	}
	return u, err
}

// Create adds a user. A duplicate email is a Conflict.
func (s *Store) Create(ctx context.Context, nu NewUser) (*User, error) {
	v, err := s.check(ctx, nu)
	if err != nil {
		return nil, err
	}
	var u *User
	err = s.db.Tx(ctx, func(q db.Querier) error {
		u, err = s.insertNew(ctx, q, v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("user: create: %w", err)
	}
	return u, nil
}

// CreateTx adds a user inside the caller's transaction q, validated as
// Create does. A duplicate email is a Conflict. A password is hashed
// before the first statement; callers that hold a transaction should
// give none.
func (s *Store) CreateTx(ctx context.Context, q db.Querier, nu NewUser) (*User, error) {
	v, err := s.check(ctx, nu)
	if err != nil {
		return nil, err
	}
	u, err := s.insertNew(ctx, q, v)
	if err != nil {
		return nil, fmt.Errorf("user: create: %w", err)
	}
	return u, nil
}

// EnsureTx returns the account of email inside the caller's transaction q,
// creating it (role user, no password, no team) when there is none. It is
// for the mail gateway, which registers an unknown sender in the same
// commit as the ticket the sender's mail opens; created tells whether the
// account is new. It does no password hashing or other costly work.
func (s *Store) EnsureTx(ctx context.Context, q db.Querier, email, name string) (u *User, created bool, err error) {
	v, err := s.check(ctx, NewUser{Email: email, Name: name})
	if err != nil {
		return nil, false, err
	}
	u, err = s.insert(ctx, q, v)
	if err == nil {
		return u, true, nil
	}
	if !errors.Is(err, errExists) {
		return nil, false, fmt.Errorf("user: ensure %s: %w", v.user.Email, err)
	}
	u, err = s.GetByEmailTx(ctx, q, v.user.Email)
	if err != nil {
		return nil, false, fmt.Errorf("user: ensure %s: %w", v.user.Email, err)
	}
	return u, false, nil
}
