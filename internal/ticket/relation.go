package ticket

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
)

// Relation kinds (GGUS, research/operations.md §F). master_of/slave_of and
// parent_of/child_of are each other's inverse and related is symmetric:
// such a relation is one row, seen from both tickets. duplicate_of and
// follow_up_of are seen from their own ticket only.
const (
	KindRelated    = "related"
	KindDuplicate  = "duplicate_of"
	KindParentOf   = "parent_of"
	KindChildOf    = "child_of"
	KindMasterOf   = "master_of"
	KindSlaveOf    = "slave_of"
	KindFollowUpOf = "follow_up_of"
)

// RelationKinds are the kinds of ticket relation.
var RelationKinds = []string{KindRelated, KindDuplicate, KindParentOf, KindChildOf, KindMasterOf, KindSlaveOf, KindFollowUpOf}

// Relation links two tickets, as seen from TicketID.
type Relation struct {
	ID       int64
	TicketID int64
	OtherID  int64
	// Kind as seen from TicketID: a master_of row is slave_of from its slave.
	Kind      string
	CreatedAt time.Time
	// OtherSubject and OtherStatus describe the other ticket, for lists.
	OtherSubject string
	OtherStatus  Status
}

// Propagation happens in the transaction of the change that causes it
// (UpdateTx, AddMessageTx, Relate, Unrelate) rather than in a follower of
// the event stream: the propagated writes are ticket writes with their
// own history and events, which a follower would have to make exactly once
// across crashes and nodes with a position of its own, while the
// transaction gives that for free and lets the caller see the slaves
// solved when the master's PATCH answers. The chains are short by rule (a
// slave is never a master; a ticket has one parent and no cycle), so the
// extra work in one transaction is bounded by the number of slaves.

// inverseKind is kind seen from the other ticket; "" for the kinds seen
// from their own ticket only.
func inverseKind(kind string) string {
	switch kind {
	case KindMasterOf:
		return KindSlaveOf
	case KindSlaveOf:
		return KindMasterOf
	case KindParentOf:
		return KindChildOf
	case KindChildOf:
		return KindParentOf
	case KindRelated:
		return KindRelated
	}
	return ""
}

// storedAs is the row that keeps relation kind from id to other: from the
// master's and the parent's side, related with the lower id first.
func storedAs(id, other int64, kind string) (from, to int64, k string) {
	switch {
	case kind == KindSlaveOf:
		return other, id, KindMasterOf
	case kind == KindChildOf:
		return other, id, KindParentOf
	case kind == KindRelated && id > other:
		return other, id, KindRelated
	}
	return id, other, kind
}

// relationRow is one stored row of ticket_relations.
type relationRow struct {
	ID           int64
	From, To     int64
	Kind         string
	SinceMessage int64
	CreatedAt    time.Time
}

// Relate links ticket id to other by the GGUS rules, with the staff rights
// of both tickets (a person who opened id by mail as the follow-up of
// other needs none: auth's CanRelate):
//   - master_of/slave_of: a slave has one master, a slave is never a
//     master and a master never a slave (no chains, hence no cycles); both
//     must be open; the slave is put on_hold and gets the master's later
//     public updates, and is solved with it;
//   - parent_of/child_of: a child has one parent and never becomes its
//     own ancestor; the parent is open, and is put on_hold while a child
//     is open;
//   - two tickets have at most one of these and related.
func (s *Store) Relate(ctx context.Context, p *auth.Principal, id, other int64, kind string, src Source) (*Relation, error) {
	if !slices.Contains(RelationKinds, kind) {
		return nil, apperr.Field("kind", "%q is not one of %s", kind, strings.Join(RelationKinds, ", "))
	}
	if id == other {
		return nil, apperr.Field("other", "a ticket cannot relate to itself")
	}
	r := &Relation{TicketID: id, OtherID: other, Kind: kind}
	err := s.db.Tx(ctx, func(q db.Querier) error {
		t, o, err := s.relationPair(ctx, q, p, id, other, kind)
		if err != nil {
			return err
		}
		r.OtherSubject, r.CreatedAt = o.Subject, s.now()
		from, to, k := storedAs(id, other, kind)
		if err := s.checkRelation(ctx, q, from, to, k, t, o); err != nil {
			return err
		}
		var since int64
		if k == KindMasterOf {
			if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM messages WHERE ticket_id = $1`, from).Scan(&since); err != nil {
				return fmt.Errorf("master's last message: %w", err)
			}
		}
		r.ID, err = s.db.InsertID(ctx, q, `INSERT INTO ticket_relations (ticket_id, other_id, kind, created_at, since_message) VALUES ($1, $2, $3, $4, $5)`,
			from, to, k, r.CreatedAt, since)
		if db.IsUniqueViolation(err) {
			return apperr.New(apperr.Conflict, "ticket %d is already %s ticket %d", id, kind, other)
		}
		if err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		if err := s.relationHistory(ctx, q, p, "related", id, other, kind, r.CreatedAt, src); err != nil {
			return err
		}
		switch k {
		case KindMasterOf:
			if err := s.propagateStatus(ctx, q, to, OnHold, fmt.Sprintf("on hold as the slave of master #%d", from)); err != nil {
				return err
			}
		case KindParentOf:
			if child := pick(from == id, o, t); child.Status.Open() {
				if err := s.propagateStatus(ctx, q, from, OnHold, fmt.Sprintf("on hold while its child #%d is open", to)); err != nil {
					return err
				}
			}
		}
		r.OtherStatus, err = s.status(ctx, q, other)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ticket: relate: %w", err)
	}
	return r, nil
}

// pick is a if cond, else b.
func pick[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}

// relationPair loads the two tickets of a relation p makes or ends (locked
// on PostgreSQL, lower id first, so that two concurrent relations of the
// same tickets check each other's rows), and checks p's rights: the staff
// of both, or for follow_up_of what CanRelate allows.
func (s *Store) relationPair(ctx context.Context, q db.Querier, p *auth.Principal, id, other int64, kind string) (*Ticket, *Ticket, error) {
	t, err := s.get(ctx, q, p, id)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case p.ReadOnly:
		return nil, nil, apperr.New(apperr.Forbidden, "this credential is read-only")
	case !p.CanRelate(t.Facts(), kind):
		return nil, nil, apperr.New(apperr.Forbidden, "only support staff may relate tickets")
	}
	o, err := s.get(ctx, q, p, other)
	if apperr.Is(err, apperr.NotFound) {
		return nil, nil, apperr.Field("other", "no ticket %d", other)
	}
	if err != nil {
		return nil, nil, err
	}
	if kind != KindFollowUpOf && !p.CanWorkTicket(o.Facts()) {
		return nil, nil, apperr.New(apperr.Forbidden, "relating needs the staff rights of both tickets; you do not work ticket %d", other)
	}
	if s.db.Engine == db.Postgres {
		if _, err := q.ExecContext(ctx, `SELECT id FROM tickets WHERE id IN ($1, $2) ORDER BY id FOR UPDATE`, id, other); err != nil {
			return nil, nil, fmt.Errorf("lock tickets: %w", err)
		}
	}
	return t, o, nil
}

// checkRelation checks the GGUS rules for a new row from -> to of kind k
// (storedAs); t and o are the tickets as the caller named them.
func (s *Store) checkRelation(ctx context.Context, q db.Querier, from, to int64, k string, t, o *Ticket) error {
	if k != KindMasterOf && k != KindParentOf && k != KindRelated {
		return nil
	}
	lo, hi := min(from, to), max(from, to)
	var existing string
	err := q.QueryRowContext(ctx, `SELECT kind FROM ticket_relations WHERE kind IN ('master_of', 'parent_of', 'related')
		AND ((ticket_id = $1 AND other_id = $2) OR (ticket_id = $2 AND other_id = $1))`, lo, hi).Scan(&existing)
	switch {
	case err == nil:
		return apperr.New(apperr.Conflict, "tickets %d and %d are related already (%s); unlink them first", lo, hi, existing)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("check relation: %w", err)
	}
	byID := func(id int64) *Ticket { return pick(id == t.ID, t, o) }
	switch k {
	case KindMasterOf:
		for _, c := range []struct {
			query, msg string
			arg        int64
		}{
			{`SELECT ticket_id FROM ticket_relations WHERE kind = 'master_of' AND other_id = $1`, "ticket %d is the slave of #%d: a slave cannot be a master", from},
			{`SELECT other_id FROM ticket_relations WHERE kind = 'master_of' AND ticket_id = $1`, "ticket %d is the master of #%d: a master cannot be a slave", to},
			{`SELECT ticket_id FROM ticket_relations WHERE kind = 'master_of' AND other_id = $1`, "ticket %d is already the slave of #%d", to},
		} {
			if n, err := firstID(ctx, q, c.query, c.arg); err != nil || n != 0 {
				return cmpErr(err, apperr.New(apperr.Conflict, c.msg, c.arg, n))
			}
		}
		for _, x := range []*Ticket{byID(from), byID(to)} {
			if !x.Status.Open() {
				return apperr.New(apperr.Conflict, "ticket %d is %s: only open tickets become master and slave", x.ID, x.Status)
			}
		}
	case KindParentOf:
		if n, err := firstID(ctx, q, `SELECT ticket_id FROM ticket_relations WHERE kind = 'parent_of' AND other_id = $1`, to); err != nil || n != 0 {
			return cmpErr(err, apperr.New(apperr.Conflict, "ticket %d is already the child of #%d", to, n))
		}
		// Walk up from the parent: the child must not be its ancestor.
		for up, depth := from, 0; up != 0; depth++ {
			if up == to || depth > 1000 {
				return apperr.New(apperr.Conflict, "ticket %d is an ancestor of #%d: parent_of would make a cycle", to, from)
			}
			var err error
			if up, err = firstID(ctx, q, `SELECT ticket_id FROM ticket_relations WHERE kind = 'parent_of' AND other_id = $1`, up); err != nil {
				return err
			}
		}
		if x := byID(from); !x.Status.Open() {
			return apperr.New(apperr.Conflict, "ticket %d is %s: only an open ticket becomes a parent", x.ID, x.Status)
		}
	}
	return nil
}

// cmpErr is err when there is one, else refusal.
func cmpErr(err, refusal error) error {
	if err != nil {
		return err
	}
	return refusal
}

// firstID answers query (one id argument) with the first id of its
// first row (the least, unless the query orders otherwise), 0 for none.
func firstID(ctx context.Context, q db.Querier, query string, arg int64) (int64, error) {
	var id int64
	if !strings.Contains(query, "ORDER BY") {
		query += ` ORDER BY 1`
	}
	err := q.QueryRowContext(ctx, query+` LIMIT 1`, arg).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("relations: %w", err)
	}
	return id, nil
}

func (s *Store) status(ctx context.Context, q db.Querier, id int64) (Status, error) {
	var st string
	if err := q.QueryRowContext(ctx, `SELECT status FROM tickets WHERE id = $1`, id).Scan(&st); err != nil {
		return "", fmt.Errorf("status of %d: %w", id, err)
	}
	return Status(st), nil
}

// relationHistory writes action (related, unrelated) on both tickets, each
// with the kind as it sees it (the kinds seen from one side only: on id).
func (s *Store) relationHistory(ctx context.Context, q db.Querier, p *auth.Principal, action string, id, other int64, kind string, at time.Time, src Source) error {
	type side struct {
		ticket, other int64
		kind          string
	}
	sides := []side{{id, other, kind}}
	if inv := inverseKind(kind); inv != "" {
		sides = append(sides, side{other, id, inv})
	}
	for _, sd := range sides {
		ref := strconv.FormatInt(sd.other, 10)
		var c Change // the relation as the feed tells it: "master_of 12"
		old, nw := "", ref
		if action == "unrelated" {
			old, nw = ref, ""
			c.Old = sd.kind + " " + ref
		} else {
			c.New = sd.kind + " " + ref
		}
		c.Field = "relations"
		if err := s.history(ctx, q, sd.ticket, p, at, action, sd.kind, old, nw, src); err != nil {
			return err
		}
		if err := s.emit(ctx, q, Event{Kind: "changed", TicketID: sd.ticket, Changes: []Change{c}, ActorID: p.UserID, Source: src}); err != nil {
			return err
		}
	}
	return nil
}

// Unrelate ends relation rid of ticket id, with the staff rights of both
// tickets. Unlinking ends what the relation caused, as GGUS's "unmarking
// the master resets the slaves": a slave on hold goes back to in_progress,
// and so does a parent on hold that has no open child left. A solved slave
// or child stays solved.
func (s *Store) Unrelate(ctx context.Context, p *auth.Principal, id, rid int64, src Source) error {
	err := s.db.Tx(ctx, func(q db.Querier) error {
		var row relationRow
		err := q.QueryRowContext(ctx, `SELECT id, ticket_id, other_id, kind FROM ticket_relations WHERE id = $1 AND (ticket_id = $2 OR (other_id = $2 AND kind IN ('master_of', 'parent_of', 'related')))`,
			rid, id).Scan(&row.ID, &row.From, &row.To, &row.Kind)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := s.get(ctx, q, p, id); err != nil {
				return err
			}
			return apperr.New(apperr.NotFound, "ticket %d has no relation %d", id, rid)
		}
		if err != nil {
			return fmt.Errorf("read relation: %w", err)
		}
		other, kind := row.To, row.Kind
		if row.From != id {
			other, kind = row.From, inverseKind(row.Kind)
		}
		if _, _, err := s.relationPair(ctx, q, p, id, other, kind); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM ticket_relations WHERE id = $1`, row.ID); err != nil {
			return fmt.Errorf("delete relation: %w", err)
		}
		if err := s.relationHistory(ctx, q, p, "unrelated", id, other, kind, s.now(), src); err != nil {
			return err
		}
		switch row.Kind {
		case KindMasterOf:
			return s.releaseHold(ctx, q, row.To, fmt.Sprintf("released from its master #%d", row.From))
		case KindParentOf:
			return s.releaseParent(ctx, q, row.From, fmt.Sprintf("no open child left once #%d was unlinked", row.To))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ticket: unrelate: %w", err)
	}
	return nil
}

// Relations lists the relations of a ticket p may see, to tickets p may
// see, each as seen from that ticket.
func (s *Store) Relations(ctx context.Context, p *auth.Principal, id int64) ([]Relation, error) {
	if _, err := s.Get(ctx, p, id); err != nil {
		return nil, err
	}
	var a args
	a.add(id)
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT r.id, r.ticket_id, r.other_id, r.kind, r.created_at, t.subject, t.status FROM ticket_relations r
		JOIN tickets t ON t.id = CASE WHEN r.ticket_id = $1 THEN r.other_id ELSE r.ticket_id END
		WHERE (r.ticket_id = $1 OR (r.other_id = $1 AND r.kind IN ('master_of', 'parent_of', 'related'))) AND `+visible(p, &a)+` ORDER BY r.id`, a...)
	if err != nil {
		return nil, fmt.Errorf("ticket: relations: %w", err)
	}
	defer rows.Close()
	var rs []Relation
	for rows.Next() {
		var r Relation
		var from, to int64
		var st string
		if err := rows.Scan(&r.ID, &from, &to, &r.Kind, &r.CreatedAt, &r.OtherSubject, &st); err != nil {
			return nil, fmt.Errorf("ticket: relations: %w", err)
		}
		r.TicketID, r.OtherID, r.OtherStatus = id, to, Status(st)
		if from != id {
			r.OtherID, r.Kind = from, inverseKind(r.Kind)
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}

// propagateStatus moves ticket id to status to, written by the relation
// actor for reason, when the workflow allows it from where it is (a
// frozen, or already moved, ticket is left alone).
func (s *Store) propagateStatus(ctx context.Context, q db.Querier, id int64, to Status, reason string) error {
	t, err := s.load(ctx, q, id, 0)
	if err != nil {
		return err
	}
	if t.Status == to || !CanMove(t.Status, to) {
		return nil
	}
	return s.apply(ctx, q, auth.Relation(reason), t, []Change{{Field: "status", Old: string(t.Status), New: string(to)}}, FromSystem)
}

// releaseHold moves ticket id from on_hold back to in_progress.
func (s *Store) releaseHold(ctx context.Context, q db.Querier, id int64, reason string) error {
	st, err := s.status(ctx, q, id)
	if err != nil || st != OnHold {
		return err
	}
	return s.propagateStatus(ctx, q, id, InProgress, reason)
}

// releaseParent moves parent back to in_progress from on_hold when none of
// its children is open.
func (s *Store) releaseParent(ctx context.Context, q db.Querier, parent int64, reason string) error {
	var open int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM ticket_relations r JOIN tickets c ON c.id = r.other_id
		WHERE r.ticket_id = $1 AND r.kind = 'parent_of' AND c.status NOT IN ('solved', 'unsolved', 'verified', 'closed')`, parent).Scan(&open); err != nil {
		return fmt.Errorf("open children of %d: %w", parent, err)
	}
	if open > 0 {
		return nil
	}
	return s.releaseHold(ctx, q, parent, reason)
}

// afterStatus propagates what a change of t's status causes: a master
// solved (or unsolved) takes its open slaves with it, with its solution;
// a child that stops being open has its solution noted in its parent,
// which goes back to in_progress when it was the last open child, and on
// hold again when a child is reopened (a solved parent stays solved).
func (s *Store) afterStatus(ctx context.Context, q db.Querier, t *Ticket, changes []Change) error {
	i := slices.IndexFunc(changes, func(c Change) bool { return c.Field == "status" })
	if i < 0 {
		return nil
	}
	from, to := Status(changes[i].Old), Status(changes[i].New)
	if !from.Open() && to.Open() {
		// A child reopened: its parent waits again.
		parents, err := s.relationRows(ctx, q, `other_id = $1 AND kind = 'parent_of'`, t.ID)
		if err != nil {
			return err
		}
		for _, r := range parents {
			if err := s.propagateStatus(ctx, q, r.From, OnHold, fmt.Sprintf("on hold while its child #%d is open again", t.ID)); err != nil {
				return err
			}
		}
		return nil
	}
	if !from.Open() || to.Open() {
		return nil
	}
	slaves, err := s.relationRows(ctx, q, `ticket_id = $1 AND kind = 'master_of'`, t.ID)
	if err != nil {
		return err
	}
	for _, r := range slaves {
		if err := s.solveSlave(ctx, q, t, r, to); err != nil {
			return err
		}
	}
	parents, err := s.relationRows(ctx, q, `other_id = $1 AND kind = 'parent_of'`, t.ID)
	if err != nil {
		return err
	}
	for _, r := range parents {
		if err := s.childDone(ctx, q, t, r.From, to); err != nil {
			return err
		}
	}
	return nil
}

// solveSlave solves (or unsolves) the slave of relation r with its master
// m: the master's solution (its last public message not by its requester)
// is posted on the slave unless it was copied there already, then the
// slave moves to status to; its requester is told by the ticket events.
func (s *Store) solveSlave(ctx context.Context, q db.Querier, m *Ticket, r relationRow, to Status) error {
	st, err := s.status(ctx, q, r.To)
	if err != nil || !st.Open() {
		return err
	}
	reason := fmt.Sprintf("%s with its master #%d", to, m.ID)
	mid, err := s.solution(ctx, q, m)
	if err != nil {
		return err
	}
	if mid > r.SinceMessage {
		mid = 0 // copied when it was written
	}
	if mid != 0 {
		if err := s.copyMessage(ctx, q, mid, r.To, fmt.Sprintf("Solved with its master ticket #%d:", m.ID), false, reason); err != nil {
			return err
		}
	}
	return s.propagateStatus(ctx, q, r.To, to, reason)
}

// childDone notes in parent that child c stopped being open (its status
// to, with its solution), as an internal note for the parent's staff, and
// moves the parent back to in_progress when no child is open any more.
func (s *Store) childDone(ctx context.Context, q db.Querier, c *Ticket, parent int64, to Status) error {
	if st, err := s.status(ctx, q, parent); err != nil || st.Frozen() {
		return err
	}
	mid, err := s.solution(ctx, q, c)
	if err != nil {
		return err
	}
	head := fmt.Sprintf("Child ticket #%d (%s) is %s.", c.ID, c.Subject, to)
	reason := fmt.Sprintf("its child #%d is %s", c.ID, to)
	if mid != 0 {
		err = s.copyMessage(ctx, q, mid, parent, head+" Its solution:", true, reason)
	} else {
		err = s.addRelationMessage(ctx, q, parent, head, true, reason, Person{}, nil)
	}
	if err != nil {
		return err
	}
	return s.releaseParent(ctx, q, parent, fmt.Sprintf("its last open child #%d is %s", c.ID, to))
}

// solution is the id of t's last public message not written by its
// requester (the answer of its staff, or of a peer), 0 for none.
func (s *Store) solution(ctx context.Context, q db.Querier, t *Ticket) (int64, error) {
	return firstID(ctx, q, `SELECT id FROM messages WHERE ticket_id = $1 AND NOT internal AND COALESCE(author_id, 0) <> `+
		strconv.FormatInt(t.Requester.ID, 10)+` ORDER BY id DESC`, t.ID)
}

// afterMessage copies a public update of master t (message mid, written by
// p) to its open slaves. Only the master's staff's updates (people
// working it, its peers, its unit's list) are updates: what its requester
// or watchers write stays on the master.
func (s *Store) afterMessage(ctx context.Context, q db.Querier, p *auth.Principal, t *Ticket, mid int64, internal bool) error {
	f := t.Facts()
	if internal || !(p.CanNote(f) || p.IsUnitList()) {
		return nil
	}
	slaves, err := s.relationRows(ctx, q, `ticket_id = $1 AND kind = 'master_of'`, t.ID)
	if err != nil {
		return err
	}
	for _, r := range slaves {
		st, err := s.status(ctx, q, r.To)
		if err != nil {
			return err
		}
		if !st.Open() {
			continue
		}
		if err := s.copyMessage(ctx, q, mid, r.To, fmt.Sprintf("Update from master ticket #%d:", t.ID), false, fmt.Sprintf("public update of its master #%d", t.ID)); err != nil {
			return err
		}
	}
	return nil
}

// copyMessage copies message mid (its text after head, its attachments)
// to ticket to, by its author, written by the relation actor for reason.
func (s *Store) copyMessage(ctx context.Context, q db.Querier, mid, to int64, head string, internal bool, reason string) error {
	var author Person
	var body string
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(author_id, 0), author_email, author_name, body FROM messages WHERE id = $1`, mid).
		Scan(&author.ID, &author.Email, &author.Name, &body); err != nil {
		return fmt.Errorf("read message %d: %w", mid, err)
	}
	as, err := s.attachments(ctx, q, "message_id = $1", mid)
	if err != nil {
		return err
	}
	atts := make([]NewAttachment, len(as))
	for i, a := range as {
		atts[i] = NewAttachment{Filename: a.Filename, ContentType: a.ContentType, Size: a.Size, SHA256: a.SHA256}
	}
	return s.addRelationMessage(ctx, q, to, head+"\n\n"+body, internal, reason, author, atts)
}

// addRelationMessage adds a message to ticket id by author (none: the
// relation itself), written by the relation actor for reason, and tells
// of it as any message is told.
func (s *Store) addRelationMessage(ctx context.Context, q db.Querier, id int64, body string, internal bool, reason string, author Person, atts []NewAttachment) error {
	t, err := s.load(ctx, q, id, 0)
	if err != nil {
		return err
	}
	if t.Status.Frozen() {
		return nil
	}
	if author.ID == 0 && author.Email == "" {
		author.Name = "helpmesh relation"
	}
	now := s.now()
	mid, err := s.insertMessageBy(ctx, q, id, author.ID, author.Email, author.Name, internal, FromSystem, body, "", "", atts, now)
	if err != nil {
		return err
	}
	p := auth.Relation(reason)
	if err := s.history(ctx, q, id, p, now, pick(internal, "noted", "replied"), "", "", strconv.FormatInt(mid, 10), FromSystem); err != nil {
		return err
	}
	if err := touch(ctx, q, id, t.Status, internal, now); err != nil {
		return err
	}
	return s.emit(ctx, q, Event{Kind: "message", TicketID: id, MessageID: mid, Internal: internal, Source: FromSystem})
}

// relationRows reads the rows of ticket_relations matching where (one
// ticket id argument), oldest first.
func (s *Store) relationRows(ctx context.Context, q db.Querier, where string, id int64) ([]relationRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, ticket_id, other_id, kind, since_message, created_at FROM ticket_relations WHERE `+where+` ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("relations of %d: %w", id, err)
	}
	defer rows.Close()
	var rs []relationRow
	for rows.Next() {
		var r relationRow
		if err := rows.Scan(&r.ID, &r.From, &r.To, &r.Kind, &r.SinceMessage, &r.CreatedAt); err != nil {
			return nil, fmt.Errorf("relations of %d: %w", id, err)
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}
