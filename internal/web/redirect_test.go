package web

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// TestHandledByList: a ticket of a service in the integration mode
// redirect shows its requester and its staff that the unit's list handles
// it by mail; a ticket of a direct service does not.
func TestHandledByList(t *testing.T) {
	e := newEnv(t, t.TempDir()+"/h.db")
	ctx := context.Background()
	sv, err := e.units.Service(ctx, "hpc")
	if err != nil {
		t.Fatal(err)
	}
	sv.Mode = unit.Redirect
	if _, err := e.units.UpdateService(ctx, *sv); err != nil {
		t.Fatal(err)
	}
	open := func(service int64) int64 {
		tk, err := e.tickets.Create(ctx, e.principal(e.req), ticket.NewTicket{Subject: "Jobs", Body: "stuck", ServiceID: service, UnitID: e.unit.ID, Source: ticket.FromWeb})
		if err != nil {
			t.Fatal(err)
		}
		return tk.ID
	}
	other, err := e.units.Service(ctx, "cloud-compute")
	if err != nil {
		t.Fatal(err)
	}
	redirected, direct := open(sv.ID), open(other.ID)
	const want = "Handled by compute@support.example.org by mail"
	for _, who := range []string{e.req.Email, e.staff.Email} {
		c := e.client()
		c.login(who)
		if page := c.get(fmt.Sprintf("/tickets/%d", redirected)); page.status != 200 || !strings.Contains(page.body, want) {
			t.Errorf("%s: the redirected ticket's page (%d) lacks %q: %s", who, page.status, want, excerpt(page.body))
		}
		if page := c.get(fmt.Sprintf("/tickets/%d", direct)); page.status != 200 || strings.Contains(page.body, "Handled by") {
			t.Errorf("%s: the direct ticket's page (%d): %s", who, page.status, excerpt(page.body))
		}
	}
}
