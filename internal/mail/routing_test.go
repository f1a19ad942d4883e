package mail

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/testenv"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// fetchDelivered waits for the mail with Message-ID mid in the Dovecot
// INBOX of account and returns it.
func fetchDelivered(t *testing.T, imapAddr, account, password, mid string) []byte {
	t.Helper()
	return testenv.FetchDelivered(t, imapAddr, account, password, mid)
}

// textBody returns the decoded text of a single-part mail.
func textBody(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// routingEnv is a gateway with a second unit "network" whose list is
// listAddr, and assignee, a member of "support"; the mover is the staff
// member of "support".
type routingEnv struct {
	*env
	network  *unit.Unit
	assignee *user.User
	mover    *auth.Principal
}

func newRoutingEnv(t *testing.T, dsn, listAddr, assigneeAddr string, opts ...envOpt) *routingEnv {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t, dsn, opts...)
	r := &routingEnv{env: e}
	var err error
	if r.network, err = e.units.CreateUnit(ctx, unit.Unit{Slug: "network", Name: "Network", Email: listAddr}); err != nil {
		t.Fatal(err)
	}
	if r.assignee, err = e.users.Create(ctx, user.NewUser{Email: assigneeAddr, Name: "Asa Assignee"}); err != nil {
		t.Fatal(err)
	}
	if err := e.units.SetMember(ctx, e.unit.ID, r.assignee.ID, auth.UnitMember); err != nil {
		t.Fatal(err)
	}
	if r.mover, err = e.users.Principal(ctx, e.staff.ID); err != nil {
		t.Fatal(err)
	}
	return r
}

// open opens a ticket in "support" by mail and tells its events.
func (r *routingEnv) open(subject string) int64 {
	r.t.Helper()
	out := r.deliver(mailMsg("Rita <rita@ext.example>", "support@"+r.g.opts.Domain, subject, "The link to the cluster flaps."), "support@"+r.g.opts.Domain)
	if out.TicketID == 0 {
		r.t.Fatalf("no ticket: %+v", out)
	}
	r.work()
	return out.TicketID
}

// update changes ticket id as the mover, who must get it back (200).
func (r *routingEnv) update(id int64, u ticket.Update) {
	r.t.Helper()
	tk, err := r.tickets.Update(context.Background(), r.mover, id, u)
	if err != nil || tk == nil || tk.ID != id {
		r.t.Fatalf("update ticket %d: %+v, %v", id, tk, err)
	}
	r.work()
	r.work() // sends
}

// Moving a ticket to another unit tells that unit's list, and setting an
// assignee tells the assignee, through the real Postfix into Dovecot
// (DESIGN.md "Routing").
func TestRoutingThroughPostfix(t *testing.T) {
	mta, local := testenv.MTA(t), testenv.LocalDomain(t)
	imapAddr, accounts := testenv.IMAP(t)
	list, person := "hmtest@"+local, "hmstaff@"+local
	r := newRoutingEnv(t, "", list, person, func(o *Options) { o.Relay = "smtp://" + mta })
	ctx := context.Background()

	// The move: the new unit's list receives the ticket.
	tok := token(t)
	id := r.open("Link flaps " + tok)
	r.update(id, ticket.Update{UnitID: &r.network.ID})
	moved := find(r.outbox(), KindAssigned, list)
	if moved == nil || moved.State != "sent" {
		t.Fatalf("no notice of the move sent to the list: %+v", r.outbox())
	}
	raw := fetchDelivered(t, imapAddr, "hmtest", accounts["hmtest"], moved.MessageID)
	h, body := header(t, raw), textBody(t, raw)
	checks := map[string]bool{
		"subject tag":    strings.Contains(h.Get("Subject"), fmt.Sprintf("[helpmesh #%d] Link flaps %s", id, tok)),
		"moved to":       strings.Contains(body, fmt.Sprintf("Ticket #%d was moved to Network by Sam Staff:", id)),
		"the request":    strings.Contains(body, "The link to the cluster flaps."),
		"From the unit":  strings.Contains(h.Get("From"), "Network (helpmesh)"),
		"Auto-Submitted": h.Get("Auto-Submitted") == "auto-generated",
		"threaded":       strings.Contains(h.Get("References"), fmt.Sprintf("<hm.%d.t.0.", id)) && strings.Contains(h.Get("References"), "@client.example>"),
		"Reply-To token": strings.Contains(h.Get("Reply-To"), fmt.Sprintf("+t%dr", id)),
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("%s wrong in the delivered notice of the move:\n%s", name, raw[:min(len(raw), 2000)])
		}
	}

	// The assignment: the assignee gets mail.
	tok2 := token(t)
	id2 := r.open("Quota " + tok2)
	r.update(id2, ticket.Update{AssigneeID: &r.assignee.ID})
	assigned := find(r.outbox(), KindAssigned, person)
	if assigned == nil || assigned.State != "sent" || assigned.TicketID != id2 {
		t.Fatalf("no notice of the assignment sent to the assignee: %+v", r.outbox())
	}
	raw = fetchDelivered(t, imapAddr, "hmstaff", accounts["hmstaff"], assigned.MessageID)
	if body := textBody(t, raw); !strings.Contains(body, fmt.Sprintf("Ticket #%d was assigned to Asa Assignee by Sam Staff:", id2)) || !strings.Contains(body, tok2) {
		t.Errorf("delivered notice of the assignment:\n%s", raw[:min(len(raw), 2000)])
	}
	// The assignee reads the ticket that the notice is about.
	p, err := r.users.Principal(ctx, r.assignee.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.tickets.Get(ctx, p, id2); err != nil {
		t.Errorf("the assignee cannot read the ticket: %v", err)
	}
}

// The routing notices in the outbox on both engines: a move to a unit
// whose address is ours tells its members (not the mover), an escalation
// to the ticket handler team tells the team, an assignment the assignee
// and nobody else; a change of priority tells nobody.
func TestRoutingNotices(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		r := newRoutingEnv(t, dsn, "network@"+testDomain, "asa@uni.example")
		ctx := context.Background()
		nat, err := r.users.Create(ctx, user.NewUser{Email: "nat@uni.example", Name: "Nat"})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.units.SetMember(ctx, r.network.ID, nat.ID, auth.UnitMember); err != nil {
			t.Fatal(err)
		}
		tht, err := r.units.CreateUnit(ctx, unit.Unit{Slug: "tht", Name: "Ticket handlers", Email: "tht-list@lists.example", Handler: true})
		if err != nil {
			t.Fatal(err)
		}
		count := func(kind string) map[string]int {
			n := map[string]int{}
			for _, o := range r.outbox() {
				if o.Kind == kind {
					n[o.To]++
				}
			}
			return n
		}

		id := r.open("Move me")
		prio := ticket.VeryUrgent
		r.update(id, ticket.Update{Priority: &prio})
		if n := count(KindAssigned); len(n) != 0 {
			t.Errorf("a change of priority told %v", n)
		}
		r.update(id, ticket.Update{UnitID: &r.network.ID})
		if n := count(KindAssigned); len(n) != 1 || n["nat@uni.example"] != 1 {
			t.Errorf("move to network told %v, want nat@uni.example once", n)
		}

		id2 := r.open("Assign me")
		r.update(id2, ticket.Update{AssigneeID: &r.assignee.ID})
		if n := count(KindAssigned); len(n) != 2 || n["asa@uni.example"] != 1 {
			t.Errorf("assignment told %v, want asa@uni.example once more", n)
		}

		id3 := r.open("Escalate me")
		r.update(id3, ticket.Update{UnitID: &tht.ID})
		if n := count(KindEscalated); len(n) != 1 || n["tht-list@lists.example"] != 1 {
			t.Errorf("escalation told %v, want the team's list once", n)
		}
		raw, err := r.g.OutboxRaw(ctx, find(r.outbox(), KindEscalated, "tht-list@lists.example").ID)
		if err != nil || !strings.Contains(textBody(t, raw), fmt.Sprintf("Ticket #%d was escalated to the ticket handler team (Ticket handlers) by Sam Staff:", id3)) {
			t.Errorf("escalation notice: %v\n%s", err, raw)
		}
	})
}
