package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// NewUser is what creating a user takes.
type NewUser struct {
	Email          string
	Name           string
	Role           auth.Role
	Team           string
	Password       string
	CertificateDNs []string
}

// validUser is a NewUser that passed check: fields normalised, the
// password hashed.
type validUser struct {
	email, name, team, hash string
	role                    auth.Role
	dns                     []string
}

// check validates nu the same way for every caller (API, CLI, bootstrap,
// sign-up through an identity provider, the mail gateway, the web) and
// hashes its password, if any, in its turn.
func (s *Store) check(ctx context.Context, nu NewUser) (validUser, error) {
	var v validUser
	var err error
	if v.email, err = NormalizeEmail(nu.Email); err != nil {
		return v, err
	}
	if v.name, err = CheckName(nu.Name); err != nil {
		return v, err
	}
	v.role = nu.Role
	if v.role == "" {
		v.role = auth.RoleUser
	}
	if err = checkRole(v.role); err != nil {
		return v, err
	}
	if v.team, err = checkTeam(nu.Team); err != nil {
		return v, err
	}
	for _, dn := range nu.CertificateDNs {
		dn = strings.TrimSpace(dn)
		if dn == "" || len(dn) > 1024 || !utf8.ValidString(dn) || strings.ContainsAny(dn, "\r\n\x00") {
			return v, apperr.Field("certificate_dns", "%q is not a certificate subject", dn)
		}
		v.dns = append(v.dns, dn)
	}
	if nu.Password != "" {
		if v.hash, err = s.hashPassword(ctx, nu.Password); err != nil {
			return v, err
		}
	}
	return v, nil
}

// checkRole refuses an instance role other than user or admin.
func checkRole(role auth.Role) error {
	if role != auth.RoleUser && role != auth.RoleAdmin {
		return apperr.Field("role", "%q is not user or admin", role)
	}
	return nil
}

// checkTeam validates a user's team (a VO): one line of at most 200
// characters, possibly empty.
func checkTeam(team string) (string, error) {
	if len(team) > 200 || !utf8.ValidString(team) || strings.ContainsAny(team, "\r\n\x00") {
		return "", apperr.Field("team", "must be one line of at most 200 characters")
	}
	return team, nil
}

// errExists is insert's answer when the email belongs to a user already.
var errExists = errors.New("user: email exists")

// insert writes v inside q, the only statement that adds a user. An email
// that exists already is errExists, and leaves q usable (no constraint
// violation aborts a PostgreSQL transaction).
func (s *Store) insert(ctx context.Context, q db.Querier, v validUser) (*User, error) {
	now := s.now()
	u := &User{Email: v.email, Name: v.name, Role: v.role, Team: v.team, HasPassword: v.hash != "", CertificateDNs: v.dns,
		CreatedAt: now, UpdatedAt: now}
	err := q.QueryRowContext(ctx, `INSERT INTO users (email, name, role, team, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (email) DO NOTHING RETURNING id`,
		v.email, v.name, string(v.role), v.team, v.hash, now).Scan(&u.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errExists
	}
	if err != nil {
		return nil, err
	}
	for _, dn := range v.dns {
		_, err := q.ExecContext(ctx, `INSERT INTO user_certificates (dn, user_id) VALUES ($1, $2)`, dn, u.ID)
		if db.IsUniqueViolation(err) {
			return nil, apperr.New(apperr.Conflict, "certificate subject %q belongs to another user", dn)
		}
		if err != nil {
			return nil, err
		}
	}
	return u, nil
}

// insertNew is insert where an existing email is a Conflict.
func (s *Store) insertNew(ctx context.Context, q db.Querier, v validUser) (*User, error) {
	u, err := s.insert(ctx, q, v)
	if errors.Is(err, errExists) {
		return nil, apperr.New(apperr.Conflict, "a user with email %s exists already", v.email)
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
		return nil, false, fmt.Errorf("user: ensure %s: %w", v.email, err)
	}
	u, err = s.GetByEmailTx(ctx, q, v.email)
	if err != nil {
		return nil, false, fmt.Errorf("user: ensure %s: %w", v.email, err)
	}
	return u, false, nil
}
