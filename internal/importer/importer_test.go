package importer_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/blob"
	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/importer"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// source is a fake other system: its tickets in pages of two.
type source struct {
	tickets []connector.Ticket
	failAt  int // first ticket of the page that fails once, -1 for none
	calls   int
}

func (s *source) Tickets(ctx context.Context, cursor string) ([]connector.Ticket, string, int, error) {
	i := 0
	if cursor != "" {
		i = int(cursor[0] - '0')
	}
	s.calls++
	if s.failAt == i {
		s.failAt = -1
		return nil, "", 0, errors.New("peer went away")
	}
	end := min(i+2, len(s.tickets))
	next := ""
	if end < len(s.tickets) {
		next = string(rune('0' + end))
	}
	return s.tickets[i:end], next, len(s.tickets), nil
}

func day(d int) time.Time { return time.Date(2025, 3, d, 10, 0, 0, 0, time.UTC) }

func history() []connector.Ticket {
	return []connector.Ticket{
		{Ref: connector.Ref{RemoteID: "1"}, Subject: "Disk quota", Body: "My quota is full.", Created: day(1),
			Requester: connector.Person{Email: "ann@uni.example", Name: "Ann"}, Status: "solved", Priority: "urgent",
			Attachments: []connector.Attachment{{Filename: "df.txt", ContentType: "text/plain", Data: []byte("100%")}},
			History: []connector.Change{
				{RemoteID: "t11", Kind: connector.KindNote, Body: "Raise it.", Author: connector.Person{Email: "sam@site.example", Name: "Sam"}, At: day(2)},
				{RemoteID: "t12", Kind: connector.KindMessage, Body: "Done, 2 TB now.", Author: connector.Person{Email: "sam@site.example", Name: "Sam"}, At: day(3),
					Attachments: []connector.Attachment{{Filename: "../quota.png", ContentType: "image/png", Data: []byte("png")}}},
				{RemoteID: "t13", Kind: connector.KindStatus, Status: "solved", At: day(3)},
			}},
		{Ref: connector.Ref{RemoteID: "2"}, Subject: "VPN\r\nbroken", Body: "", Created: day(4),
			Requester: connector.Person{Email: "bob@uni.example"}, Status: "in_progress"},
		{Ref: connector.Ref{RemoteID: "3"}, Subject: "no address", Body: "x", Created: day(5), Status: "new"},
		{Ref: connector.Ref{RemoteID: "4"}, Subject: "Old and closed", Body: "y", Created: day(6),
			Requester: connector.Person{Email: "ann@uni.example"}, Status: "closed"},
	}
}

type fixture struct {
	deps  importer.Deps
	unit  *unit.Unit
	admin *auth.Principal
	mu    sync.Mutex
	told  []ticket.Event
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	ctx := context.Background()
	f := &fixture{}
	emit := func(ctx context.Context, q db.Querier, ev ticket.Event) error {
		f.mu.Lock()
		f.told = append(f.told, ev)
		f.mu.Unlock()
		return nil
	}
	blobs, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	users := user.NewStore(d)
	f.deps = importer.Deps{DB: d, Tickets: ticket.NewStore(d, ticket.Options{Emit: emit}), Users: users, Blobs: blobs, MaxUpload: 1 << 20}
	if f.unit, err = unit.NewStore(d).CreateUnit(ctx, unit.Unit{Slug: "storage", Name: "Storage"}); err != nil {
		t.Fatal(err)
	}
	u, err := users.Create(ctx, user.NewUser{Email: "adm@example.org", Name: "adm", Role: auth.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if f.admin, err = users.Principal(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestImport(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := newFixture(t, d)
		src := &source{tickets: history(), failAt: 2}
		var progress bytes.Buffer
		run := importer.Run{Origin: "rt5 http://rt.example General", Name: "rt5", UnitID: f.unit.ID, Progress: &progress, ProgressEvery: time.Nanosecond}

		// The source fails on its second page: what was read before is
		// kept, and the error says what happened.
		sum, err := importer.Import(ctx, f.deps, src, run)
		if err == nil || !strings.Contains(err.Error(), "peer went away") || sum.Created != 2 {
			t.Fatalf("first run: %+v, %v", sum, err)
		}
		// Run again: the first page is unchanged, the rest is copied.
		sum, err = importer.Import(ctx, f.deps, src, run)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Seen != 4 || sum.Created != 1 || sum.Unchanged != 2 || sum.Failed != 1 || len(sum.Warnings) != 1 || !strings.Contains(sum.Warnings[0], "ticket 3") {
			t.Errorf("second run: %+v", sum)
		}
		if !strings.Contains(progress.String(), "/4 tickets") {
			t.Errorf("no progress line: %q", progress.String())
		}
		// A third run changes nothing.
		if sum, err = importer.Import(ctx, f.deps, src, run); err != nil || sum.Created+sum.Updated != 0 || sum.Unchanged != 3 {
			t.Errorf("third run: %+v, %v", sum, err)
		}

		list, err := f.deps.Tickets.List(ctx, f.admin, ticket.Filter{Limit: 10})
		if err != nil || len(list) != 3 {
			t.Fatalf("tickets: %+v, %v", list, err)
		}
		byID := map[string]*ticket.Ticket{}
		for _, tk := range list {
			byID[tk.Subject] = tk
		}
		quota := byID["Disk quota"]
		if quota == nil || quota.Status != ticket.Solved || quota.Priority != ticket.Urgent || !quota.CreatedAt.Equal(day(1)) ||
			quota.Requester.Email != "ann@uni.example" || quota.UnitID != f.unit.ID {
			t.Fatalf("quota ticket: %+v", quota)
		}
		msgs, err := f.deps.Tickets.Messages(ctx, f.admin, quota.ID)
		if err != nil || len(msgs) != 3 {
			t.Fatalf("messages: %+v, %v", msgs, err)
		}
		if m := msgs[1]; !m.Internal || m.Body != "Raise it." || !m.CreatedAt.Equal(day(2)) || m.Author.Email != "sam@site.example" {
			t.Errorf("the note: %+v", m)
		}
		if m := msgs[2]; m.Internal || len(m.Attachments) != 1 || m.Attachments[0].Filename != "quota.png" || m.Source != ticket.FromImport {
			t.Errorf("the reply: %+v", m)
		}
		if len(msgs[0].Attachments) != 1 || msgs[0].Attachments[0].Filename != "df.txt" {
			t.Errorf("the first message's attachment: %+v", msgs[0].Attachments)
		}
		if vpn := byID["VPN"]; vpn == nil || vpn.Status != ticket.InProgress {
			t.Errorf("vpn ticket (subject cut at the line break, empty body kept): %+v", vpn)
		} else if m, _ := f.deps.Tickets.Messages(ctx, f.admin, vpn.ID); len(m) != 1 || m[0].Body != "(no text)" {
			t.Errorf("vpn messages: %+v", m)
		}
		if old := byID["Old and closed"]; old == nil || old.Status != ticket.Solved {
			t.Errorf("a closed ticket is solved here (the timer closes it): %+v", old)
		}
		h, err := f.deps.Tickets.History(ctx, f.admin, quota.ID)
		if err != nil || len(h) == 0 || h[0].Actor != "importer rt5" {
			t.Errorf("history: %+v, %v", h, err)
		}
		for _, ev := range f.told {
			if ev.Source != ticket.FromImport {
				t.Errorf("an import event with source %q: %+v", ev.Source, ev)
			}
		}

		// The other system moves on: a new reply and a reopen arrive.
		src.tickets[0].Status = "in_progress"
		src.tickets[0].History = append(src.tickets[0].History,
			connector.Change{RemoteID: "t14", Kind: connector.KindMessage, Body: "Full again.", Author: connector.Person{Email: "ann@uni.example"}, At: day(7)})
		if sum, err = importer.Import(ctx, f.deps, src, run); err != nil || sum.Updated != 1 || sum.Messages != 1 || sum.Statuses != 2 {
			t.Errorf("fourth run: %+v, %v", sum, err)
		}
		if tk, err := f.deps.Tickets.Get(ctx, f.admin, quota.ID); err != nil || tk.Status != ticket.InProgress {
			t.Errorf("reopened ticket: %+v, %v", tk, err)
		}
		// The same ids from another origin are other tickets.
		other := run
		other.Origin = "redmine5 http://redmine.example support"
		if sum, err = importer.Import(ctx, f.deps, &source{tickets: history()[:1], failAt: -1}, other); err != nil || sum.Created != 1 {
			t.Errorf("another origin: %+v, %v", sum, err)
		}
	})
}

func TestImportRefusesBadRuns(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		if _, err := importer.Import(context.Background(), f.deps, &source{failAt: -1}, importer.Run{Origin: "x"}); err == nil {
			t.Error("an import with no unit ran")
		}
		bad := []connector.Ticket{{Ref: connector.Ref{RemoteID: "9"}, Subject: "s", Body: "b", Requester: connector.Person{Email: "a@b.example"},
			History: []connector.Change{{Kind: connector.KindMessage, Body: "no id"}}}}
		sum, err := importer.Import(context.Background(), f.deps, &source{tickets: bad, failAt: -1}, importer.Run{Origin: "x", Name: "x", UnitID: f.unit.ID})
		if err != nil || sum.Failed != 1 || sum.Created != 0 {
			t.Errorf("a change without an id: %+v, %v", sum, err)
		}
	})
}
