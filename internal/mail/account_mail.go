package mail

import (
	"context"
	"fmt"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/user"
)

// KindAccount is mail about a person's account (one-time sign-in and
// password-reset links), not about a ticket.
const KindAccount = "account"

// SendText queues a plain-text mail about an account to one address through
// the outbox, like every other mail: sent by the relay with retries, or held
// for administrators when there is none. It is what the web portal uses for
// sign-in and reset links.
func (g *Gateway) SendText(ctx context.Context, to, subject, text string) error {
	addr, err := user.NormalizeEmail(to)
	if err != nil {
		return err
	}
	if strings.ContainsAny(subject, "\r\n") || len(subject) > 250 {
		return apperr.Field("subject", "must be one line of at most 250 characters")
	}
	m := outMail{Kind: KindAccount, To: addr, Subject: subject, Template: "account.txt",
		Data: tmplData{Body: text}, Auto: "auto-generated"}
	if err := g.db.Tx(ctx, func(q db.Querier) error { return g.queue(ctx, q, m) }); err != nil {
		return fmt.Errorf("mail: send to %s: %w", addr, err)
	}
	return nil
}
