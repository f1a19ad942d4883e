// Package identity links people to the identities they prove elsewhere:
// OpenID Connect accounts (issuer and subject), X.509 certificate subjects,
// and the roles and unit memberships their identity provider's claims grant
// through mapping rules. Every change it makes to a person's privileges is
// written to the identity audit log in the same transaction. It also keeps
// requests for supporter privileges.
//
// The package holds no HTTP code: the certificate and proxy authenticators
// live in internal/auth, the relying party and the pages in internal/web.
package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// Store reads and writes identities, pending sign-ins, grants, the audit log
// and access requests. People and unit memberships it changes through
// their own stores, inside its transactions.
type Store struct {
	db    *db.DB
	users Users
	units Units
	now   func() time.Time
}

// Users is what identity needs of the user store (user.Store): the one
// validated way to add a person, people by id and address, and their
// instance role.
type Users interface {
	GetTx(ctx context.Context, q db.Querier, id int64) (*user.User, error)
	GetByEmailTx(ctx context.Context, q db.Querier, email string) (*user.User, error)
	CreateTx(ctx context.Context, q db.Querier, nu user.NewUser) (*user.User, error)
	RoleTx(ctx context.Context, q db.Querier, id int64) (auth.Role, error)
	SetRoleTx(ctx context.Context, q db.Querier, id int64, role auth.Role) error
	TeamTx(ctx context.Context, q db.Querier, id int64) (string, error)
	SetTeamTx(ctx context.Context, q db.Querier, id int64, team string) error
}

// Units is what identity needs of the unit store (unit.Store): units by
// slug and the one way to write unit membership.
type Units interface {
	Unit(ctx context.Context, slug string) (*unit.Unit, error)
	MemberRoleTx(ctx context.Context, q db.Querier, unitID, userID int64) (auth.UnitRole, error)
	SetMemberTx(ctx context.Context, q db.Querier, unitID, userID int64, role auth.UnitRole) error
	RemoveMemberTx(ctx context.Context, q db.Querier, unitID, userID int64) error
}

// NewStore returns a Store on d; now may be nil.
func NewStore(d *db.DB, users Users, units Units, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: d, users: users, units: units, now: func() time.Time { return now().UTC() }}
}

// Pending is a sign-in that went to a provider and has not come back yet.
// It is keyed by a hash of the state parameter and used at most once.
type Pending struct {
	StateHash string
	Provider  string
	Nonce     string
	Verifier  string // PKCE code verifier
	Browser   string // hash of the browser-binding cookie
	Next      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SavePending stores p, valid for ttl.
func (s *Store) SavePending(ctx context.Context, p Pending, ttl time.Duration) error {
	now := s.now()
	_, err := s.db.W.ExecContext(ctx, `INSERT INTO oidc_pending (state_hash, provider, nonce, verifier, browser, next, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, p.StateHash, p.Provider, p.Nonce, p.Verifier, p.Browser, p.Next, now, now.Add(ttl))
	if err != nil {
		return fmt.Errorf("identity: save pending sign-in: %w", err)
	}
	// Sweep old ones while we are at it; there are few.
	if _, err := s.db.W.ExecContext(ctx, `DELETE FROM oidc_pending WHERE expires_at < $1`, now); err != nil {
		return fmt.Errorf("identity: sweep pending sign-ins: %w", err)
	}
	return nil
}

// TakePending removes and returns the pending sign-in with stateHash. A
// state is single-use: a second call finds nothing. An expired one is a
// NotFound error like an unknown one.
func (s *Store) TakePending(ctx context.Context, stateHash string) (*Pending, error) {
	p := &Pending{StateHash: stateHash}
	err := s.db.W.QueryRowContext(ctx, `DELETE FROM oidc_pending WHERE state_hash = $1
		RETURNING provider, nonce, verifier, browser, next, created_at, expires_at`, stateHash).
		Scan(&p.Provider, &p.Nonce, &p.Verifier, &p.Browser, &p.Next, &p.CreatedAt, &p.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "this sign-in is unknown, was used already or has expired")
	}
	if err != nil {
		return nil, fmt.Errorf("identity: take pending sign-in: %w", err)
	}
	if !s.now().Before(p.ExpiresAt) {
		return nil, apperr.New(apperr.NotFound, "this sign-in is unknown, was used already or has expired")
	}
	return p, nil
}

// External is what a provider asserted about a person, after verification.
type External struct {
	Provider      string // configured name
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
}

// Link finds the account of an external identity: the one linked to its
// issuer and subject, else the account with its email when the provider
// says the email is verified (the identity is then linked to it), else a new
// account. An unverified email never links to or creates an account.
// created tells whether a new account was made.
func (s *Store) Link(ctx context.Context, e External) (userID int64, created bool, err error) {
	if e.Issuer == "" || e.Subject == "" {
		return 0, false, apperr.New(apperr.Unauthorized, "the identity provider sent no subject")
	}
	source := "oidc:" + e.Provider
	now := s.now()
	err = s.db.Tx(ctx, func(q db.Querier) error {
		err := q.QueryRowContext(ctx, `SELECT user_id FROM oidc_identities WHERE issuer = $1 AND subject = $2`, e.Issuer, e.Subject).Scan(&userID)
		switch {
		case err == nil:
			u, err := s.users.GetTx(ctx, q, userID)
			if err != nil {
				return err
			}
			if u.Disabled {
				return apperr.New(apperr.Unauthorized, "this account is disabled")
			}
			_, err = q.ExecContext(ctx, `UPDATE oidc_identities SET last_login_at = $1, email = $2 WHERE issuer = $3 AND subject = $4`,
				now, e.Email, e.Issuer, e.Subject)
			return err
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if e.Email == "" || !e.EmailVerified {
			return apperr.New(apperr.Unauthorized, "your identity provider did not confirm an email address, and this identity is not linked to an account yet")
		}
		email, err := user.NormalizeEmail(e.Email)
		if err != nil {
			return apperr.New(apperr.Unauthorized, "your identity provider sent an email address helpmesh cannot use: %s", e.Email)
		}
		u, err := s.users.GetByEmailTx(ctx, q, email)
		switch {
		case err == nil:
			if u.Disabled {
				return apperr.New(apperr.Unauthorized, "this account is disabled")
			}
			userID = u.ID
		case apperr.Is(err, apperr.NotFound):
			u, err := s.users.CreateTx(ctx, q, user.NewUser{Email: email, Name: displayName(e.Name, email)})
			if err != nil {
				return err
			}
			userID, created = u.ID, true
			if err := audit(ctx, q, now, userID, 0, source, "account_created", "user", "", email, "first sign-in"); err != nil {
				return err
			}
		default:
			return err
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO oidc_identities (issuer, subject, user_id, provider, email, created_at, last_login_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)`, e.Issuer, e.Subject, userID, e.Provider, email, now); err != nil {
			return err
		}
		return audit(ctx, q, now, userID, 0, source, "identity_linked", "oidc", "", e.Issuer+" "+e.Subject, "by verified email "+email)
	})
	if err != nil {
		var ae *apperr.Error
		if errors.As(err, &ae) {
			return 0, false, err
		}
		return 0, false, fmt.Errorf("identity: link: %w", err)
	}
	return userID, created, nil
}

// displayName is the provider's name for the person (spaces collapsed,
// cut at 200 characters) when user.CheckName accepts it, else the local
// part of the email: a name the provider got wrong does not stop a sign-in.
func displayName(name, email string) string {
	name = strings.Join(strings.Fields(name), " ")
	if utf8.RuneCountInString(name) > 200 {
		name = string([]rune(name)[:200])
	}
	if _, err := user.CheckName(name); err != nil {
		name, _, _ = strings.Cut(email, "@")
	}
	return name
}

// Identity is one linked external identity.
type Identity struct {
	Issuer, Subject, Provider, Email string
	CreatedAt, LastLoginAt           time.Time
}

// Identities lists the external identities linked to a user.
func (s *Store) Identities(ctx context.Context, userID int64) ([]Identity, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT issuer, subject, provider, email, created_at, last_login_at
		FROM oidc_identities WHERE user_id = $1 ORDER BY created_at`, userID)
	if err != nil {
		return nil, fmt.Errorf("identity: list identities: %w", err)
	}
	defer rows.Close()
	var out []Identity
	for rows.Next() {
		var i Identity
		if err := rows.Scan(&i.Issuer, &i.Subject, &i.Provider, &i.Email, &i.CreatedAt, &i.LastLoginAt); err != nil {
			return nil, fmt.Errorf("identity: list identities: %w", err)
		}
		out = append(out, i)
	}
	return out, rows.Err()
}
