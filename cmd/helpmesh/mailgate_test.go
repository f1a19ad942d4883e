package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/app"
	"github.com/helpmesh/helpmesh/internal/config"
)

// TestMailgate runs "helpmesh mailgate" in-process as an MTA pipe alias
// would, and checks the exit codes an MTA acts on.
func TestMailgate(t *testing.T) {
	env := map[string]string{"HELPMESH_DATA": t.TempDir(), "HELPMESH_MAIL_DOMAIN": "helpmesh.test", "HELPMESH_LOG_LEVEL": "error"}
	good := "From: Gina Good <gina@ext.example>\r\nTo: helpdesk@helpmesh.test\r\nSubject: VPN down\r\n" +
		"Message-ID: <mailgate-1@ext.example>\r\nContent-Type: text/plain\r\n\r\nThe VPN is down.\r\n"

	code, _, errs := cli(t, env, good, "mailgate", "--sender", "gina@ext.example", "helpdesk@helpmesh.test")
	if code != 0 {
		t.Fatalf("good mail: exit %d, stderr %s", code, errs)
	}
	// Delivered twice (the MTA retried after a lost answer): still one ticket.
	if code, _, errs := cli(t, env, good, "mailgate", "--sender", "gina@ext.example", "helpdesk@helpmesh.test"); code != 0 {
		t.Fatalf("same mail again: exit %d, stderr %s", code, errs)
	}
	code, _, errs = cli(t, env, strings.Replace(good, "mailgate-1", "mailgate-2", 1), "mailgate", "--sender", "gina@ext.example", "nobody@helpmesh.test")
	if code != 67 || !strings.Contains(errs, "no such recipient") {
		t.Errorf("unknown recipient: exit %d, stderr %s; want 67", code, errs)
	}
	garbage := "\x00\x01 this is not a mail at all \xff\xfe\r\n\r\n"
	code, _, errs = cli(t, env, garbage, "mailgate", "helpdesk@helpmesh.test")
	if code != 0 || !strings.Contains(errs, "quarantined") {
		t.Errorf("garbage: exit %d, stderr %s; want 0 and quarantined", code, errs)
	}

	cfg, err := config.Load(nil, nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var tickets, msgs int
	var subject, requester string
	if err := a.DB.R.QueryRowContext(ctx, `SELECT COUNT(*), MAX(t.subject), MAX(u.email) FROM tickets t JOIN users u ON u.id = t.requester_id`).Scan(&tickets, &subject, &requester); err != nil {
		t.Fatal(err)
	}
	if err := a.DB.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages`).Scan(&msgs); err != nil {
		t.Fatal(err)
	}
	if tickets != 1 || msgs != 1 || subject != "VPN down" || requester != "gina@ext.example" {
		t.Errorf("%d tickets, %d messages, subject %q by %q; want one ticket VPN down by gina", tickets, msgs, subject, requester)
	}
	qs, err := a.Mail.Quarantine(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 || qs[0].Source != "mailgate" {
		t.Errorf("quarantine = %+v, want the garbage", qs)
	}

	// The database is unavailable: 75, and the MTA keeps the mail.
	down := map[string]string{"HELPMESH_DATA": t.TempDir(), "HELPMESH_MAIL_DOMAIN": "helpmesh.test", "HELPMESH_LOG_LEVEL": "error",
		"HELPMESH_DB": "postgres://nobody:x@127.0.0.1:1/helpmesh?connect_timeout=2"}
	code, _, errs = cli(t, down, good, "mailgate", "helpdesk@helpmesh.test")
	if code != 75 {
		t.Errorf("database down: exit %d, stderr %s; want 75", code, errs)
	}
}
