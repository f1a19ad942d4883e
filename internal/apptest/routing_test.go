package apptest_test

import (
	"context"
	"testing"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
)

// TestMoveOutOfSight: a supporter who escalates a ticket to the ticket
// handler team gets 200 with the ticket as written, not 404, and then no
// longer sees it.
func TestMoveOutOfSight(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e)
		ctx := context.Background()
		in.NewUnit(t, "first-line", true)
		in.NewUnit(t, "storage", false)
		in.NewService(t, "object-store", "storage")
		samU, sam := in.NewUser(t, "sam@uni.example", "user")
		in.AddMember(t, "storage", samU.ID, "member")
		_, ann := in.NewUser(t, "ann@uni.example", "user")
		tk, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "Quota", Body: "x", Service: "object-store"})
		if err != nil {
			t.Fatal(err)
		}
		moved, err := sam.UpdateTicket(ctx, tk.ID, client.TicketUpdate{Unit: new("first-line")})
		if err != nil {
			t.Fatalf("escalating to the ticket handler team: %v", err)
		}
		if moved.Unit == nil || *moved.Unit != "first-line" {
			t.Errorf("the answer's unit is %v, want first-line", moved.Unit)
		}
		if _, err := sam.Ticket(ctx, tk.ID); client.StatusOf(err) != 404 {
			t.Errorf("after the move the supporter still sees the ticket: %v", err)
		}
	})
}
