package mail

import (
	"context"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/notify"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// The gateway reads and writes tickets, units and users only through the
// packages that own them; these are what it needs of each (implemented by
// ticket.Store, unit.Store and user.Store). What notify needs comes first.

// Tickets is what the gateway needs of tickets.
type Tickets interface {
	notify.Tickets
	CreateTx(ctx context.Context, q db.Querier, p *auth.Principal, nt ticket.NewTicket) (int64, error)
	AddMessageTx(ctx context.Context, q db.Querier, p *auth.Principal, ticketID int64, nm ticket.NewMessage) (int64, error)
	UpdateTx(ctx context.Context, q db.Querier, p *auth.Principal, id int64, u ticket.Update) error
	Relate(ctx context.Context, p *auth.Principal, id, other int64, kind string, src ticket.Source) (*ticket.Relation, error)
	FirstMessage(ctx context.Context, ticketID int64) (*ticket.Message, error)
	MessageByMailID(ctx context.Context, q db.Querier, id int64, mailID string) (int64, error)
	TicketsByMailID(ctx context.Context, mailID string, limit int) ([]int64, error)
	Watches(ctx context.Context, id, userID int64) (bool, error)
	Participant(ctx context.Context, id int64, email string, userID int64) (bool, error)
}

// Units is what the gateway needs of units.
type Units interface {
	notify.Units
	UnitByEmail(ctx context.Context, addr string) (*unit.Unit, bool, error)
	Handler(ctx context.Context) (*unit.Unit, error)
	notify.Services
}

// Users is what the gateway needs of users.
type Users interface {
	notify.Users
	notify.Admins
	notify.Prefs
	GetByEmail(ctx context.Context, email string) (*user.User, error)
	EnsureTx(ctx context.Context, q db.Querier, email, name string) (u *user.User, created bool, err error)
}
