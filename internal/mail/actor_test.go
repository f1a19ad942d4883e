package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/user"
)

// TestMailWritesAsParticipant: mail writes as its sender, a mail
// participant with the rights the person has (and, for participants only
// mail knows, a participant's on that ticket), never with an
// administrator's; a requester's mail cannot add an internal note nor
// reach another ticket; the history names each writer "(by mail)".
func TestMailWritesAsParticipant(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx := context.Background()
		support := "support@" + testDomain
		comment := "support-comment@" + testDomain

		out := e.deliver(mailMsg("rita@ext.example", support, "Disk full", "help"), support)
		tid := out.TicketID
		carol := e.deliver(mailMsg("carol@ext.example", support, "Printer", "jammed"), support).TicketID
		tag := fmt.Sprintf("Re: [helpmesh #%d] Disk full", tid)
		if err := e.tickets.AddWatcher(ctx, e.admin, tid, "walt@ext.example", ticket.FromAPI); err != nil {
			t.Fatal(err)
		}

		// A watcher by address only answers the solved ticket: it is
		// reopened and answered by walt, by mail.
		solved := ticket.Solved
		if _, err := e.tickets.Update(ctx, e.admin, tid, ticket.Update{Status: &solved}); err != nil {
			t.Fatal(err)
		}
		out = e.deliver(mailMsg("walt@ext.example", support, tag, "still full", dkimPass("ext.example")), support)
		if out.Action != "replied" || out.TicketID != tid || !out.Participant {
			t.Fatalf("watcher's reply to the solved ticket: %+v", out)
		}
		if tk, _ := e.tickets.Get(ctx, e.admin, tid); tk.Status != ticket.Reopened {
			t.Errorf("status after the watcher's reply: %s", tk.Status)
		}
		walt, err := e.users.GetByEmail(ctx, "walt@ext.example")
		if err != nil {
			t.Fatal(err)
		}

		// The requester's mail to the comment address is refused; her
		// answer to an internal note's Message-ID is a public reply.
		_, err = e.g.Deliver(ctx, Envelope{Source: "test", Rcpts: []string{comment}},
			mailMsg("rita@ext.example", comment, tag, "let me note", dkimPass("ext.example")))
		var rej *Rejection
		if !errors.As(err, &rej) {
			t.Errorf("requester on the comment address: %v", err)
		}
		noteID := "<" + e.g.sig.messageID(tid, flagNote, testDomain) + ">"
		out = e.deliver(mailMsg("rita@ext.example", support, "Re: note", "my note?", "In-Reply-To: "+noteID), support)
		if out.Action != "replied" || out.TicketID != tid {
			t.Fatalf("requester answering a note: %+v", out)
		}
		ms := e.messages(tid)
		if last := ms[len(ms)-1]; last.Internal || last.Body != "my note?" {
			t.Errorf("the requester's mail became an internal note: %+v", last)
		}

		// Her mail naming another requester's ticket opens a ticket of its
		// own; the other ticket is untouched.
		before := len(e.messages(carol))
		out = e.deliver(mailMsg("rita@ext.example", support, fmt.Sprintf("Re: [helpmesh #%d] Printer", carol), "mine now", dkimPass("ext.example")), support)
		if out.Action != "created" || out.TicketID == carol {
			t.Errorf("requester's mail to another ticket: %+v", out)
		}
		if n := len(e.messages(carol)); n != before {
			t.Errorf("another requester's ticket got %d messages", n-before)
		}

		// The history names who wrote, by mail; never an administrator
		// or the gateway.
		rita, err := e.users.GetByEmail(ctx, "rita@ext.example")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]*user.User{"rita@ext.example (by mail)": rita, "walt@ext.example (by mail)": walt}
		seen := map[string]bool{}
		hs, err := e.tickets.History(ctx, e.admin, tid)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			if h.Source != ticket.FromEmail {
				continue
			}
			u := want[h.Actor]
			if u == nil || h.ActorID != u.ID {
				t.Errorf("history entry of a mail: %+v", h)
				continue
			}
			seen[h.Actor+" "+h.Action+" "+h.New] = true
		}
		for _, s := range []string{"rita@ext.example (by mail) created assigned", "walt@ext.example (by mail) changed reopened",
			"walt@ext.example (by mail) replied", "rita@ext.example (by mail) replied"} {
			found := false
			for k := range seen {
				found = found || strings.HasPrefix(k, s)
			}
			if !found {
				t.Errorf("no history entry %q in %v", s, seen)
			}
		}
	})
}
