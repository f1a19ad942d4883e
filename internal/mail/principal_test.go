package mail

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/user"
)

// TestSenderPrincipal: the gateway writes as the sender, by mail, with
// their own rights wherever those let them write to the ticket, with a mail
// participant's rights on it (Participant) only for participants the
// ticket store does not know, and never for a stranger.
func TestSenderPrincipal(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx := context.Background()
		support := "support@" + testDomain
		first := mailMsg("rita@ext.example", support, "Disk full", "help")
		out := e.deliver(first, support)
		if out.Action != "created" || out.Participant {
			t.Fatalf("new ticket: %+v", out)
		}
		tid := out.TicketID
		tag := fmt.Sprintf("Re: [helpmesh #%d] Disk full", tid)
		if _, err := e.users.Create(ctx, user.NewUser{Email: "wanda@ext.example", Name: "Wanda"}); err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"wanda@ext.example", "walt@ext.example"} {
			if err := e.tickets.AddWatcher(ctx, e.admin, tid, w, ticket.FromAPI); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			from        string
			action      string
			participant bool
		}{
			{"rita@ext.example", "replied", false},  // requester: the store says yes
			{"wanda@ext.example", "replied", false}, // watcher with an account
			{"staff@uni.example", "replied", false}, // unit member
			{"walt@ext.example", "replied", true},   // watcher by address only: mail semantics
			{"mallory@evil.example", "created", false},
		} {
			_, domain, _ := strings.Cut(c.from, "@")
			out := e.deliver(mailMsg(c.from, support, tag, "from "+c.from, dkimPass(domain)), support)
			if out.Action != c.action || out.Participant != c.participant || (c.action == "replied") != (out.TicketID == tid) {
				t.Errorf("%s: %+v, want %s participant=%v", c.from, out, c.action, c.participant)
			}
		}
		// A stranger answering a mail that came in for the ticket (not one
		// of our signed Message-IDs) does not join it either.
		out = e.deliver(mailMsg("eve@evil.example", support, "Re: Disk full", "me too", "In-Reply-To: "+msgID(first)), support)
		if out.Action != "created" || out.TicketID == tid {
			t.Errorf("stranger with In-Reply-To: %+v", out)
		}
		// Walt has written to the ticket now: a participant by address.
		if out := e.deliver(mailMsg("walt@ext.example", support, tag, "again", dkimPass("ext.example")), support); out.TicketID != tid || !out.Participant {
			t.Errorf("walt again: %+v", out)
		}
		// The history names each sender, never an administrator.
		hs, err := e.tickets.History(ctx, e.admin, tid)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			if h.Action == "replied" && h.ActorID == 0 {
				t.Errorf("reply without its author: %+v", h)
			}
		}
		// No stranger's text reached the ticket.
		for _, m := range e.messages(tid) {
			if m.Author.Email == "mallory@evil.example" || m.Author.Email == "eve@evil.example" {
				t.Errorf("a stranger wrote to the ticket: %+v", m)
			}
		}
	})
}

// msgID is the Message-ID of a message built by mailMsg, with brackets.
func msgID(raw []byte) string {
	var id string
	for _, line := range splitLines(string(raw)) {
		if len(line) > 12 && line[:12] == "Message-ID: " {
			id = line[12:]
		}
	}
	return id
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\r' && s[i+1] == '\n' {
			out = append(out, s[start:i])
			start = i + 2
		}
	}
	return out
}
