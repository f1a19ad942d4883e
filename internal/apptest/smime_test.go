package apptest_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/mail"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// TestAlarmMailSMIMESigned: with HELPMESH_SMIME_CERT and _KEY, the alarm
// mailed to a service's alarm_email goes through the relay (Postfix) into
// the real mailbox (Dovecot) S/MIME signed, multipart/signed with a
// detached application/pkcs7-signature, and `openssl smime -verify` accepts
// it and names our certificate as the signer; other mail stays unsigned.
func TestAlarmMailSMIMESigned(t *testing.T) {
	mta, local := testenv.MTA(t), testenv.LocalDomain(t)
	imapAddr, users := testenv.IMAP(t)
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		testenv.Unavailable(t, "openssl is not installed")
	}
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "smime.crt"), filepath.Join(dir, "smime.key")
	if out, err := exec.Command(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
		"-subj", "/CN=helpmesh alarms/emailAddress=helpdesk@helpmesh.test", "-addext", "extendedKeyUsage=emailProtection",
		"-keyout", keyPath, "-out", certPath).CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		in := apptest.Start(t, e, func(cfg *config.Config) {
			cfg.SMTPRelay = "smtp://" + mta
			cfg.MailFrom = "helpdesk@helpmesh.test"
			cfg.SMIMECert, cfg.SMIMEKey = certPath, keyPath
		})
		ctx := context.Background()
		in.NewUnit(t, "triage", true)
		in.NewUnit(t, "storage", false)
		samU, staff := in.NewUser(t, "sam@uni.example", "user")
		in.AddMember(t, "storage", samU.ID, "member")
		if _, err := in.Admin.CreateService(ctx, client.Service{Slug: "grid", Name: "Grid", Unit: "storage",
			AlarmEmail: "hmtest@" + local, AlarmTeams: []string{"atlas-ops"}}); err != nil {
			t.Fatal(err)
		}
		opsU, err := in.Admin.CreateUser(ctx, client.NewUser{Email: "hmstaff@" + local, Name: "ops", Team: "atlas-ops"})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := in.Admin.CreateToken(ctx, opsU.ID, client.NewToken{Name: "t"})
		if err != nil {
			t.Fatal(err)
		}
		tk, err := in.Client(tok.Token).CreateTicket(ctx, client.NewTicket{Subject: "SE down", Body: "all transfers fail", Service: "grid", Kind: "alarm"})
		if err != nil {
			t.Fatal(err)
		}

		// sent waits for the sent mail about tk of a kind to rcpt.
		sent := func(kind, rcpt string) mail.OutboxEntry {
			t.Helper()
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				entries, err := in.App.Mail.Outbox(ctx, "", 0, 100)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range entries {
					if m.TicketID == tk.ID && m.State == "sent" && m.Kind == kind && m.To == rcpt {
						return m
					}
				}
			}
			t.Fatalf("no %s mail to %s sent within 20s", kind, rcpt)
			return mail.OutboxEntry{}
		}
		alarm := sent(mail.KindAlarm, "hmtest@"+local)
		if _, err := staff.Reply(ctx, tk.ID, "looking at it"); err != nil {
			t.Fatal(err)
		}
		reply := sent(mail.KindReply, "hmstaff@"+local)
		if raw, err := in.App.Mail.OutboxRaw(ctx, reply.ID); err != nil || bytes.Contains(raw, []byte("multipart/signed")) {
			t.Errorf("reply mail signed (%v):\n%s", err, raw)
		}

		raw := testenv.FetchDelivered(t, imapAddr, "hmtest", users["hmtest"], alarm.MessageID)
		s := string(raw)
		if !strings.Contains(s, "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"") ||
			!strings.Contains(s, "Content-Type: application/pkcs7-signature") || !strings.Contains(s, "ALARM [helpmesh #") {
			t.Fatalf("alarm mail in the mailbox:\n%s", s)
		}
		msgPath, signerPath := filepath.Join(t.TempDir(), "alarm.eml"), filepath.Join(t.TempDir(), "signer.pem")
		if err := os.WriteFile(msgPath, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(openssl, "smime", "-verify", "-noverify", "-in", msgPath, "-signer", signerPath).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verification successful") || !strings.Contains(string(out), "all transfers fail") {
			t.Fatalf("openssl smime -verify: %v\n%s", err, out)
		}
		subj, err := exec.Command(openssl, "x509", "-in", signerPath, "-noout", "-subject").CombinedOutput()
		if err != nil || !strings.Contains(string(subj), "helpmesh alarms") {
			t.Errorf("signer: %v %s", err, subj)
		}

		// A changed byte of the body fails verification.
		tampered := bytes.Replace(raw, []byte("all transfers fail"), []byte("all transfers fine"), 1)
		if err := os.WriteFile(msgPath, tampered, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(openssl, "smime", "-verify", "-noverify", "-in", msgPath).CombinedOutput(); err == nil {
			t.Errorf("a tampered alarm verifies:\n%s", out)
		}
	})
}
