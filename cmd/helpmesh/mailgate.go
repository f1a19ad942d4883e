package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/helpmesh/helpmesh/internal/app"
	"github.com/helpmesh/helpmesh/internal/mail"
)

// exitCode is an error that asks for a particular exit status.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// mailgate reads one message on stdin for an MTA pipe alias, for example in
// Postfix's master.cf:
//
//	helpmesh unix - n n - - pipe flags=R user=helpmesh
//	  argv=/usr/local/bin/helpmesh mailgate --sender ${sender} ${recipient}
//
// Exit 0 when the mail was taken (or quarantined), 75 when the MTA should
// retry, 67 or 65 when it should bounce.
func mailgate(ctx context.Context, e env, args []string) error {
	var sender string
	var hasSender bool
	cfg, rest, err := load(e, "mailgate", args, func(fs *flag.FlagSet) {
		fs.Func("sender", "envelope sender (${sender}; empty for a bounce)", func(s string) error {
			sender, hasSender = s, true
			return nil
		})
	})
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, logger(cfg, e.stderr))
	if err != nil {
		fmt.Fprintf(e.stderr, "helpmesh mailgate: %v\n", err)
		return exitCode(mail.ExitTempFail)
	}
	defer a.Close()
	if code := a.Mail.Mailgate(ctx, e.stdin, sender, hasSender, rest, e.stderr); code != 0 {
		return exitCode(code)
	}
	return nil
}
