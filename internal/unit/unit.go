// Package unit holds support units (the teams that solve tickets), their
// members, and the service catalogue: each service names the unit of its
// provider.
package unit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/user"
	"github.com/helpmesh/helpmesh/internal/worktime"
)

// Mode is how tickets of a unit or service are worked.
type Mode string

// Integration modes.
const (
	Direct   Mode = "direct"   // worked in helpmesh
	Redirect Mode = "redirect" // mailed to a list, replies come back by mail
	External Mode = "external" // synchronised with an external ticketing system
)

// ModeOf is the integration mode of a ticket of service sv (nil: none)
// in unit u (nil: none): the service's own mode when it is not the
// default direct, else the unit's (DESIGN.md "Integration modes and
// connectors").
func ModeOf(u *Unit, sv *Service) Mode {
	if sv != nil && (sv.Mode == Redirect || sv.Mode == External) {
		return sv.Mode
	}
	if u != nil && u.Mode != "" {
		return u.Mode
	}
	return Direct
}

// Unit is a support unit.
type Unit struct {
	ID           int64
	Slug         string
	Name         string
	Email        string // reply address / notification list
	CommentEmail string // comment address: internal notes from members
	QoSLevel     string // base, medium, advanced or custom
	// QoS holds the response times of a unit of level custom (nil
	// otherwise: ResponseTimes gives its level's).
	QoS *QoS
	// Calendar is the unit's working time; nil: the instance's default
	// (HELPMESH_CALENDAR).
	Calendar  *worktime.Spec
	Mode      Mode
	Handler   bool // the ticket handler team
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Member is a person's membership in a unit.
type Member struct {
	UserID int64
	Email  string
	Name   string
	Role   auth.UnitRole
}

// Service is an entry of the service catalogue.
type Service struct {
	ID          int64
	Slug        string
	Name        string
	Description string
	UnitID      int64
	UnitSlug    string
	Mode        Mode
	// AlarmEmail is the emergency address alarm tickets are mailed to;
	// AlarmTeams the teams whose members may raise alarms.
	AlarmEmail string
	AlarmTeams []string
	// Connector names the connector (package connector) that tickets of
	// an `external` service are synchronised through.
	Connector string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// MaxAlarmTeams bounds a service's alarm_teams.
const MaxAlarmTeams = 50

// Store reads and writes units and services.
type Store struct {
	db      *db.DB
	now     func() time.Time
	lookups lookups
	// Reserved, when set, tells whether an address belongs to the helpdesk
	// itself (its own address, a reply-token address): no unit may have it.
	// Set it before the Store is used.
	Reserved func(addr string) bool
	// Changed, when set, is called after the Store wrote units or
	// services, to tell the other processes on the database, which then
	// call ForgetLookups (package notifybus). Set it before the Store is
	// used.
	Changed func()
}

// NewStore returns a Store on d.
func NewStore(d *db.DB) *Store {
	return &Store{db: d, now: func() time.Time { return time.Now().UTC() }}
}

// lookups keeps, for lookupTTL, what routing a new ticket reads: services
// by slug and the ticket handler team. The Store's own writes to units and
// services empty it; those of another process or node are seen within
// lookupTTL.
type lookups struct {
	mu sync.Mutex
	m  map[string]lookup // "service:" + slug, "unit:" + id, "handler" or "services"
}

type lookup struct {
	sv  *Service
	u   *Unit              // nil with NotFound: no handler team
	cal *worktime.Calendar // a unit's own calendar, parsed
	svs []*Service         // the catalogue (cached_services.go)
	at  time.Time
}

const (
	lookupTTL  = time.Second
	maxLookups = 1000
)

func (l *lookups) get(key string) (lookup, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	if !ok || time.Since(e.at) >= lookupTTL {
		return lookup{}, false
	}
	return e, true
}

func (l *lookups) put(key string, e lookup) {
	e.at = time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) >= maxLookups {
		l.m = map[string]lookup{}
	}
	l.m[key] = e
}

func (l *lookups) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.m)
}

// forget empties the lookups after a write and tells the other processes.
func (s *Store) forget() {
	s.lookups.clear()
	if s.Changed != nil {
		s.Changed()
	}
}

// ForgetLookups empties the cached lookups, so that the next read sees
// what another process wrote.
func (s *Store) ForgetLookups() { s.lookups.clear() }

// CheckSlug validates a slug: [a-z0-9-]+, at most 64 characters.
func CheckSlug(field, s string) error {
	if s == "" {
		return apperr.Field(field, "is required")
	}
	if len(s) > 64 {
		return apperr.Field(field, "is longer than 64 characters")
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return apperr.Field(field, "%q must match [a-z0-9-]+", s)
		}
	}
	return nil
}

// checkText validates a free text (a description) and returns it trimmed.
func checkText(field, s string, maxLen int) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case !utf8.ValidString(s):
		return "", apperr.Field(field, "is not valid UTF-8")
	case utf8.RuneCountInString(s) > maxLen:
		return "", apperr.Field(field, "is longer than %d characters", maxLen)
	case strings.ContainsRune(s, 0):
		return "", apperr.Field(field, "contains a NUL character")
	}
	return s, nil
}

func checkMode(field string, m Mode) (Mode, error) {
	switch m {
	case "":
		return Direct, nil
	case Direct, Redirect, External:
		return m, nil
	}
	return "", apperr.Field(field, "%q is not direct, redirect or external", m)
}

func (u *Unit) validate() error {
	var err error
	if err = CheckSlug("slug", u.Slug); err != nil {
		return err
	}
	if u.Name, err = user.CheckName(u.Name); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"email", &u.Email}, {"comment_email", &u.CommentEmail}} {
		if *f.v == "" {
			continue
		}
		e, err := user.NormalizeEmail(*f.v)
		if err != nil {
			return apperr.Field(f.name, "%q is not an email address", *f.v)
		}
		*f.v = e
	}
	if u.Email != "" && u.Email == u.CommentEmail {
		return apperr.Field("comment_email", "must differ from email")
	}
	if err = u.checkQoS(); err != nil {
		return err
	}
	u.Mode, err = checkMode("mode", u.Mode)
	return err
}

func conflictOn(err error, what string) error {
	if db.IsUniqueViolation(err) {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "is_handler") || strings.Contains(msg, "units_one_handler"):
			return apperr.New(apperr.Conflict, "another unit is the ticket handler team already")
		}
		return apperr.New(apperr.Conflict, "%s exists already", what)
	}
	return err
}

// CreateUnit adds a unit.
func (s *Store) CreateUnit(ctx context.Context, u Unit) (*Unit, error) {
	if err := s.validate(&u); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = s.now(), s.now()
	level, qos, calendar := u.qosColumns()
	err := s.db.Tx(ctx, func(q db.Querier) error {
		err := q.QueryRowContext(ctx, `INSERT INTO units (slug, name, email, comment_email, qos_level, mode, is_handler, created_at, updated_at, qos, calendar)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10) RETURNING id`,
			u.Slug, u.Name, u.Email, u.CommentEmail, level, string(u.Mode), u.Handler, u.CreatedAt, qos, calendar).Scan(&u.ID)
		if err != nil {
			return conflictOn(err, "a unit with slug "+u.Slug)
		}
		return setAddresses(ctx, q, &u)
	})
	s.forget()
	if err != nil {
		return nil, fmt.Errorf("unit: create: %w", err)
	}
	return &u, nil
}

// UpdateUnit stores changed fields of a unit (found by its id).
func (s *Store) UpdateUnit(ctx context.Context, u Unit) (*Unit, error) {
	if err := s.validate(&u); err != nil {
		return nil, err
	}
	u.UpdatedAt = s.now()
	level, qos, calendar := u.qosColumns()
	err := s.db.Tx(ctx, func(q db.Querier) error {
		res, err := q.ExecContext(ctx, `UPDATE units SET name = $1, email = $2, comment_email = $3, qos_level = $4, mode = $5, is_handler = $6, updated_at = $7,
			qos = $9, calendar = $10 WHERE id = $8`,
			u.Name, u.Email, u.CommentEmail, level, string(u.Mode), u.Handler, u.UpdatedAt, u.ID, qos, calendar)
		if err != nil {
			return conflictOn(err, "the unit")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.New(apperr.NotFound, "no such unit")
		}
		return setAddresses(ctx, q, &u)
	})
	s.forget()
	if err != nil {
		return nil, fmt.Errorf("unit: update: %w", err)
	}
	return &u, nil
}

// CheckChange is the one rule, for the API and the web pages alike, of who
// may change unit old into nu: administrators anything; the unit's own
// admins neither its mode nor its handler flag, which shape the whole
// catalogue, nor its mail addresses (an address decides which unit mail
// opens tickets in, and who may write internal notes by mail).
func CheckChange(p *auth.Principal, old, nu *Unit) error {
	if !p.CanManageUnit(old.ID) {
		return apperr.New(apperr.Forbidden, "only administrators and the unit's admins may change it")
	}
	if p.CanManageCatalogue() {
		return nil
	}
	if nu.Mode != old.Mode || nu.Handler != old.Handler {
		return apperr.New(apperr.Forbidden, "only administrators may change a unit's mode or handler flag")
	}
	same := func(a, b string) bool { return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b)) }
	if !same(old.Email, nu.Email) || !same(old.CommentEmail, nu.CommentEmail) {
		return apperr.New(apperr.Forbidden, "only administrators may change a unit's mail addresses")
	}
	return nil
}

// validate checks u, and that its addresses are none of the helpdesk's own.
func (s *Store) validate(u *Unit) error {
	if err := u.validate(); err != nil {
		return err
	}
	for _, f := range []struct{ name, addr string }{{"email", u.Email}, {"comment_email", u.CommentEmail}} {
		if f.addr != "" && s.Reserved != nil && s.Reserved(f.addr) {
			return apperr.Field(f.name, "%s is an address of the helpdesk itself", f.addr)
		}
	}
	return nil
}

// setAddresses records u's addresses in unit_addresses, whose primary key
// keeps each address to one unit: an address of another unit is a
// Conflict on its field.
func setAddresses(ctx context.Context, q db.Querier, u *Unit) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM unit_addresses WHERE unit_id = $1`, u.ID); err != nil {
		return fmt.Errorf("addresses: %w", err)
	}
	for _, a := range []struct{ field, kind, addr string }{{"email", "reply", u.Email}, {"comment_email", "comment", u.CommentEmail}} {
		if a.addr == "" {
			continue
		}
		_, err := q.ExecContext(ctx, `INSERT INTO unit_addresses (address, unit_id, kind) VALUES ($1, $2, $3)`, a.addr, u.ID, a.kind)
		if db.IsUniqueViolation(err) {
			return &apperr.Error{Kind: apperr.Conflict, Field: a.field, Message: a.addr + " is an address of another unit"}
		}
		if err != nil {
			return fmt.Errorf("addresses: %w", err)
		}
	}
	return nil
}

const unitCols = `id, slug, name, email, comment_email, qos_level, mode, is_handler, created_at, updated_at, qos, calendar`

func scanUnit(row interface{ Scan(...any) error }) (*Unit, error) { return scanUnitWith(row) }

// scanUnitWith scans the columns of unitCols, then extra ones into extra.
func scanUnitWith(row interface{ Scan(...any) error }, extra ...any) (*Unit, error) {
	u := &Unit{}
	var mode, qos, calendar string
	err := row.Scan(append([]any{&u.ID, &u.Slug, &u.Name, &u.Email, &u.CommentEmail, &u.QoSLevel, &mode, &u.Handler, &u.CreatedAt, &u.UpdatedAt,
		&qos, &calendar}, extra...)...)
	if err != nil {
		return nil, err
	}
	u.Mode = Mode(mode)
	return u, u.setQoSColumns(qos, calendar)
}

func (s *Store) oneUnit(ctx context.Context, where string, arg any) (*Unit, error) {
	u, err := scanUnit(s.db.Reader().QueryRowContext(ctx, `SELECT `+unitCols+` FROM units WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no such unit")
	}
	if err != nil {
		return nil, fmt.Errorf("unit: get: %w", err)
	}
	return u, nil
}

// Unit returns the unit with slug.
func (s *Store) Unit(ctx context.Context, slug string) (*Unit, error) {
	return s.oneUnit(ctx, `slug = $1`, slug)
}

// UnitByID returns the unit with id.
func (s *Store) UnitByID(ctx context.Context, id int64) (*Unit, error) {
	return s.oneUnit(ctx, `id = $1`, id)
}

// UnitByEmail returns the unit whose reply or comment address is addr, and
// whether addr is its comment address. An address that two units have (which
// unit_addresses prevents) is an error, never the first of them.
func (s *Store) UnitByEmail(ctx context.Context, addr string) (*Unit, bool, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT `+unitCols+` FROM units WHERE email = $1 OR comment_email = $1 LIMIT 2`, addr)
	if err != nil {
		return nil, false, fmt.Errorf("unit: by email: %w", err)
	}
	us, err := db.Collect(rows, scanUnit)
	switch {
	case err != nil:
		return nil, false, fmt.Errorf("unit: by email: %w", err)
	case len(us) == 0:
		return nil, false, apperr.New(apperr.NotFound, "no unit has the address %s", addr)
	case len(us) > 1:
		return nil, false, fmt.Errorf("unit: by email: units %s and %s both have the address %s", us[0].Slug, us[1].Slug, addr)
	}
	return us[0], us[0].CommentEmail == addr, nil
}

// Handler returns the ticket handler team, or a NotFound error if no unit is
// flagged as such. (Cached: see lookups.)
func (s *Store) Handler(ctx context.Context) (*Unit, error) {
	if e, ok := s.lookups.get("handler"); ok {
		if e.u == nil {
			return nil, apperr.New(apperr.NotFound, "no such unit")
		}
		u := *e.u
		return &u, nil
	}
	u, err := s.oneUnit(ctx, `is_handler = $1`, true)
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		return nil, err
	}
	var c *Unit
	if u != nil {
		cu := *u
		c = &cu
	}
	s.lookups.put("handler", lookup{u: c})
	return u, err
}

// Units lists every unit by slug.
func (s *Store) Units(ctx context.Context) ([]*Unit, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT `+unitCols+` FROM units ORDER BY slug`)
	if err != nil {
		return nil, fmt.Errorf("unit: list: %w", err)
	}
	us, err := db.Collect(rows, scanUnit)
	if err != nil {
		return nil, fmt.Errorf("unit: list: %w", err)
	}
	return us, nil
}

// validateService checks sv, and that its alarm address is none of the
// helpdesk's own.
func (s *Store) validateService(sv *Service) error {
	if err := sv.validate(); err != nil {
		return err
	}
	if sv.AlarmEmail != "" && s.Reserved != nil && s.Reserved(sv.AlarmEmail) {
		return apperr.Field("alarm_email", "%s is an address of the helpdesk itself", sv.AlarmEmail)
	}
	return nil
}

// checkAlarm normalises sv's alarm address and teams.
func (sv *Service) checkAlarm() error {
	if sv.AlarmEmail = strings.TrimSpace(sv.AlarmEmail); sv.AlarmEmail != "" {
		e, err := user.NormalizeEmail(sv.AlarmEmail)
		if err != nil {
			return apperr.Field("alarm_email", "%q is not an email address", sv.AlarmEmail)
		}
		sv.AlarmEmail = e
	}
	if len(sv.AlarmTeams) > MaxAlarmTeams {
		return apperr.Field("alarm_teams", "has more than %d teams", MaxAlarmTeams)
	}
	teams := make([]string, 0, len(sv.AlarmTeams))
	for _, t := range sv.AlarmTeams {
		if err := user.CheckTeamName("alarm_teams", t); err != nil {
			return err
		}
		if !slices.Contains(teams, t) {
			teams = append(teams, t)
		}
	}
	sv.AlarmTeams = teams
	return nil
}

// MayRaiseAlarm tells whether a member of team may raise an alarm for sv.
func (sv *Service) MayRaiseAlarm(team string) bool {
	return team != "" && slices.Contains(sv.AlarmTeams, team)
}

func (sv *Service) validate() error {
	var err error
	if err = sv.checkAlarm(); err != nil {
		return err
	}
	if err = CheckSlug("slug", sv.Slug); err != nil {
		return err
	}
	if sv.Name, err = user.CheckName(sv.Name); err != nil {
		return err
	}
	if sv.Description, err = checkText("description", sv.Description, 5000); err != nil {
		return err
	}
	if sv.Mode, err = checkMode("mode", sv.Mode); err != nil {
		return err
	}
	if sv.Connector != "" {
		if err = CheckSlug("connector", sv.Connector); err != nil {
			return err
		}
	}
	return nil
}

// CreateService adds a service of the catalogue; sv.UnitSlug names its unit.
func (s *Store) CreateService(ctx context.Context, sv Service) (*Service, error) {
	if err := s.validateService(&sv); err != nil {
		return nil, err
	}
	if err := CheckSlug("unit", sv.UnitSlug); err != nil {
		return nil, err
	}
	u, err := s.Unit(ctx, sv.UnitSlug)
	if apperr.Is(err, apperr.NotFound) {
		return nil, apperr.Field("unit", "no unit %q", sv.UnitSlug)
	}
	if err != nil {
		return nil, err
	}
	sv.UnitID = u.ID
	sv.CreatedAt, sv.UpdatedAt = s.now(), s.now()
	err = s.db.W.QueryRowContext(ctx, `INSERT INTO services (slug, name, description, unit_id, mode, alarm_email, alarm_teams, connector, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id`, sv.Slug, sv.Name, sv.Description, sv.UnitID, string(sv.Mode),
		sv.AlarmEmail, teamsJSON(sv.AlarmTeams), sv.Connector, sv.CreatedAt).Scan(&sv.ID)
	if err != nil {
		return nil, fmt.Errorf("unit: create service: %w", conflictOn(err, "a service with slug "+sv.Slug))
	}
	s.forget()
	return &sv, nil
}

// UpdateService stores changed fields of a service (found by its id).
func (s *Store) UpdateService(ctx context.Context, sv Service) (*Service, error) {
	if err := s.validateService(&sv); err != nil {
		return nil, err
	}
	u, err := s.Unit(ctx, sv.UnitSlug)
	if apperr.Is(err, apperr.NotFound) {
		return nil, apperr.Field("unit", "no unit %q", sv.UnitSlug)
	}
	if err != nil {
		return nil, err
	}
	sv.UnitID = u.ID
	sv.UpdatedAt = s.now()
	_, err = s.db.W.ExecContext(ctx, `UPDATE services SET name = $1, description = $2, unit_id = $3, mode = $4, alarm_email = $5, alarm_teams = $6, connector = $7, updated_at = $8 WHERE id = $9`,
		sv.Name, sv.Description, sv.UnitID, string(sv.Mode), sv.AlarmEmail, teamsJSON(sv.AlarmTeams), sv.Connector, sv.UpdatedAt, sv.ID)
	s.forget()
	if err != nil {
		return nil, fmt.Errorf("unit: update service: %w", err)
	}
	return &sv, nil
}

const serviceCols = `s.id, s.slug, s.name, s.description, s.unit_id, u.slug, s.mode, s.alarm_email, s.alarm_teams, s.connector, s.created_at, s.updated_at`

// teamsJSON stores a list of team names as a JSON array.
func teamsJSON(teams []string) string {
	if teams == nil {
		teams = []string{}
	}
	b, _ := json.Marshal(teams) // strings always marshal
	return string(b)
}

func scanService(row interface{ Scan(...any) error }) (*Service, error) {
	sv := &Service{}
	var mode, teams string
	err := row.Scan(&sv.ID, &sv.Slug, &sv.Name, &sv.Description, &sv.UnitID, &sv.UnitSlug, &mode, &sv.AlarmEmail, &teams, &sv.Connector, &sv.CreatedAt, &sv.UpdatedAt)
	if err != nil {
		return nil, err
	}
	sv.Mode = Mode(mode)
	if err := json.Unmarshal([]byte(teams), &sv.AlarmTeams); err != nil {
		return nil, fmt.Errorf("service %s: alarm_teams: %w", sv.Slug, err)
	}
	return sv, nil
}

// Service returns the service with slug. (Cached: see lookups.)
func (s *Store) Service(ctx context.Context, slug string) (*Service, error) {
	key := "service:" + slug
	if e, ok := s.lookups.get(key); ok {
		sv := *e.sv
		return &sv, nil
	}
	sv, err := s.service(ctx, slug)
	if err != nil {
		return nil, err
	}
	c := *sv
	s.lookups.put(key, lookup{sv: &c})
	return sv, nil
}

func (s *Store) service(ctx context.Context, slug string) (*Service, error) {
	sv, err := scanService(s.db.Reader().QueryRowContext(ctx, `SELECT `+serviceCols+` FROM services s JOIN units u ON u.id = s.unit_id WHERE s.slug = $1`, slug))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no such service")
	}
	if err != nil {
		return nil, fmt.Errorf("unit: get service: %w", err)
	}
	return sv, nil
}

// Services lists the catalogue by name.
func (s *Store) Services(ctx context.Context) ([]*Service, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT `+serviceCols+` FROM services s JOIN units u ON u.id = s.unit_id ORDER BY s.name, s.slug`)
	if err != nil {
		return nil, fmt.Errorf("unit: services: %w", err)
	}
	ss, err := db.Collect(rows, scanService)
	if err != nil {
		return nil, fmt.Errorf("unit: services: %w", err)
	}
	return ss, nil
}

// CachedUnit returns unit id as UnitByID does, from the lookups cache
// (what routing reads on every new ticket: its response clock).
func (s *Store) CachedUnit(ctx context.Context, id int64) (*Unit, error) {
	key := "unit:" + strconv.FormatInt(id, 10)
	if e, ok := s.lookups.get(key); ok && e.u != nil {
		u := *e.u
		return &u, nil
	}
	u, err := s.UnitByID(ctx, id)
	if err != nil {
		return nil, err
	}
	c := *u
	s.lookups.put(key, lookup{u: &c})
	return u, nil
}

// WorkCalendar returns the working-time calendar of unit id: its own, or
// def when it has none. Its own is parsed (the time zone read from the
// system's database) once per lookup of the cache, not at every call: the
// response clock asks for it at every ticket creation and move.
func (s *Store) WorkCalendar(ctx context.Context, id int64, def *worktime.Calendar) (*worktime.Calendar, error) {
	key := "calendar:" + strconv.FormatInt(id, 10)
	if e, ok := s.lookups.get(key); ok && e.cal != nil {
		return e.cal, nil
	}
	u, err := s.CachedUnit(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Calendar == nil {
		return def, nil
	}
	cal, err := u.WorkCalendar(def)
	if err != nil {
		return nil, err
	}
	s.lookups.put(key, lookup{cal: cal})
	return cal, nil
}
