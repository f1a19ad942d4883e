package config

import (
	"strings"
	"testing"
	"time"
)

func loadEnv(t *testing.T, env map[string]string) (Config, error) {
	t.Helper()
	c, err := Load(nil, nil, func(k string) string { return env[k] })
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

func TestMailSettings(t *testing.T) {
	c, err := loadEnv(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.IMAPURL != "" || c.IMAPInterval != time.Minute || c.MailRejectUnknown || c.MailReopenWindow != 14*24*time.Hour {
		t.Errorf("defaults: %q %s %v %s", c.IMAPURL, c.IMAPInterval, c.MailRejectUnknown, c.MailReopenWindow)
	}
	c, err = loadEnv(t, map[string]string{
		"HELPMESH_IMAP_URL":            "imap://hmtest:p%40ss@127.0.0.1:143/INBOX?security=insecure&address=Support@Example.org",
		"HELPMESH_IMAP_INTERVAL":       "30s",
		"HELPMESH_MAIL_REJECT_UNKNOWN": "true",
		"HELPMESH_MAIL_REOPEN_WINDOW":  "7d",
	})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := c.IMAPMailbox()
	if err != nil {
		t.Fatal(err)
	}
	want := IMAPMailbox{Addr: "127.0.0.1:143", Username: "hmtest", Password: "p@ss", Mailbox: "INBOX", Security: "insecure", Address: "support@example.org"}
	if mb != want || c.IMAPInterval != 30*time.Second || !c.MailRejectUnknown || c.MailReopenWindow != 7*24*time.Hour {
		t.Errorf("got %+v %s %v %s", mb, c.IMAPInterval, c.MailRejectUnknown, c.MailReopenWindow)
	}
	c.IMAPURL = "imaps://u:p@mail.example.org/Support%20Queue"
	if mb, err := c.IMAPMailbox(); err != nil || mb.Addr != "mail.example.org:993" || mb.Security != "tls" || mb.Mailbox != "Support Queue" {
		t.Errorf("imaps: %+v %v", mb, err)
	}

	for env, msg := range map[[2]string]string{
		{"HELPMESH_IMAP_URL", "pop3://u:p@host/INBOX"}:                          `scheme "pop3" is not imap or imaps`,
		{"HELPMESH_IMAP_URL", "imap://host/INBOX"}:                              "no user name",
		{"HELPMESH_IMAP_URL", "imap://u:p@mail.example.org/?security=insecure"}: "allowed only to a loopback host",
		{"HELPMESH_IMAP_URL", "imap://u:p@127.0.0.1/?tls=off"}:                  `unknown option "tls"`,
		{"HELPMESH_IMAP_INTERVAL", "soon"}:                                      "HELPMESH_IMAP_INTERVAL: \"soon\" is not a duration",
		{"HELPMESH_IMAP_INTERVAL", "10ms"}:                                      "HELPMESH_IMAP_INTERVAL: 10ms is shorter than 1s",
		{"HELPMESH_MAIL_REJECT_UNKNOWN", "maybe"}:                               `HELPMESH_MAIL_REJECT_UNKNOWN: "maybe" is not true or false`,
		{"HELPMESH_MAIL_REOPEN_WINDOW", "0s"}:                                   "HELPMESH_MAIL_REOPEN_WINDOW: must be positive",
		{"HELPMESH_MAIL_REOPEN_WINDOW", "xd"}:                                   "not a number of days",
	} {
		_, err := loadEnv(t, map[string]string{env[0]: env[1]})
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s=%s: error %v, want %q", env[0], env[1], err, msg)
		}
	}
}
