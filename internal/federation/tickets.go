package federation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/tmf621"
)

// CharUnit names the unit that gets a ticket a peer opens.
const CharUnit = "helpmesh.unit"

// MaxKey bounds an Idempotency-Key or a note's origin.
const MaxKey = 300

// Create opens the trouble ticket tt as peer, in the unit its
// helpmesh.unit characteristic names, and links it to peer. Its
// requester here is the peer's account, so that helpmesh mails nobody
// but the peer about it (one mailer: the peer tells its requester); the
// requester as the peer names them is kept with the link and shown in
// relatedParty. With an Idempotency-Key, a create that was done
// already returns the ticket it opened (created false). files are the
// description's, decoded and typed by the caller (fedapi).
func (s *Store) Create(ctx context.Context, peer *auth.Principal, tt *tmf621.TroubleTicket, key string, files []File) (*tmf621.TroubleTicket, bool, error) {
	if len(key) > MaxKey {
		return nil, false, apperr.Field("Idempotency-Key", "is longer than %d bytes", MaxKey)
	}
	if err := tt.Validate(true); err != nil {
		return nil, false, Invalid(err)
	}
	if id, ok, err := s.byKey(ctx, peer.UserID, key); err != nil || ok {
		if err != nil {
			return nil, false, err
		}
		t, err := s.Get(ctx, s.relink(peer, id), id)
		return t, false, err
	}
	nt := ticket.NewTicket{Subject: tt.Name, Body: tt.Description, Source: ticket.FromPeer}
	var err error
	if nt.Attachments, err = s.storeFiles(ctx, files); err != nil {
		return nil, false, err
	}
	if nt.Priority, err = priorityOf(tt.Priority); err != nil {
		return nil, false, err
	}
	if typ := tt.Char(tmf621.CharTicketType); typ != "" {
		if !slices.Contains(ticket.Types, ticket.Type(typ)) {
			return nil, false, apperr.Field(tmf621.CharTicketType, "%q is not a ticket type", typ)
		}
		nt.Type = ticket.Type(typ)
	}
	if slug := tt.Char(CharUnit); slug != "" {
		u, err := s.opts.Units.Unit(ctx, slug)
		if apperr.Is(err, apperr.NotFound) {
			return nil, false, apperr.Field(CharUnit, "no unit %q", slug)
		}
		if err != nil {
			return nil, false, err
		}
		nt.UnitID = u.ID
	}
	req, _ := tt.Requester()
	external := ""
	if len(tt.ExternalIdentifier) > 0 {
		external = tt.ExternalIdentifier[0].ID
	}
	var id int64
	err = s.db.Tx(ctx, func(q db.Querier) error {
		nt.RequesterID = peer.UserID
		var err error
		if id, err = s.opts.Tickets.CreateTx(ctx, q, peer, nt); err != nil {
			return err
		}
		var k any
		if key != "" {
			k = key
		}
		_, err = q.ExecContext(ctx, `INSERT INTO federation_tickets (ticket_id, peer_id, external_id, idempotency_key, requester_email, requester_name, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, peer.UserID, external, k, req.Email, req.Name, s.now())
		return err
	})
	if db.IsUniqueViolation(err) && key != "" {
		// Another request with the same key won the race.
		if id, ok, err := s.byKey(ctx, peer.UserID, key); err == nil && ok {
			t, err := s.Get(ctx, s.relink(peer, id), id)
			return t, false, err
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("federation: create: %w", err)
	}
	t, err := s.Get(ctx, s.relink(peer, id), id)
	return t, true, err
}

// relink returns peer linked to ticket id too.
func (s *Store) relink(peer *auth.Principal, id int64) *auth.Principal {
	if linked(peer, id) {
		return peer
	}
	p := auth.Peer(peer.Name, append(peer.TicketIDs(), id)...)
	p.UserID, p.Email, p.ReadOnly = peer.UserID, peer.Email, peer.ReadOnly
	return p
}

func (s *Store) byKey(ctx context.Context, peerID int64, key string) (int64, bool, error) {
	if key == "" {
		return 0, false, nil
	}
	var id int64
	err := s.db.Reader().QueryRowContext(ctx, `SELECT ticket_id FROM federation_tickets WHERE peer_id = $1 AND idempotency_key = $2`, peerID, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("federation: idempotency key: %w", err)
	}
	return id, true, nil
}

func priorityOf(s string) (ticket.Priority, error) {
	if s == "" {
		return "", nil
	}
	if !slices.Contains(ticket.Priorities, ticket.Priority(s)) {
		return "", apperr.Field("priority", "%q is not a priority (less_urgent, urgent, very_urgent, top_priority)", s)
	}
	return ticket.Priority(s), nil
}

// ParseID reads a trouble ticket id.
func ParseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.Field("id", "%q is not a trouble ticket id", s)
	}
	return id, nil
}

// checkLinked answers NotFound for a ticket that peer did not open.
func checkLinked(peer *auth.Principal, id int64) error {
	if !linked(peer, id) {
		return apperr.New(apperr.NotFound, "no trouble ticket %d", id)
	}
	return nil
}

// Get returns ticket id as a trouble ticket with its notes.
func (s *Store) Get(ctx context.Context, peer *auth.Principal, id int64) (*tmf621.TroubleTicket, error) {
	if err := checkLinked(peer, id); err != nil {
		return nil, err
	}
	t, err := s.opts.Tickets.Get(ctx, peer, id)
	if err != nil {
		return nil, err
	}
	ms, err := s.opts.Tickets.Messages(ctx, peer, id)
	if err != nil {
		return nil, err
	}
	var req tmf621.Party
	var external string
	err = s.db.Reader().QueryRowContext(ctx, `SELECT requester_email, requester_name, external_id FROM federation_tickets WHERE ticket_id = $1`, id).
		Scan(&req.Email, &req.Name, &external)
	if err != nil {
		return nil, fmt.Errorf("federation: get: %w", err)
	}
	req.Role = "requester"
	tt := s.troubleTicket(t, ms, req)
	if external != "" {
		tt.ExternalIdentifier = []tmf621.ExternalIdentifier{{ID: external, Owner: peer.Name}}
	}
	return tt, nil
}

func (s *Store) troubleTicket(t *ticket.Ticket, ms []*ticket.Message, req tmf621.Party) *tmf621.TroubleTicket {
	sid := strconv.FormatInt(t.ID, 10)
	created, updated := t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	tt := &tmf621.TroubleTicket{
		ID: sid, Type: "TroubleTicket", Href: strings.TrimRight(s.opts.BaseURL, "/") + "/tickets/" + sid,
		Name: t.Subject, Priority: string(t.Priority), Severity: string(t.Priority), Status: tmf621.ToCoarse(string(t.Status)),
		CreationDate: &created, LastUpdate: &updated,
		RelatedParty: []tmf621.Party{req},
		Note:         []tmf621.Note{},
	}
	tt.SetChar(tmf621.CharStatus, string(t.Status))
	tt.SetChar(tmf621.CharTicketType, string(t.Type))
	tt.SetChar(tmf621.CharKind, string(t.Kind))
	if t.Unit != "" {
		tt.SetChar(CharUnit, t.Unit)
	}
	for i, m := range ms {
		if i == 0 {
			tt.Description = m.Body
			continue
		}
		tt.Note = append(tt.Note, noteOf(m))
	}
	return tt
}

func noteOf(m *ticket.Message) tmf621.Note {
	at := m.CreatedAt.UTC()
	n := tmf621.Note{ID: strconv.FormatInt(m.ID, 10), Type: tmf621.NoteType, Text: m.Body, Visibility: tmf621.Public, Date: &at,
		Author: &tmf621.Party{Name: m.Author.Name, Email: m.Author.Email}}
	if m.Internal {
		n.Visibility = tmf621.Internal
	}
	return n
}

// AddNote appends a public reply or an internal note to ticket id, with
// the files of its attachments (decoded and typed by the caller). A note
// with an origin the peer sent before is stored once: the first one is
// returned (created false).
func (s *Store) AddNote(ctx context.Context, peer *auth.Principal, id int64, n *tmf621.Note, files []File) (*tmf621.Note, bool, error) {
	if err := checkLinked(peer, id); err != nil {
		return nil, false, err
	}
	if err := n.Validate(); err != nil {
		return nil, false, Invalid(err)
	}
	if len(n.Origin) > MaxKey {
		return nil, false, apperr.Field("origin", "is longer than %d bytes", MaxKey)
	}
	atts, err := s.storeFiles(ctx, files)
	if err != nil {
		return nil, false, err
	}
	var mid int64
	created := true
	err = s.db.Tx(ctx, func(q db.Querier) error {
		if n.Origin != "" {
			err := q.QueryRowContext(ctx, `SELECT message_id FROM federation_notes WHERE peer_id = $1 AND origin = $2`, peer.UserID, n.Origin).Scan(&mid)
			if err == nil {
				created = false
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		var err error
		mid, err = s.opts.Tickets.AddMessageTx(ctx, q, peer, id, ticket.NewMessage{Body: n.Text, Internal: n.Internal(), Source: ticket.FromPeer, Attachments: atts})
		if err != nil || n.Origin == "" {
			return err
		}
		_, err = q.ExecContext(ctx, `INSERT INTO federation_notes (peer_id, origin, message_id) VALUES ($1, $2, $3)`, peer.UserID, n.Origin, mid)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("federation: note: %w", err)
	}
	m, err := s.opts.Tickets.Message(ctx, mid)
	if err != nil {
		return nil, false, err
	}
	out := noteOf(m)
	out.Origin = n.Origin
	if out.Attachment, err = s.noteFiles(ctx, m, false); err != nil {
		return nil, false, err
	}
	return &out, created, nil
}

// Patch changes the status of ticket id (the helpmesh.status
// characteristic, else the coarse status) as the workflow and the peer's
// rights allow. A field already at the value asked is left alone, so
// that a repeated patch changes nothing; another priority is a Conflict:
// the working side (this helpmesh) owns it.
func (s *Store) Patch(ctx context.Context, peer *auth.Principal, id int64, tt *tmf621.TroubleTicket) (*tmf621.TroubleTicket, error) {
	if err := checkLinked(peer, id); err != nil {
		return nil, err
	}
	if err := tt.Validate(false); err != nil {
		return nil, Invalid(err)
	}
	t, err := s.opts.Tickets.Get(ctx, peer, id)
	if err != nil {
		return nil, err
	}
	u := ticket.Update{Source: ticket.FromPeer}
	if st := tt.FineStatus(); st != "" && st != string(t.Status) {
		if !slices.Contains(ticket.Statuses, ticket.Status(st)) {
			return nil, apperr.Field(tmf621.CharStatus, "%q is not a status", st)
		}
		v := ticket.Status(st)
		u.Status = &v
	} else if tt.Char(tmf621.CharStatus) == "" && tt.Status != "" && tmf621.FromCoarse(tt.Status) == "" {
		return nil, apperr.Field("status", "%q is not a status", tt.Status)
	}
	pr, err := priorityOf(tt.Priority)
	if err != nil {
		return nil, err
	}
	if pr != "" && pr != t.Priority {
		// research/federation.md §5 rule 7: the working side owns the
		// priority; the engine turns this refusal into a note.
		return nil, apperr.New(apperr.Conflict, "the priority of ticket %d is set by its support unit here, the working side; send a note instead", id)
	}
	if u.Status != nil {
		if _, err := s.opts.Tickets.Update(ctx, peer, id, u); err != nil {
			return nil, err
		}
	}
	return s.Get(ctx, peer, id)
}
