// Package importer copies the tickets of another ticketing system into
// helpmesh (`helpmesh import`): a support team that moves to helpmesh
// brings its history, with messages, internal notes, attachments,
// requesters, statuses and dates. It owns the tables imported_tickets and
// imported_changes, which remember what was copied: running an import
// again copies only what is new. Each ticket is copied in one
// transaction with its record, so an import stopped half-way leaves no
// half-copied ticket and goes on where it stopped when run again.
//
// What it copies tells nobody (source "import": package notify leaves it
// out): requesters were answered in the other system long ago.
package importer

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/blob"
	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/user"
)

// Deps are what an import writes through.
type Deps struct {
	DB      *db.DB
	Tickets *ticket.Store
	Users   *user.Store
	Blobs   blob.Store
	// MaxUpload is the largest attachment copied; larger ones are left
	// out with a warning.
	MaxUpload int64
	Now       func() time.Time
}

// Run says what one import copies and where to.
type Run struct {
	// Origin names the other system and the part of it copied (kind, URL
	// and queue or project): what was copied from one origin is copied
	// again from none other.
	Origin string
	// Name labels the importer in the tickets' history ("importer NAME").
	Name string
	// UnitID is the unit that gets the tickets.
	UnitID int64
	// Progress, when set, gets a line about every ProgressEvery.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// Summary counts what an import did.
type Summary struct {
	Seen        int // tickets read from the other system
	Created     int // tickets copied for the first time
	Updated     int // tickets copied before that got new changes
	Unchanged   int // tickets copied before with nothing new
	Failed      int // tickets that could not be copied (see Warnings)
	Messages    int // public messages copied (the first ones included)
	Notes       int // internal notes copied
	Statuses    int // status and priority changes applied
	Attachments int
	Requesters  int // accounts created for requesters and authors
	Warnings    []string
	Elapsed     time.Duration
}

// Rate is the tickets read per second.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Seen) / s.Elapsed.Seconds()
}

// String is the summary line printed at the end of an import.
func (s Summary) String() string {
	return fmt.Sprintf("%d tickets read in %s (%.1f/s): %d created, %d updated, %d unchanged, %d failed; %d messages, %d notes, %d status and priority changes, %d attachments; %d new accounts",
		s.Seen, s.Elapsed.Round(time.Millisecond), s.Rate(), s.Created, s.Updated, s.Unchanged, s.Failed,
		s.Messages, s.Notes, s.Statuses, s.Attachments, s.Requesters)
}

// maxWarnings bounds the warnings a summary keeps.
const maxWarnings = 100

func (s *Summary) warn(format string, args ...any) {
	if len(s.Warnings) < maxWarnings {
		s.Warnings = append(s.Warnings, fmt.Sprintf(format, args...))
	}
}

// Import copies every ticket src returns. It stops at the first error
// reading src or writing the database; a ticket the rules refuse (no
// requester address, say) is counted as failed and the import goes on.
func Import(ctx context.Context, d Deps, src connector.Source, r Run) (Summary, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if r.Origin == "" || r.UnitID == 0 {
		return Summary{}, errors.New("importer: an origin and a unit are required")
	}
	if r.ProgressEvery <= 0 {
		r.ProgressEvery = time.Second
	}
	start := d.Now()
	var sum Summary
	lastLine := start
	total := -1
	for cursor, first := "", true; first || cursor != ""; first = false {
		page, next, n, err := src.Tickets(ctx, cursor)
		if err != nil {
			sum.Elapsed = d.Now().Sub(start)
			return sum, fmt.Errorf("importer: read tickets: %w", err)
		}
		if n >= 0 {
			total = n
		}
		for i := range page {
			if err := ctx.Err(); err != nil {
				sum.Elapsed = d.Now().Sub(start)
				return sum, err
			}
			sum.Seen++
			if err := copyTicket(ctx, d, r, &page[i], &sum); err != nil {
				if !isRefusal(err) {
					sum.Elapsed = d.Now().Sub(start)
					return sum, err
				}
				sum.Failed++
				sum.warn("ticket %s: %v", page[i].Ref.RemoteID, err)
			}
			if now := d.Now(); r.Progress != nil && now.Sub(lastLine) >= r.ProgressEvery {
				lastLine = now
				progress(r.Progress, sum, total, now.Sub(start))
			}
		}
		if next == cursor && next != "" {
			return sum, fmt.Errorf("importer: the source returned the same page cursor %q twice", next)
		}
		cursor = next
	}
	sum.Elapsed = d.Now().Sub(start)
	return sum, nil
}

func progress(w io.Writer, s Summary, total int, elapsed time.Duration) {
	of := ""
	if total >= 0 {
		of = fmt.Sprintf("/%d", total)
	}
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.Seen) / elapsed.Seconds()
	}
	fmt.Fprintf(w, "import: %d%s tickets (%d created, %d updated, %d failed), %.1f/s\n", s.Seen, of, s.Created, s.Updated, s.Failed, rate)
}

// isRefusal tells whether err is the rules refusing a ticket (bad or
// missing data) rather than a fault of the database or the disk.
func isRefusal(err error) bool {
	switch apperr.KindOf(err) {
	case apperr.Invalid, apperr.Forbidden, apperr.Conflict, apperr.TooLarge:
		return true
	}
	return false
}

// copyTicket copies rt (new, or the changes of it not copied yet) in one
// transaction.
func copyTicket(ctx context.Context, d Deps, r Run, rt *connector.Ticket, sum *Summary) error {
	if rt.Ref.RemoteID == "" {
		return apperr.New(apperr.Invalid, "the source gave a ticket without an id")
	}
	// Blobs are stored first (content-addressed: storing one twice is
	// harmless, and one left unreferenced by a failed commit is swept).
	first, err := storeAll(ctx, d, rt.Attachments, sum, rt.Ref.RemoteID)
	if err != nil {
		return err
	}
	changes := make([][]ticket.NewAttachment, len(rt.History))
	for i, c := range rt.History {
		if changes[i], err = storeAll(ctx, d, c.Attachments, sum, rt.Ref.RemoteID); err != nil {
			return err
		}
	}
	var local Summary // counted only once the transaction commits
	err = d.DB.Tx(ctx, func(q db.Querier) error {
		local = Summary{}
		id, created, err := ensureTicket(ctx, d, q, r, rt, first, &local)
		if err != nil {
			return err
		}
		applied := 0
		for i, c := range rt.History {
			done, err := applyChange(ctx, d, q, r, id, c, changes[i], &local)
			if err != nil {
				return fmt.Errorf("change %s: %w", c.RemoteID, err)
			}
			if done {
				applied++
			}
		}
		moved, err := settle(ctx, d, q, r, id, rt.Status, rt.Priority)
		if err != nil {
			return err
		}
		local.Statuses += moved
		switch {
		case created:
			local.Created++
		case applied > 0 || moved > 0:
			local.Updated++
		default:
			local.Unchanged++
		}
		return nil
	})
	if err != nil {
		return err
	}
	sum.Created += local.Created
	sum.Updated += local.Updated
	sum.Unchanged += local.Unchanged
	sum.Messages += local.Messages
	sum.Notes += local.Notes
	sum.Statuses += local.Statuses
	sum.Attachments += local.Attachments
	sum.Requesters += local.Requesters
	sum.Warnings = append(sum.Warnings, local.Warnings...)
	return nil
}

// storeAll stores the attachments in the blob store; one larger than
// MaxUpload is left out with a warning.
func storeAll(ctx context.Context, d Deps, atts []connector.Attachment, sum *Summary, remoteID string) ([]ticket.NewAttachment, error) {
	var out []ticket.NewAttachment
	for _, a := range atts {
		if d.MaxUpload > 0 && int64(len(a.Data)) > d.MaxUpload {
			sum.warn("ticket %s: attachment %q (%d bytes) is larger than the upload limit: left out", remoteID, a.Filename, len(a.Data))
			continue
		}
		name := ticket.SafeFilename(a.Filename, "attachment")
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		s, size, err := d.Blobs.Put(ctx, bytes.NewReader(a.Data), int64(len(a.Data))+1)
		if err != nil {
			return nil, fmt.Errorf("importer: store attachment %q: %w", a.Filename, err)
		}
		out = append(out, ticket.NewAttachment{Filename: name, ContentType: ct, Size: size, SHA256: s})
	}
	return out, nil
}

// ensureTicket returns the local ticket of rt, creating it with its first
// message when it was not copied before.
func ensureTicket(ctx context.Context, d Deps, q db.Querier, r Run, rt *connector.Ticket, atts []ticket.NewAttachment, sum *Summary) (int64, bool, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT ticket_id FROM imported_tickets WHERE origin = $1 AND remote_id = $2`, r.Origin, rt.Ref.RemoteID).Scan(&id)
	switch {
	case err == nil:
		return id, false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return 0, false, fmt.Errorf("importer: look up ticket %s: %w", rt.Ref.RemoteID, err)
	}
	requester, err := ensureUser(ctx, d, q, rt.Requester, sum)
	if err != nil {
		return 0, false, fmt.Errorf("requester: %w", err)
	}
	if requester == 0 {
		return 0, false, apperr.Field("requester", "has no e-mail address in the other system")
	}
	subject := oneLine(rt.Subject)
	if subject == "" {
		subject = "(no subject)"
	}
	nt := ticket.NewTicket{Subject: subject, Body: text(rt.Body), UnitID: r.UnitID, RequesterID: requester,
		Source: ticket.FromImport, At: rt.Created, Attachments: atts, Priority: priority(rt.Priority)}
	id, err = d.Tickets.CreateTx(ctx, q, auth.Importer(r.Name), nt)
	if err != nil {
		return 0, false, err
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO imported_tickets (origin, remote_id, ticket_id, imported_at) VALUES ($1, $2, $3, $4)`,
		r.Origin, rt.Ref.RemoteID, id, d.Now().UTC()); err != nil {
		return 0, false, fmt.Errorf("importer: record ticket %s: %w", rt.Ref.RemoteID, err)
	}
	sum.Messages++
	sum.Attachments += len(atts)
	return id, true, nil
}

// applyChange copies change c to ticket id unless it was copied before;
// done tells whether it was copied now.
func applyChange(ctx context.Context, d Deps, q db.Querier, r Run, id int64, c connector.Change, atts []ticket.NewAttachment, sum *Summary) (done bool, err error) {
	if c.RemoteID == "" {
		return false, apperr.New(apperr.Invalid, "the source gave a change without an id")
	}
	var seen int
	err = q.QueryRowContext(ctx, `SELECT 1 FROM imported_changes WHERE origin = $1 AND remote_id = $2`, r.Origin, c.RemoteID).Scan(&seen)
	switch {
	case err == nil:
		return false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("importer: look up change: %w", err)
	}
	switch c.Kind {
	case connector.KindMessage, connector.KindNote:
		author, err := ensureUser(ctx, d, q, c.Author, sum)
		if err != nil {
			return false, fmt.Errorf("author: %w", err)
		}
		p := auth.Importer(r.Name, id)
		p.UserID = author
		nm := ticket.NewMessage{Body: text(c.Body), Internal: c.Kind == connector.KindNote, Source: ticket.FromImport, At: c.At, Attachments: atts}
		if _, err := d.Tickets.AddMessageTx(ctx, q, p, id, nm); err != nil {
			return false, err
		}
		if nm.Internal {
			sum.Notes++
		} else {
			sum.Messages++
		}
		sum.Attachments += len(atts)
	case connector.KindStatus, connector.KindPriority:
		// Applied by settle at the end: the other system's last word is
		// the ticket's state, whatever path it took there.
	default:
		return false, apperr.New(apperr.Invalid, "unknown change kind %q", c.Kind)
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO imported_changes (origin, remote_id, ticket_id) VALUES ($1, $2, $3)`, r.Origin, c.RemoteID, id); err != nil {
		return false, fmt.Errorf("importer: record change: %w", err)
	}
	return true, nil
}

// settle moves ticket id to the status and priority the other system
// has now, through the workflow (a solved ticket that the other system
// reopened is reopened first). It returns the number of changes made.
func settle(ctx context.Context, d Deps, q db.Querier, r Run, id int64, status, prio string) (int, error) {
	p := auth.Importer(r.Name, id)
	t, err := d.Tickets.GetTx(ctx, q, p, id)
	if err != nil {
		return 0, err
	}
	n := 0
	if pr := priority(prio); pr != "" && pr != t.Priority {
		if err := d.Tickets.UpdateTx(ctx, q, p, id, ticket.Update{Priority: &pr, Source: ticket.FromImport}); err != nil {
			return n, err
		}
		n++
	}
	want := target(status)
	if want == "" || want == t.Status || t.Status.Frozen() {
		return n, nil
	}
	if !t.Status.Open() && want.Open() {
		reopened := ticket.Reopened
		if err := d.Tickets.UpdateTx(ctx, q, p, id, ticket.Update{Status: &reopened, Source: ticket.FromImport}); err != nil {
			return n, err
		}
		n++
		if want == ticket.Reopened {
			return n, nil
		}
	}
	if err := d.Tickets.UpdateTx(ctx, q, p, id, ticket.Update{Status: &want, Source: ticket.FromImport}); err != nil {
		return n, err
	}
	return n + 1, nil
}

// target is the status an imported ticket ends in: the other system's,
// where helpmesh's workflow lets an importer set it (only the requester
// verifies and only the lifecycle timer closes: those end solved, and
// the timer closes them).
func target(status string) ticket.Status {
	switch s := ticket.Status(status); s {
	case ticket.Verified, ticket.Closed:
		return ticket.Solved
	case ticket.New:
		return "" // where the unit left it
	default:
		for _, known := range ticket.Statuses {
			if s == known {
				return s
			}
		}
	}
	return ""
}

func priority(p string) ticket.Priority {
	for _, known := range ticket.Priorities {
		if ticket.Priority(p) == known {
			return known
		}
	}
	return ""
}

// ensureUser returns the account of person, created when there is none;
// 0 when the person has no address.
func ensureUser(ctx context.Context, d Deps, q db.Querier, person connector.Person, sum *Summary) (int64, error) {
	email := strings.TrimSpace(person.Email)
	if email == "" {
		return 0, nil
	}
	name := oneLine(person.Name)
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	u, created, err := d.Users.EnsureTx(ctx, q, email, name)
	if err != nil {
		return 0, err
	}
	if created {
		sum.Requesters++
	}
	return u.ID, nil
}

// text is a message body helpmesh takes: valid UTF-8, not empty, at most
// ticket.MaxBody bytes (the rest is cut, and the cut said).
func text(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if strings.TrimSpace(s) == "" {
		return "(no text)"
	}
	const cut = "\n\n[cut by the import: the message was longer than helpmesh keeps]"
	if len(s) > ticket.MaxBody {
		s = s[:ticket.MaxBody-len(cut)]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += cut
	}
	return s
}

// oneLine is s as a subject or name: its first line, trimmed, at most
// ticket.MaxSubject characters.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s, _, _ = strings.Cut(strings.ReplaceAll(s, "\r", "\n"), "\n")
	s = strings.TrimSpace(strings.ReplaceAll(s, "\x00", ""))
	if r := []rune(s); len(r) > ticket.MaxSubject {
		s = string(r[:ticket.MaxSubject])
	}
	return s
}
