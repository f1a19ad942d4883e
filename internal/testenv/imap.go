package testenv

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// FetchDelivered waits (up to 60s) for the mail with Message-ID mid in the
// Dovecot INBOX of account at imapAddr (IMAP) and returns it.
func FetchDelivered(t testing.TB, imapAddr, account, password, mid string) []byte {
	t.Helper()
	c, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(account, password).Wait(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: mid}}}, nil).Wait()
		if err == nil && len(data.AllUIDs()) > 0 {
			sec := &imap.FetchItemBodySection{Peek: true}
			msgs, err := c.Fetch(imap.UIDSetNum(data.AllUIDs()[0]), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{sec}}).Collect()
			if err == nil && len(msgs) > 0 {
				return msgs[0].FindBodySection(sec)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for mail %s in the mailbox of %s", mid, account)
	return nil
}
