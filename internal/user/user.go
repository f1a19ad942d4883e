// Package user holds people (requesters, support staff, admins), their API
// tokens and registered certificate subjects, and turns a credential into an
// auth.Principal.
package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// User is a person known to helpmesh.
type User struct {
	ID             int64
	Email          string
	Name           string
	Role           auth.Role
	Team           string
	HasPassword    bool
	Disabled       bool
	CertificateDNs []string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Token is an API token as listed (never with its secret).
type Token struct {
	ID        int64
	UserID    int64
	Name      string
	Scope     string
	CreatedAt time.Time
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

// Store reads and writes users.
type Store struct {
	db     *db.DB
	now    func() time.Time
	tokens *principalCache

	// passwords bounds the password hashes and checks that run at once:
	// each holds auth.ArgonMemoryKiB of memory.
	passwords chan struct{}
	dummyOnce sync.Once
	dummy     string // a hash to check against for unknown addresses

	// Changed, when set, is called by ForgetPrincipals to tell the other
	// processes on the database, which then call DropPrincipals (package
	// notifybus). Set it before the Store is used.
	Changed func()
}

// maxPasswordWork is how many password hashes or checks run at once; more
// wait their turn.
const maxPasswordWork = 2

// NewStore returns a Store on d.
func NewStore(d *db.DB) *Store {
	return &Store{db: d, now: func() time.Time { return time.Now().UTC() }, tokens: newPrincipalCache(PrincipalCacheTTL, 10_000),
		passwords: make(chan struct{}, maxPasswordWork)}
}

// passwordWork runs fn, a password hash or check, when fewer than
// maxPasswordWork others run.
func (s *Store) passwordWork(ctx context.Context, fn func()) error {
	select {
	case s.passwords <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("user: password: %w", ctx.Err())
	}
	defer func() { <-s.passwords }()
	fn()
	return nil
}

// hashPassword hashes password in its turn (passwordWork); a password
// auth.HashPassword refuses is a field error.
func (s *Store) hashPassword(ctx context.Context, password string) (hash string, err error) {
	if werr := s.passwordWork(ctx, func() { hash, err = auth.HashPassword(password) }); werr != nil {
		return "", werr
	}
	if err != nil {
		return "", apperr.Field("password", "%v", err)
	}
	return hash, nil
}

// PrincipalCacheTTL is how long the principal of an API token is reused
// without asking the database again. A revocation through this Store takes
// effect at once, in the other processes as soon as their notice bus
// (package notifybus) delivers its notice; a change made without the Store
// within this time.
const PrincipalCacheTTL = time.Second

// ForgetPrincipals drops every cached token principal, so that the next
// request of each token sees the current roles and memberships, here and
// (through Changed) in the other processes.
func (s *Store) ForgetPrincipals() {
	s.tokens.clear()
	if s.Changed != nil {
		s.Changed()
	}
}

// DropPrincipals drops this process's cached token principals, after
// another process changed them.
func (s *Store) DropPrincipals() { s.tokens.clear() }

// NewUser is what creating a user takes.
type NewUser struct {
	Email          string
	Name           string
	Role           auth.Role
	Team           string
	Password       string
	CertificateDNs []string
}

// NormalizeEmail validates an address and returns it lower-cased, without a
// display name.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", apperr.Field("email", "is required")
	}
	if len(s) > 254 {
		return "", apperr.Field("email", "is longer than 254 characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(a.Address, "@") {
		return "", apperr.Field("email", "%q is not an email address", s)
	}
	return strings.ToLower(a.Address), nil
}

// CheckName validates a display name (of a user, a unit or a service) and
// returns it trimmed: valid UTF-8, one to 200 characters, and no control
// characters (CR, LF, NUL, tab...), as it goes into mail headers.
func CheckName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case !utf8.ValidString(name):
		return "", apperr.Field("name", "is not valid UTF-8")
	case name == "":
		return "", apperr.Field("name", "is required")
	case utf8.RuneCountInString(name) > 200:
		return "", apperr.Field("name", "is longer than 200 characters")
	case strings.ContainsFunc(name, unicode.IsControl):
		return "", apperr.Field("name", "must be one line without control characters")
	}
	return name, nil
}

// check validates nu the same way for every caller (API, CLI, bootstrap,
// sign-up through an identity provider, the mail gateway, the web) and
// hashes its password, if any, in its turn: what insert writes.
func (s *Store) check(ctx context.Context, nu NewUser) (*validUser, error) {
	email, err := NormalizeEmail(nu.Email)
	if err != nil {
		return nil, err
	}
	name, err := CheckName(nu.Name)
	if err != nil {
		return nil, err
	}
	if nu.Role == "" {
		nu.Role = auth.RoleUser
	}
	if err := checkRole(nu.Role); err != nil {
		return nil, err
	}
	if err := checkTeam(nu.Team); err != nil {
		return nil, err
	}
	hash := ""
	if nu.Password != "" {
		if hash, err = s.hashPassword(ctx, nu.Password); err != nil {
			return nil, err
		}
	}
	dns, err := canonicalDNs(nu.CertificateDNs)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &User{Email: email, Name: name, Role: nu.Role, Team: nu.Team, HasPassword: hash != "", CertificateDNs: dns, CreatedAt: now, UpdatedAt: now}
	return &validUser{user: u, hash: hash}, nil
}

const userCols = `id, email, name, role, team, password_hash <> '', disabled, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	u := &User{}
	var role string
	err := row.Scan(&u.ID, &u.Email, &u.Name, &role, &u.Team, &u.HasPassword, &u.Disabled, &u.CreatedAt, &u.UpdatedAt)
	u.Role = auth.Role(role)
	return u, err
}

// oneTx reads one user, without certificate subjects, through q; none is a
// NotFound error.
func oneTx(ctx context.Context, q db.Querier, where string, arg any) (*User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no such user")
	}
	if err != nil {
		return nil, fmt.Errorf("user: get: %w", err)
	}
	return u, nil
}

// GetTx returns user id, without certificate subjects, inside the
// caller's transaction q.
func (s *Store) GetTx(ctx context.Context, q db.Querier, id int64) (*User, error) {
	return oneTx(ctx, q, `id = $1`, id)
}

// GetByEmailTx returns the user with the address email (any case), without
// certificate subjects, inside the caller's transaction q.
func (s *Store) GetByEmailTx(ctx context.Context, q db.Querier, email string) (*User, error) {
	return oneTx(ctx, q, `email = $1`, strings.ToLower(strings.TrimSpace(email)))
}

func (s *Store) one(ctx context.Context, where string, arg any) (*User, error) {
	u, err := oneTx(ctx, s.db.Reader(), where, arg)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT dn FROM user_certificates WHERE user_id = $1 ORDER BY dn`, u.ID)
	if err != nil {
		return nil, fmt.Errorf("user: certificates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var dn string
		if err := rows.Scan(&dn); err != nil {
			return nil, err
		}
		u.CertificateDNs = append(u.CertificateDNs, dn)
	}
	return u, rows.Err()
}

// Get returns the user with id.
func (s *Store) Get(ctx context.Context, id int64) (*User, error) { return s.one(ctx, `id = $1`, id) }

// GetByEmail returns the user with the address email (any case).
func (s *Store) GetByEmail(ctx context.Context, email string) (*User, error) {
	return s.one(ctx, `email = $1`, strings.ToLower(strings.TrimSpace(email)))
}

// List returns users ordered by id, after the id `after`, at most limit.
func (s *Store) List(ctx context.Context, after int64, limit int) ([]*User, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT `+userCols+` FROM users WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("user: list: %w", err)
	}
	us, err := db.Collect(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("user: list: %w", err)
	}
	return us, nil
}

// Count returns how many users exist.
func (s *Store) Count(ctx context.Context) (int, error) {
	var n int
	err := s.db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}

// SetPassword replaces a user's password.
func (s *Store) SetPassword(ctx context.Context, id int64, password string) error {
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return err
	}
	res, err := s.db.W.ExecContext(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`, hash, s.now(), id)
	if err != nil {
		return fmt.Errorf("user: set password: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "no such user")
	}
	return nil
}

// CheckPassword returns the user whose email and password match, or an
// Unauthorized error that does not say which part was wrong.
func (s *Store) CheckPassword(ctx context.Context, email, password string) (*User, error) {
	var id int64
	var hash string
	var disabled bool
	err := s.db.Reader().QueryRowContext(ctx, `SELECT id, password_hash, disabled FROM users WHERE email = $1`,
		strings.ToLower(strings.TrimSpace(email))).Scan(&id, &hash, &disabled)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("user: check password: %w", err)
	}
	known := hash != ""
	var ok bool
	if err := s.passwordWork(ctx, func() {
		if !known {
			// Spend the same time as a real check so that timing does not
			// tell which addresses exist.
			s.dummyOnce.Do(func() { s.dummy, _ = auth.HashPassword("not-a-real-password-at-all") })
			hash = s.dummy
		}
		ok = auth.CheckPassword(hash, password)
	}); err != nil {
		return nil, err
	}
	if !known || !ok || disabled {
		return nil, apperr.New(apperr.Unauthorized, "wrong email or password")
	}
	return s.Get(ctx, id)
}

// CreateToken makes an API token for user id and returns its secret, which
// is shown once and stored only as a hash.
func (s *Store) CreateToken(ctx context.Context, userID int64, name, scope string, expires *time.Time) (*Token, string, error) {
	if scope == "" {
		scope = "write"
	}
	if scope != "read" && scope != "write" {
		return nil, "", apperr.Field("scope", "%q is not read or write", scope)
	}
	if len(name) > 200 || !utf8.ValidString(name) || strings.ContainsAny(name, "\x00\r\n") {
		return nil, "", apperr.Field("name", "must be one line of at most 200 characters of UTF-8")
	}
	if expires != nil && !expires.After(s.now()) {
		return nil, "", apperr.Field("expires_at", "is in the past")
	}
	secret, hash := auth.NewToken()
	return s.insertToken(ctx, userID, name, scope, hash, expires, secret)
}

// CreateTokenWithSecret stores a token whose secret is given (the bootstrap
// token of a fresh instance).
func (s *Store) CreateTokenWithSecret(ctx context.Context, userID int64, name, secret string) (*Token, error) {
	t, _, err := s.insertToken(ctx, userID, name, "write", auth.HashToken(secret), nil, secret)
	return t, err
}

func (s *Store) insertToken(ctx context.Context, userID int64, name, scope, hash string, expires *time.Time, secret string) (*Token, string, error) {
	t := &Token{UserID: userID, Name: name, Scope: scope, CreatedAt: s.now(), ExpiresAt: expires}
	err := s.db.W.QueryRowContext(ctx, `INSERT INTO api_tokens (user_id, name, token_hash, scope, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, userID, name, hash, scope, t.CreatedAt, expires).Scan(&t.ID)
	if db.IsForeignKeyViolation(err) {
		return nil, "", apperr.New(apperr.NotFound, "no such user")
	}
	if err != nil {
		return nil, "", fmt.Errorf("user: create token: %w", err)
	}
	return t, secret, nil
}

// Tokens lists a user's tokens.
func (s *Store) Tokens(ctx context.Context, userID int64) ([]*Token, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT id, user_id, name, scope, created_at, expires_at, revoked_at
		FROM api_tokens WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("user: tokens: %w", err)
	}
	defer rows.Close()
	var ts []*Token
	for rows.Next() {
		t := &Token{}
		if err := rows.Scan(&t.ID, &t.UserID, &t.Name, &t.Scope, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt); err != nil {
			return nil, fmt.Errorf("user: tokens: %w", err)
		}
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

// RevokeToken revokes token id of user userID.
func (s *Store) RevokeToken(ctx context.Context, userID, id int64) error {
	res, err := s.db.W.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL`,
		s.now(), id, userID)
	if err != nil {
		return fmt.Errorf("user: revoke token: %w", err)
	}
	s.ForgetPrincipals()
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "no such token")
	}
	return nil
}

// RevokeAllTokens revokes every API token of user userID and returns how
// many were still valid.
func (s *Store) RevokeAllTokens(ctx context.Context, userID int64) (int64, error) {
	res, err := s.db.W.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`, s.now(), userID)
	if err != nil {
		return 0, fmt.Errorf("user: revoke tokens: %w", err)
	}
	s.ForgetPrincipals()
	n, _ := res.RowsAffected()
	return n, nil
}

// PrincipalByToken returns the principal of a valid, unrevoked, unexpired
// API token, or an Unauthorized error.
func (s *Store) PrincipalByToken(ctx context.Context, token string) (*auth.Principal, error) {
	hash := auth.HashToken(token)
	now := s.now()
	if p := s.tokens.get(hash, now); p != nil {
		return p, nil
	}
	var userID int64
	var scope string
	var expires *time.Time
	err := s.db.Reader().QueryRowContext(ctx, `SELECT t.user_id, t.scope, t.expires_at FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND NOT u.disabled`, hash).Scan(&userID, &scope, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && expires != nil && !expires.After(s.now())) {
		return nil, apperr.New(apperr.Unauthorized, "invalid or expired token")
	}
	if err != nil {
		return nil, fmt.Errorf("user: token: %w", err)
	}
	p, err := s.Principal(ctx, userID)
	if err != nil {
		return nil, err
	}
	p.ReadOnly = scope == "read"
	p.Via = "token"
	s.tokens.put(hash, p, expires, now)
	return p, nil
}

// PrincipalByCertificate returns the principal of the user who registered
// the certificate subject dn (in any form CanonicalDN reads).
func (s *Store) PrincipalByCertificate(ctx context.Context, dn string) (*auth.Principal, error) {
	unregistered := apperr.New(apperr.Unauthorized, "no user has registered this certificate")
	dn, err := auth.CanonicalDN(dn)
	if err != nil {
		return nil, unregistered
	}
	var userID int64
	err = s.db.Reader().QueryRowContext(ctx, `SELECT user_id FROM user_certificates WHERE dn = $1`, dn).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, unregistered
	}
	if err != nil {
		return nil, fmt.Errorf("user: certificate: %w", err)
	}
	p, err := s.Principal(ctx, userID)
	if err != nil {
		return nil, err
	}
	p.Via = "certificate"
	return p, nil
}

// Principal loads user id with their unit memberships.
func (s *Store) Principal(ctx context.Context, id int64) (*auth.Principal, error) {
	p := &auth.Principal{UserID: id, Units: map[int64]auth.UnitRole{}}
	var role string
	var disabled bool
	err := s.db.Reader().QueryRowContext(ctx, `SELECT email, name, role, team, disabled FROM users WHERE id = $1`, id).
		Scan(&p.Email, &p.Name, &role, &p.Team, &disabled)
	if errors.Is(err, sql.ErrNoRows) || disabled {
		return nil, apperr.New(apperr.Unauthorized, "no such user")
	}
	if err != nil {
		return nil, fmt.Errorf("user: principal: %w", err)
	}
	p.Role = auth.Role(role)
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT m.unit_id, m.role, u.is_handler FROM unit_members m JOIN units u ON u.id = m.unit_id WHERE m.user_id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("user: memberships: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var unitID int64
		var r string
		var handler bool
		if err := rows.Scan(&unitID, &r, &handler); err != nil {
			return nil, fmt.Errorf("user: memberships: %w", err)
		}
		p.Units[unitID] = auth.UnitRole(r)
		p.Handler = p.Handler || handler
	}
	return p, rows.Err()
}

// CanonicalizeCertificates rewrites the registered certificate subjects
// that are not in their canonical form (CanonicalDN), as stored before
// subjects were compared as RDN sequences. It is safe to run again and on
// several nodes at once. A subject that does not parse, or whose canonical
// form another row holds already, is left as it is (it matches no
// certificate) and returned, for the operator to look at.
func (s *Store) CanonicalizeCertificates(ctx context.Context) (rewritten int, left []string, err error) {
	type row struct {
		dn     string
		userID int64
	}
	rs, err := s.db.W.QueryContext(ctx, `SELECT dn, user_id FROM user_certificates ORDER BY user_id, dn`)
	if err != nil {
		return 0, nil, fmt.Errorf("user: canonical certificate subjects: %w", err)
	}
	rows, err := db.Collect(rs, func(r interface{ Scan(...any) error }) (row, error) {
		var x row
		return x, r.Scan(&x.dn, &x.userID)
	})
	if err != nil {
		return 0, nil, fmt.Errorf("user: canonical certificate subjects: %w", err)
	}
	for _, x := range rows {
		c, err := auth.CanonicalDN(x.dn)
		if err != nil {
			left = append(left, x.dn)
			continue
		}
		if c == x.dn {
			continue
		}
		err = s.db.Tx(ctx, func(q db.Querier) error {
			_, err := q.ExecContext(ctx, `UPDATE user_certificates SET dn = $1 WHERE dn = $2`, c, x.dn)
			return err
		})
		switch {
		case db.IsUniqueViolation(err):
			left = append(left, x.dn)
		case err != nil:
			return rewritten, left, fmt.Errorf("user: canonical certificate subject of user %d: %w", x.userID, err)
		default:
			rewritten++
		}
	}
	return rewritten, left, nil
}
