package mail

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Exit codes of the mailgate command (sysexits.h, as sendmail and Postfix's
// pipe transport expect).
const (
	ExitOK       = 0
	ExitDataErr  = 65 // EX_DATAERR: the mail is refused; the MTA bounces it
	ExitNoUser   = 67 // EX_NOUSER: unknown recipient or sender; bounced
	ExitTempFail = 75 // EX_TEMPFAIL: try again later; the MTA keeps the mail
)

// Mailgate delivers one message read from r, as an MTA pipe alias does
// ("|helpmesh mailgate --sender ${sender} ${recipient}"), and returns the
// exit code for the MTA. hasSender tells whether the MTA passed the envelope
// sender (empty for a bounce).
func (g *Gateway) Mailgate(ctx context.Context, r io.Reader, sender string, hasSender bool, rcpts []string, stderr io.Writer) int {
	raw, err := io.ReadAll(io.LimitReader(r, g.opts.MaxMessageBytes+1))
	if err != nil {
		fmt.Fprintf(stderr, "helpmesh mailgate: reading the message: %v\n", err)
		return ExitTempFail
	}
	if len(raw) == 0 {
		fmt.Fprintln(stderr, "helpmesh mailgate: empty message")
		return ExitDataErr
	}
	out, err := g.Deliver(ctx, Envelope{Source: "mailgate", MailFrom: sender, HasMailFrom: hasSender, Rcpts: rcpts}, raw)
	var rej *Rejection
	switch {
	case err == nil:
		if out.Action == "quarantined" {
			fmt.Fprintf(stderr, "helpmesh mailgate: quarantined for an administrator: %s\n", out.Reason)
		}
		return ExitOK
	case errors.As(err, &rej):
		fmt.Fprintf(stderr, "helpmesh mailgate: %s\n", rej.Reason)
		if rej.NoUser {
			return ExitNoUser
		}
		return ExitDataErr
	default:
		fmt.Fprintf(stderr, "helpmesh mailgate: temporary failure, try again later: %v\n", err)
		return ExitTempFail
	}
}
