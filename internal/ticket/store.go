package ticket

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/event"
)

// Event tells listeners what happened to a ticket. It is emitted inside the
// transaction that made the change, so a listener that enqueues a durable
// job loses nothing on a crash.
type Event struct {
	Kind      string // created, message, changed, reminder, escalated, alarm, qos_warning, qos_violated
	TicketID  int64
	MessageID int64 // for created and message
	Internal  bool  // the message is an internal note
	Changes   []Change
	// Reminder counts the reminders to the requester of a ticket waiting
	// for their reply, this one included (for reminder).
	Reminder int `json:",omitempty"`
	// Level and Reason are those of a user escalation (for escalated).
	Level   int    `json:",omitempty"`
	Reason  string `json:",omitempty"`
	ActorID int64
	Source  Source

	// Ticket and Message, when set, are the ticket as the change left it
	// and the message it added, for listeners in this process that would
	// otherwise read them back. They are not part of the event's JSON.
	Ticket  *Ticket  `json:"-"`
	Message *Message `json:"-"`
}

// Type is ev's type in the event stream (package event). A change that
// does several things is one event, named by what matters most to its
// followers: closing, solving, reopening, then a move to another unit or
// assignee; Changes lists everything it changed.
func (ev Event) Type() string {
	switch ev.Kind {
	case "created":
		return event.TicketCreated
	case "message":
		if ev.Internal {
			return event.TicketNote
		}
		return event.TicketMessage
	case "reminder":
		return event.TicketReminder
	case "escalated":
		return event.TicketEscalated
	case "alarm":
		return event.TicketAlarm
	case "qos_warning":
		return event.TicketQoSWarning
	case "qos_violated":
		return event.TicketQoSViolate
	}
	typ := event.TicketUpdated
	for _, c := range ev.Changes {
		switch {
		case c.Field == "status" && c.New == string(Closed):
			return event.TicketClosed
		case c.Field == "status" && (c.New == string(Solved) || c.New == string(Unsolved)):
			typ = event.TicketSolved
		case c.Field == "status" && c.New == string(Reopened) && typ != event.TicketSolved:
			typ = event.TicketReopened
		case (c.Field == "unit_id" || c.Field == "assignee_id") && typ == event.TicketUpdated:
			typ = event.TicketAssigned
		}
	}
	return typ
}

// Change is one field change.
type Change struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// Options configures a Store.
type Options struct {
	// Emit, when set, is called in the transaction of every change.
	Emit func(ctx context.Context, q db.Querier, ev Event) error
	// Now returns the current time; time.Now by default.
	Now func() time.Time
	// Log receives what goes wrong in the background (search indexing);
	// nothing by default.
	Log *slog.Logger
	// IndexDelay is how long a new message may wait to be indexed for
	// search when nobody searches (SQLite); indexDelay by default.
	IndexDelay time.Duration
	// OwnAddress tells whether addr is one of the helpdesk's own mail
	// addresses (a unit's reply or comment address, a reply-token address,
	// the helpdesk address): those never watch a ticket. Nil: none.
	OwnAddress func(ctx context.Context, addr string) (bool, error)
	// ResponseClock gives the deadlines of a unit's response clock; nil:
	// tickets have no response clock.
	ResponseClock ResponseClock
}

// Store reads and writes tickets. Methods that act for somebody take the
// acting Principal and check what it may do.
type Store struct {
	db    *db.DB
	r     db.Querier // the read pool, with prepared statements
	opts  Options
	cache *readCache // tickets read by Get, on SQLite
	index *indexer   // the search index, on SQLite
}

// NewStore returns a Store on d.
func NewStore(d *db.DB, opts Options) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.IndexDelay <= 0 {
		opts.IndexDelay = indexDelay
	}
	s := &Store{db: d, r: d.Reader(), opts: opts, cache: newReadCache(readCacheSize)}
	if d.Engine == db.SQLite {
		s.index = &indexer{db: d, r: s.r, log: opts.Log, delay: opts.IndexDelay}
		s.index.kick() // what an earlier run left unindexed
	}
	return s
}

// Close indexes for search what is not yet; the Store writes nothing in
// the background after it. The database stays open.
func (s *Store) Close(ctx context.Context) error {
	if s.index == nil {
		return nil
	}
	return s.index.close(ctx)
}

func (s *Store) now() time.Time { return s.opts.Now().UTC() }

// args numbers SQL arguments as they are added.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// visible returns an SQL condition on tickets t that is true for the tickets
// p may see; it is auth.Principal.CanSeeTicket in SQL. The unary pluses
// (and the concatenation with an empty string on text, which PostgreSQL
// accepts too) keep SQLite from answering the OR through its indexes
// (collecting and sorting every visible ticket): staff see many tickets,
// and a page of the newest is found sooner by walking tickets newest first.
// People who see few tickets are served by visibleIDs.
func visible(p *auth.Principal, a *args) string {
	if p.SeesAll() {
		return "1=1"
	}
	u := a.add(p.UserID)
	conds := []string{"+t.requester_id = " + u,
		"+t.id IN (SELECT w.ticket_id FROM ticket_watchers w WHERE w.user_id = " + u + ")"}
	if ids := p.UnitIDs(); len(ids) > 0 {
		conds = append(conds, "+t.unit_id IN ("+joinIDs(ids)+")")
	}
	if p.Team != "" {
		conds = append(conds, "(t.kind <> 'user' AND t.team || '' = "+a.add(p.Team)+")")
	}
	if ids := p.TicketIDs(); len(ids) > 0 {
		conds = append(conds, "+t.id IN ("+joinIDs(ids)+")")
	}
	return "(" + strings.Join(conds, " OR ") + ")"
}

func joinIDs(ids []int64) string {
	b := make([]string, len(ids))
	for i, id := range ids {
		b[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(b, ",")
}

const ticketCols = `t.id, t.subject, t.status, t.priority, t.type, t.kind,
	COALESCE(t.service_id, 0), COALESCE(s.slug, ''), COALESCE(t.unit_id, 0), COALESCE(un.slug, ''),
	r.id, r.email, r.name, t.team, a.id, a.email, a.name, t.source, t.created_at, t.updated_at, t.public_updated_at, t.solved_at, t.escalation_level,
	t.original_priority, t.qos_started_at, t.qos_due_at, t.qos_warn_at, t.qos_met_at, t.qos_told`

const ticketFrom = ` FROM tickets t
	JOIN users r ON r.id = t.requester_id
	LEFT JOIN users a ON a.id = t.assignee_id
	LEFT JOIN services s ON s.id = t.service_id
	LEFT JOIN units un ON un.id = t.unit_id`

// scanTicket scans the columns of ticketCols, then extra ones into extra.
func scanTicket(row interface{ Scan(...any) error }, extra ...any) (*Ticket, error) {
	t := &Ticket{}
	var aID sql.NullInt64
	var aEmail, aName sql.NullString
	var status, prio, orig, typ, kind, source string
	var started, due, warn sql.Null[time.Time]
	err := row.Scan(append([]any{&t.ID, &t.Subject, &status, &prio, &typ, &kind, &t.ServiceID, &t.Service, &t.UnitID, &t.Unit,
		&t.Requester.ID, &t.Requester.Email, &t.Requester.Name, &t.Team, &aID, &aEmail, &aName, &source,
		&t.CreatedAt, &t.UpdatedAt, &t.PublicUpdatedAt, &t.SolvedAt, &t.EscalationLevel,
		&orig, &started, &due, &warn, &t.QoS.MetAt, &t.QoS.Told}, extra...)...)
	if err != nil {
		return nil, err
	}
	t.Status, t.Priority, t.Type, t.Kind, t.Source = Status(status), Priority(prio), Type(typ), Kind(kind), Source(source)
	t.OriginalPriority = Priority(orig)
	t.QoS.StartedAt, t.QoS.DueAt, t.QoS.WarnAt = started.V, due.V, warn.V
	if aID.Valid {
		t.Assignee = &Person{ID: aID.Int64, Email: aEmail.String, Name: aName.String}
	}
	return t, nil
}

// Facts returns what decides who sees t.
func (t *Ticket) Facts() auth.TicketFacts {
	return auth.TicketFacts{ID: t.ID, Status: string(t.Status), RequesterID: t.Requester.ID, UnitID: t.UnitID, Kind: string(t.Kind),
		Team: t.Team, Watcher: t.Watching}
}

// For returns t as p may see it: to someone who does not see its internal
// notes, it last changed when it last changed publicly (a copy; t itself
// may be shared by a cache).
func (t *Ticket) For(p *auth.Principal) *Ticket {
	if t.UpdatedAt.Equal(t.PublicUpdatedAt) || p.CanSeeInternal(t.Facts()) {
		return t
	}
	c := *t
	c.UpdatedAt = t.PublicUpdatedAt
	return &c
}

// load reads a ticket without any check.
func (s *Store) load(ctx context.Context, q db.Querier, id, watcherID int64) (*Ticket, error) {
	t, err := scanTicket(q.QueryRowContext(ctx, `SELECT `+ticketCols+ticketFrom+` WHERE t.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no ticket %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("ticket: load %d: %w", id, err)
	}
	if watcherID != 0 {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM ticket_watchers WHERE ticket_id = $1 AND user_id = $2`, id, watcherID).Scan(&n); err != nil {
			return nil, fmt.Errorf("ticket: load %d: %w", id, err)
		}
		t.Watching = n > 0
	}
	return t, nil
}

// Get returns ticket id if p may see it; otherwise NotFound, so that the
// existence of other people's tickets is not revealed.
func (s *Store) Get(ctx context.Context, p *auth.Principal, id int64) (*Ticket, error) {
	return seenBy(p)(s.cache.load(ctx, s, id, p.UserID))
}

// GetTx is Get inside the caller's transaction q: the ticket as q sees it,
// the transaction's own writes included.
func (s *Store) GetTx(ctx context.Context, q db.Querier, p *auth.Principal, id int64) (*Ticket, error) {
	return s.get(ctx, q, p, id)
}

func (s *Store) get(ctx context.Context, q db.Querier, p *auth.Principal, id int64) (*Ticket, error) {
	return seenBy(p)(s.loadFull(ctx, q, id, p.UserID))
}

// seenBy passes on a loaded ticket that p may see, and turns one p may
// not see into NotFound.
func seenBy(p *auth.Principal) func(t *Ticket, err error) (*Ticket, error) {
	return func(t *Ticket, err error) (*Ticket, error) {
		if err != nil {
			return nil, err
		}
		if !p.CanSeeTicket(t.Facts()) {
			return nil, apperr.New(apperr.NotFound, "no ticket %d", t.ID)
		}
		return t.For(p), nil
	}
}

// loadFullSQL reads a ticket, its watchers' addresses and the user ids of
// those with an account, in one statement, per engine.
var loadFullSQL = map[db.Engine]string{
	db.SQLite: `SELECT ` + ticketCols + `,
	(SELECT json_group_array(w.email ORDER BY w.email) FROM ticket_watchers w WHERE w.ticket_id = t.id),
	(SELECT json_group_array(w.user_id) FROM ticket_watchers w WHERE w.ticket_id = t.id AND w.user_id IS NOT NULL)` +
		ticketFrom + ` WHERE t.id = $1`,
	db.Postgres: `SELECT ` + ticketCols + `,
	COALESCE((SELECT json_agg(w.email ORDER BY w.email) FROM ticket_watchers w WHERE w.ticket_id = t.id), '[]'),
	COALESCE((SELECT json_agg(w.user_id) FROM ticket_watchers w WHERE w.ticket_id = t.id AND w.user_id IS NOT NULL), '[]')` +
		ticketFrom + ` WHERE t.id = $1`,
}

// loadFull is load (with the Watching flag for watcherID) and watchers
// together, in one statement.
func (s *Store) loadFull(ctx context.Context, q db.Querier, id, watcherID int64) (*Ticket, error) {
	t, watcherIDs, err := s.loadWatched(ctx, q, id)
	if err != nil {
		return nil, err
	}
	t.Watching = watcherID != 0 && slices.Contains(watcherIDs, watcherID)
	return t, nil
}

// loadWatched reads a ticket with its watchers, and returns the user ids of
// the watchers who have an account.
func (s *Store) loadWatched(ctx context.Context, q db.Querier, id int64) (*Ticket, []int64, error) {
	var list, ids string
	t, err := scanTicket(q.QueryRowContext(ctx, loadFullSQL[s.db.Engine], id), &list, &ids)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, apperr.New(apperr.NotFound, "no ticket %d", id)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ticket: load %d: %w", id, err)
	}
	if list == "[]" || list == "" {
		return t, nil, nil
	}
	var watcherIDs []int64
	if err := json.Unmarshal([]byte(list), &t.WatcherList); err != nil {
		return nil, nil, fmt.Errorf("ticket: watchers: %w", err)
	}
	if err := json.Unmarshal([]byte(ids), &watcherIDs); err != nil {
		return nil, nil, fmt.Errorf("ticket: watchers: %w", err)
	}
	return t, watcherIDs, nil
}

// Unit is what ticket routing needs to know of a unit or service.
type Unit struct {
	ID      int64
	Handler bool
}

// NewTicket is what opening a ticket takes.
type NewTicket struct {
	Subject   string
	Body      string
	BodyHTML  string
	ServiceID int64 // 0: none chosen
	UnitID    int64 // 0: none chosen (the service's unit, else the handler team)
	HandlerID int64 // the ticket handler team, which gets tickets with no unit
	// AlarmTeams are the service's teams whose members may raise an alarm.
	AlarmTeams []string
	Type       Type
	Priority   Priority
	Kind       Kind
	Source     Source
	// RequesterID is the requester when someone else opens the ticket for
	// them (the mail gateway); 0 means the acting principal.
	RequesterID int64
	// Author of the first message when it differs from the requester's
	// account (mail from an address without an account).
	MailID      string
	Watchers    []string
	Attachments []NewAttachment
	// At is when the ticket was opened, for an importer copying another
	// system's history; zero (and for anyone else): now.
	At time.Time
}

// NewAttachment is a stored blob to attach to a message.
type NewAttachment struct {
	Filename    string
	ContentType string
	Size        int64
	SHA256      string
}

// Create opens a ticket with its first message and history in one
// transaction. A ticket with a service or unit starts assigned; one without
// goes to the ticket handler team and starts new.
func (s *Store) Create(ctx context.Context, p *auth.Principal, nt NewTicket) (*Ticket, error) {
	nt, err := s.checkNew(ctx, p, nt)
	if err != nil {
		return nil, err
	}
	var t *Ticket
	if s.db.Engine == db.Postgres {
		t, err = s.createPostgres(ctx, p, nt)
	} else {
		err = s.db.Tx(ctx, func(q db.Querier) error {
			t, err = s.insertTicket(ctx, q, p, nt, s.at(p, nt.At))
			return err
		})
	}
	if err != nil {
		return nil, createError(err, nt)
	}
	// Once, by the process whose transaction created it (web, API, mail
	// gateway, import, a peer): an operator's line, not a follower of the
	// event stream, which would cost every creation a batch read and a
	// position write.
	s.opts.Log.LogAttrs(ctx, slog.LevelInfo, "ticket created", slog.Int64("ticket", t.ID), slog.String("unit", t.Unit),
		slog.Int64("unit_id", t.UnitID), slog.String("service", t.Service), slog.Int64("service_id", t.ServiceID), slog.String("source", string(nt.Source)))
	if len(nt.Watchers) > 0 {
		// Watchers are normalised and deduplicated by the database: read
		// them back (on the read pool: the single SQLite writer is the
		// scarce resource).
		return s.loadFull(ctx, s.r, t.ID, 0)
	}
	return t, nil
}

// CreateMany opens several tickets in one transaction, for bulk loads (the
// load command's seeding): either all of them are created or none. It
// returns their ids in order.
func (s *Store) CreateMany(ctx context.Context, p *auth.Principal, nts []NewTicket) ([]int64, error) {
	for i := range nts {
		var err error
		if nts[i], err = s.checkNew(ctx, p, nts[i]); err != nil {
			return nil, fmt.Errorf("ticket %d of %d: %w", i+1, len(nts), err)
		}
	}
	ids := make([]int64, 0, len(nts))
	err := s.db.Tx(ctx, func(q db.Querier) error {
		now := s.now()
		for _, nt := range nts {
			t, err := s.insertTicket(ctx, q, p, nt, now)
			if err != nil {
				return createError(err, nt)
			}
			ids = append(ids, t.ID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ticket: create many: %w", err)
	}
	return ids, nil
}

// checkNew validates nt, fills in the defaults and checks that p may open it.
func (s *Store) checkNew(ctx context.Context, p *auth.Principal, nt NewTicket) (NewTicket, error) {
	subject, err := CheckSubject(nt.Subject)
	if err != nil {
		return nt, err
	}
	nt.Subject = subject
	if err := CheckBody(nt.Body); err != nil {
		return nt, err
	}
	if nt.Type == "" {
		nt.Type = Incident
	}
	if nt.Priority == "" {
		nt.Priority = LessUrgent
	}
	if nt.Kind == "" {
		nt.Kind = KindUser
	}
	if nt.Source == "" {
		nt.Source = FromAPI
	}
	if err := checkEnum("type", nt.Type, Types); err != nil {
		return nt, err
	}
	if err := checkEnum("priority", nt.Priority, Priorities); err != nil {
		return nt, err
	}
	if err := checkEnum("kind", nt.Kind, Kinds); err != nil {
		return nt, err
	}
	if err := checkEnum("source", nt.Source, Sources); err != nil {
		return nt, err
	}
	if p.ReadOnly {
		return nt, apperr.New(apperr.Forbidden, "this credential is read-only")
	}
	if nt.RequesterID == 0 {
		nt.RequesterID = p.UserID
	}
	switch {
	case nt.RequesterID == 0:
		return nt, apperr.Field("requester", "is required")
	case !p.CanOpenFor(nt.RequesterID):
		if p.IsPerson() {
			return nt, apperr.New(apperr.Forbidden, "only an administrator may open tickets for someone else")
		}
		return nt, apperr.New(apperr.Forbidden, "%s may not open tickets", p.Label())
	}
	if err := checkKind(p, nt); err != nil {
		return nt, err
	}
	if len(nt.Watchers) > MaxWatchers {
		return nt, watcherLimit()
	}
	for i, w := range nt.Watchers {
		if nt.Watchers[i], err = s.checkWatcher(ctx, w); err != nil {
			return nt, err
		}
	}
	return nt, nil
}

// checkKind tells whether p may open a ticket of nt's kind. An alarm is
// raised by the members of one of its service's alarm teams (administrators
// may too, as a break-glass); a team ticket needs a requester with a team
// (an administrator opening one for someone else answers for it).
func checkKind(p *auth.Principal, nt NewTicket) error {
	switch nt.Kind {
	case KindAlarm:
		if !p.IsAdmin() && (p.Team == "" || !slices.Contains(nt.AlarmTeams, p.Team)) {
			return apperr.New(apperr.Forbidden, "only members of one of the service's alarm_teams may raise an alarm")
		}
	case KindTeam:
		if nt.RequesterID == p.UserID && p.Team == "" {
			return apperr.New(apperr.Forbidden, "a team ticket needs a team, and you belong to none")
		}
	}
	return nil
}

// createError turns a failed creation into the error the caller sees.
func createError(err error, nt NewTicket) error {
	if db.IsForeignKeyViolation(err) {
		return apperr.New(apperr.Invalid, "the service or unit does not exist")
	}
	if db.IsUniqueViolation(err) && nt.MailID != "" {
		return apperr.New(apperr.Conflict, "mail %s was processed already", nt.MailID)
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return err
	}
	return fmt.Errorf("ticket: create: %w", err)
}

// insertTicket writes a checked ticket, its first message, its history and
// its search index rows in transaction q, and returns the ticket as a read
// would (without watchers), so that nobody has to read it back.
func (s *Store) insertTicket(ctx context.Context, q db.Querier, p *auth.Principal, nt NewTicket, now time.Time) (*Ticket, error) {
	// PostgreSQL keeps microseconds: the ticket returned equals the one read.
	now = now.Truncate(time.Microsecond)
	if s.db.Engine == db.Postgres {
		return s.insertTicketPG(ctx, q, p, nt, now)
	}
	t, err := s.newTicket(ctx, nt, now)
	if err != nil {
		return nil, err
	}
	// The requester (also the author of the first message) and the slugs
	// of the service and unit: one look-up.
	if err := q.QueryRowContext(ctx, `SELECT team, email, name,
		COALESCE((SELECT slug FROM services WHERE id = $2), ''), COALESCE((SELECT slug FROM units WHERE id = $3), '')
		FROM users WHERE id = $1`, nt.RequesterID, t.ServiceID, t.UnitID).Scan(&t.Team, &t.Requester.Email, &t.Requester.Name, &t.Service, &t.Unit); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, apperr.Field("requester", "no such user")
		}
		return nil, fmt.Errorf("requester: %w", err)
	}
	c := t.QoS
	t.ID, err = s.db.InsertID(ctx, q, `INSERT INTO tickets (subject, status, priority, type, kind, service_id, unit_id, requester_id, team, source, created_at, updated_at, public_updated_at, alarm_paged_at,
		original_priority, qos_started_at, qos_due_at, qos_warn_at, qos_next_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $11, $12, $3, $13, $14, $15, $15)`,
		t.Subject, string(t.Status), string(t.Priority), string(t.Type), string(t.Kind), nullID(t.ServiceID), nullID(t.UnitID),
		t.Requester.ID, t.Team, string(t.Source), now, alarmPagedAt(t.Kind, now), nullTime(c.StartedAt), nullTime(c.DueAt), nullTime(c.WarnAt))
	if err != nil {
		return nil, fmt.Errorf("insert ticket: %w", err)
	}
	if err := s.history(ctx, q, t.ID, p, now, "created", "", "", string(t.Status), nt.Source); err != nil {
		return nil, err
	}
	mid, err := s.insertMessageBy(ctx, q, t.ID, nt.RequesterID, t.Requester.Email, t.Requester.Name, false, nt.Source, nt.Body, nt.BodyHTML, nt.MailID, nt.Attachments, now)
	if err != nil {
		return nil, err
	}
	return t, s.createRest(ctx, q, p, nt, t, mid, now)
}

// newTicket returns the ticket nt makes at now, with its unit's response
// clock started, as yet without its id and what is looked up in the
// database (requester, team, slugs).
func (s *Store) newTicket(ctx context.Context, nt NewTicket, now time.Time) (*Ticket, error) {
	t := &Ticket{Subject: nt.Subject, Status: Assigned, Priority: nt.Priority, OriginalPriority: nt.Priority, Type: nt.Type, Kind: nt.Kind,
		ServiceID: nt.ServiceID, UnitID: nt.UnitID, Source: nt.Source, CreatedAt: now, UpdatedAt: now, PublicUpdatedAt: now}
	if t.UnitID == 0 {
		t.UnitID = nt.HandlerID
		t.Status = New
	}
	t.Requester.ID = nt.RequesterID
	var err error
	t.QoS, err = s.startClock(ctx, t.UnitID, t.Priority, now)
	return t, err
}

// createRest writes what follows a new ticket t and its first message mid
// in its transaction q: on PostgreSQL the attachments (SQLite's
// insertMessageBy wrote them), the watchers, and the Emit hook's writes.
func (s *Store) createRest(ctx context.Context, q db.Querier, p *auth.Principal, nt NewTicket, t *Ticket, mid int64, now time.Time) error {
	if s.db.Engine == db.Postgres {
		if err := insertAttachments(ctx, q, t.ID, mid, nt.Attachments, now); err != nil {
			return err
		}
	}
	for _, w := range nt.Watchers {
		if _, err := s.addWatcher(ctx, q, t.ID, w, now); err != nil {
			return err
		}
	}
	ev := Event{Kind: "created", TicketID: t.ID, MessageID: mid, ActorID: p.UserID, Source: nt.Source}
	// The ticket as created (a copy: the caller gets t) and its first
	// message; t lacks the watchers, which are read back after the commit.
	if len(nt.Watchers) == 0 {
		snap := *t
		ev.Ticket = &snap
		ev.Message = &Message{ID: mid, TicketID: t.ID, Author: Person{ID: nt.RequesterID, Email: t.Requester.Email, Name: t.Requester.Name},
			Source: nt.Source, Body: nt.Body, BodyHTML: nt.BodyHTML, MailID: nt.MailID, CreatedAt: now}
	}
	return s.emit(ctx, q, ev)
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func (s *Store) emit(ctx context.Context, q db.Querier, ev Event) error {
	if s.opts.Emit == nil {
		return nil
	}
	return s.opts.Emit(ctx, q, ev)
}

func (s *Store) history(ctx context.Context, q db.Querier, ticketID int64, p *auth.Principal, at time.Time, action, field, old, new string, src Source) error {
	_, err := q.ExecContext(ctx, `INSERT INTO history (ticket_id, at, actor_id, actor, action, field, old, new, source, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, ticketID, at, nullID(p.UserID), p.Label(), action, field, old, new, string(src), p.Reason)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

func (s *Store) insertMessage(ctx context.Context, q db.Querier, ticketID, authorID int64, internal bool, src Source, body, bodyHTML, mailID string, atts []NewAttachment, now time.Time) (int64, error) {
	var email, name string
	if authorID != 0 {
		if err := q.QueryRowContext(ctx, `SELECT email, name FROM users WHERE id = $1`, authorID).Scan(&email, &name); err != nil {
			return 0, fmt.Errorf("message author: %w", err)
		}
	}
	mid, err := s.insertMessageBy(ctx, q, ticketID, authorID, email, name, internal, src, body, bodyHTML, mailID, atts, now)
	if err != nil {
		return 0, err
	}
	return mid, nil
}

// insertMessageBy stores a message by an author whose email and name the
// caller looked up, with its attachments. On SQLite the indexer indexes it
// for search (with the subject, for a ticket's first message) shortly
// after.
func (s *Store) insertMessageBy(ctx context.Context, q db.Querier, ticketID, authorID int64, email, name string, internal bool, src Source, body, bodyHTML, mailID string, atts []NewAttachment, now time.Time) (int64, error) {
	var mail any
	if mailID != "" {
		mail = mailID
	}
	mid, err := s.db.InsertID(ctx, q, `INSERT INTO messages (ticket_id, author_id, author_email, author_name, internal, source, body, body_html, mail_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		ticketID, nullID(authorID), email, name, internal, string(src), body, bodyHTML, mail, now)
	if err != nil {
		return 0, fmt.Errorf("insert message: %w", err)
	}
	s.index.kick()
	return mid, insertAttachments(ctx, q, ticketID, mid, atts, now)
}

// insertAttachments stores the attachments of message mid, their names
// made safe whoever brought them (SafeFilename).
func insertAttachments(ctx context.Context, q db.Querier, ticketID, mid int64, atts []NewAttachment, now time.Time) error {
	for _, a := range atts {
		if _, err := q.ExecContext(ctx, `INSERT INTO attachments (message_id, ticket_id, filename, content_type, size, sha256, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, mid, ticketID, SafeFilename(a.Filename, "attachment"), a.ContentType, a.Size, a.SHA256, now); err != nil {
			return fmt.Errorf("insert attachment: %w", err)
		}
	}
	return nil
}

// NewMessage is what adding to a ticket's thread takes.
type NewMessage struct {
	Body        string
	BodyHTML    string
	Internal    bool
	Source      Source
	MailID      string
	Attachments []NewAttachment
	// At is when the message was written, for an importer copying
	// another system's history; zero (and for anyone else): now.
	At time.Time
}

// at is when a write by p happens: now, or when the history that an
// importer copies happened.
func (s *Store) at(p *auth.Principal, when time.Time) time.Time {
	if p.Actor == auth.ActorImporter && !when.IsZero() {
		return when
	}
	return s.now()
}

// AddMessage adds a public reply or an internal note. Anyone who sees the
// ticket may reply; only its staff may add internal notes. A public reply
// from the requester to a ticket waiting for their reply moves it back to
// in_progress. Frozen tickets take no more messages.
func (s *Store) AddMessage(ctx context.Context, p *auth.Principal, ticketID int64, nm NewMessage) (*Message, error) {
	var mid int64
	err := s.db.Tx(ctx, func(q db.Querier) (err error) {
		mid, err = s.AddMessageTx(ctx, q, p, ticketID, nm)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.message(ctx, s.r, mid)
}

// touch marks ticket id changed by a message at now, in status: an
// internal note moves only updated_at (what staff see), anything else
// public_updated_at too (what the requester sees).
func touch(ctx context.Context, q db.Querier, id int64, status Status, internal bool, now time.Time) error {
	set := "updated_at = $2, public_updated_at = $2"
	if internal {
		set = "updated_at = $2"
	}
	if _, err := q.ExecContext(ctx, `UPDATE tickets SET status = $1, `+set+` WHERE id = $3`, string(status), now, id); err != nil {
		return fmt.Errorf("touch ticket: %w", err)
	}
	return nil
}

const messageCols = `m.id, m.ticket_id, COALESCE(m.author_id, 0), m.author_email, m.author_name, m.internal, m.source, m.body, m.body_html, COALESCE(m.mail_id, ''), m.created_at`

func scanMessage(row interface{ Scan(...any) error }) (*Message, error) {
	m := &Message{}
	var src string
	err := row.Scan(&m.ID, &m.TicketID, &m.Author.ID, &m.Author.Email, &m.Author.Name, &m.Internal, &src, &m.Body, &m.BodyHTML, &m.MailID, &m.CreatedAt)
	m.Source = Source(src)
	return m, err
}

func (s *Store) message(ctx context.Context, q db.Querier, id int64) (*Message, error) {
	m, err := scanMessage(q.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages m WHERE m.id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("ticket: message %d: %w", id, err)
	}
	atts, err := s.attachments(ctx, q, `message_id = $1`, id)
	m.Attachments = atts
	return m, err
}

func (s *Store) attachments(ctx context.Context, q db.Querier, where string, arg any) ([]Attachment, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, message_id, ticket_id, filename, content_type, size, sha256, created_at FROM attachments WHERE `+where+` ORDER BY id`, arg)
	if err != nil {
		return nil, fmt.Errorf("ticket: attachments: %w", err)
	}
	defer rows.Close()
	var as []Attachment
	for rows.Next() {
		var a Attachment
		if err := rows.Scan(&a.ID, &a.MessageID, &a.TicketID, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.CreatedAt); err != nil {
			return nil, fmt.Errorf("ticket: attachments: %w", err)
		}
		as = append(as, a)
	}
	return as, rows.Err()
}

// Messages returns the thread of a ticket p may see, oldest first, without
// internal notes unless p works the ticket.
func (s *Store) Messages(ctx context.Context, p *auth.Principal, ticketID int64) ([]*Message, error) {
	t, err := s.Get(ctx, p, ticketID)
	if err != nil {
		return nil, err
	}
	where := `m.ticket_id = $1`
	if !p.CanSeeInternal(t.Facts()) {
		where += ` AND NOT m.internal`
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+messageCols+` FROM messages m WHERE `+where+` ORDER BY m.id`, ticketID)
	if err != nil {
		return nil, fmt.Errorf("ticket: messages: %w", err)
	}
	defer rows.Close()
	var ms []*Message
	byID := map[int64]*Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("ticket: messages: %w", err)
		}
		ms = append(ms, m)
		byID[m.ID] = m
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	atts, err := s.attachments(ctx, s.r, `ticket_id = $1`, ticketID)
	if err != nil {
		return nil, err
	}
	for _, a := range atts {
		if m := byID[a.MessageID]; m != nil {
			m.Attachments = append(m.Attachments, a)
		}
	}
	return ms, nil
}

// Attachment returns an attachment if p may see the message it belongs to.
func (s *Store) Attachment(ctx context.Context, p *auth.Principal, id int64) (*Attachment, error) {
	as, err := s.attachments(ctx, s.r, `id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, apperr.New(apperr.NotFound, "no such attachment")
	}
	a := as[0]
	t, err := s.Get(ctx, p, a.TicketID)
	if err != nil {
		return nil, apperr.New(apperr.NotFound, "no such attachment")
	}
	var internal bool
	if err := s.r.QueryRowContext(ctx, `SELECT internal FROM messages WHERE id = $1`, a.MessageID).Scan(&internal); err != nil {
		return nil, fmt.Errorf("ticket: attachment: %w", err)
	}
	if internal && !p.CanSeeInternal(t.Facts()) {
		return nil, apperr.New(apperr.NotFound, "no such attachment")
	}
	return &a, nil
}

// History returns a ticket's history, oldest first; entries about internal
// notes are left out for people who may not see them.
func (s *Store) History(ctx context.Context, p *auth.Principal, ticketID int64) ([]HistoryEntry, error) {
	t, err := s.Get(ctx, p, ticketID)
	if err != nil {
		return nil, err
	}
	where := `ticket_id = $1`
	if !p.CanSeeInternal(t.Facts()) {
		where += ` AND action NOT IN ('noted', 'qos_warning', 'qos_violated')` // what only staff are told
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, at, COALESCE(actor_id, 0), actor, action, field, old, new, source, reason FROM history WHERE `+where+` ORDER BY id`, ticketID)
	if err != nil {
		return nil, fmt.Errorf("ticket: history: %w", err)
	}
	defer rows.Close()
	var hs []HistoryEntry
	for rows.Next() {
		var h HistoryEntry
		var src string
		if err := rows.Scan(&h.ID, &h.At, &h.ActorID, &h.Actor, &h.Action, &h.Field, &h.Old, &h.New, &src, &h.Reason); err != nil {
			return nil, fmt.Errorf("ticket: history: %w", err)
		}
		h.Source = Source(src)
		hs = append(hs, h)
	}
	return hs, rows.Err()
}

// ReferencedBlobs answers which of the blob sums some attachment names, for
// blob.Dir.Sweep. It reads the read pool without its statement cache (the
// lists differ every time): every attachment committed before it starts is
// seen, and Sweep's grace period covers the rest.
func (s *Store) ReferencedBlobs(ctx context.Context, sums []string) (map[string]bool, error) {
	used := make(map[string]bool)
	const batch = 500
	for len(sums) > 0 {
		n := min(len(sums), batch)
		var a args
		marks := make([]string, n)
		for i, sum := range sums[:n] {
			marks[i] = a.add(sum)
		}
		found, err := db.Column[string](s.db.R.QueryContext(ctx, `SELECT DISTINCT sha256 FROM attachments WHERE sha256 IN (`+strings.Join(marks, ",")+`)`, a...))
		if err != nil {
			return nil, fmt.Errorf("ticket: referenced blobs: %w", err)
		}
		for _, f := range found {
			used[f] = true
		}
		sums = sums[n:]
	}
	return used, nil
}
