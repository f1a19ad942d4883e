package apptest

// A service in the external mode synchronised with the real Redmine 5 of
// the test services (testenv.Redmine5), end to end: the engine of package
// connector with the kind redmine5.

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/connector/redmine5"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/testenv"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// redmineJournal is a journal as Redmine's REST API shows it.
type redmineJournal struct {
	User         struct{ ID int64 } `json:"user"`
	Notes        string             `json:"notes"`
	PrivateNotes bool               `json:"private_notes"`
}

// redmineIssue reads issue id with its journals, as Redmine's admin.
func redmineIssue(t *testing.T, rm testenv.Redmine5Instance, id string) (status string, journals []redmineJournal) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rm.URL+"/issues/"+id+".json?include=journals", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Redmine-API-Key", rm.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct {
		Issue struct {
			Status   struct{ Name string } `json:"status"`
			Journals []redmineJournal      `json:"journals"`
		} `json:"issue"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET issue %s: %s", id, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a.Issue.Status.Name, a.Issue.Journals
}

func TestRedmine5ConnectorEndToEnd(t *testing.T) {
	rm := testenv.Redmine5(t)
	Engines(t, func(t *testing.T, e Engine) {
		in := Start(t, e, func(cfg *config.Config) { cfg.OutboundAllow = []string{"127.0.0.0/8"} })
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		eng := in.App.Connectors
		if _, err := eng.Create(ctx, connector.NewConnector{Name: "redmine", Kind: connector.Redmine5, URL: rm.URL,
			Token: rm.Key, Project: rm.Project, TrackerID: rm.TrackerID, PollInterval: "1h"}); err != nil {
			t.Fatal(err)
		}
		in.NewUnit(t, "ops", true)
		if _, err := in.App.Units.CreateService(ctx, unit.Service{Slug: "ext", Name: "ext", UnitSlug: "ops",
			Mode: unit.External, Connector: "redmine"}); err != nil {
			t.Fatal(err)
		}
		_, req := in.NewUser(t, "req@example.org", "user")
		staffU, staff := in.NewUser(t, "staff@example.org", "user")
		in.AddMember(t, "ops", staffU.ID, "member")

		tk, err := req.CreateTicket(ctx, client.NewTicket{Subject: "Storage quota exceeded", Body: "Cannot write to /data.", Service: "ext"})
		if err != nil {
			t.Fatal(err)
		}
		// sendAll sends what is queued until nothing is left.
		sendAll := func() {
			t.Helper()
			deadline := time.Now().Add(time.Minute)
			for {
				if _, err := eng.SendDue(ctx, "redmine"); err != nil {
					t.Fatalf("SendDue: %v", err)
				}
				if c, err := eng.Get(ctx, "redmine"); err == nil && c.Pending == 0 {
					return
				}
				if time.Now().After(deadline) {
					t.Fatal("the connector's queue did not empty within a minute")
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		var remote string
		for deadline := time.Now().Add(time.Minute); remote == ""; {
			sendAll()
			links, err := eng.Links(ctx, tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(links) == 1 {
				remote = links[0].RemoteID
			} else if time.Now().After(deadline) {
				t.Fatal("the ticket was not created in Redmine within a minute")
			} else {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if err := eng.PollNow(ctx, "redmine"); err != nil { // the first poll sets the cursor
			t.Fatal(err)
		}

		// helpmesh to Redmine: a reply, an internal note, a status (files
		// from helpmesh: TestSyncBothWays).
		if _, err := staff.Reply(ctx, tk.ID, "Which project directory?"); err != nil {
			t.Fatal(err)
		}
		if _, err := staff.Note(ctx, tk.ID, "Quota set by the VO manager."); err != nil {
			t.Fatal(err)
		}
		inProgress := "in_progress"
		if _, err := staff.UpdateTicket(ctx, tk.ID, client.TicketUpdate{Status: &inProgress}); err != nil {
			t.Fatal(err)
		}
		var status string
		var journals []redmineJournal
		for deadline := time.Now().Add(time.Minute); ; {
			sendAll()
			status, journals = redmineIssue(t, rm, remote)
			if status == "In Progress" || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		var public, private bool
		for _, j := range journals {
			public = public || (strings.Contains(j.Notes, "Which project directory?") && !j.PrivateNotes)
			private = private || (strings.Contains(j.Notes, "Quota set by the VO manager.") && j.PrivateNotes)
		}
		if status != "In Progress" || !public || !private {
			t.Fatalf("Redmine issue %s: status %q, public reply %v, private note %v; journals %+v", remote, status, public, private, journals)
		}

		// Redmine to helpmesh: another user answers with a file, raises the
		// priority and resolves.
		other, err := redmine5.New(connector.Config{URL: rm.URL, Token: rm.OtherKey, Project: rm.Project,
			Client: loopbackClient(t)})
		if err != nil {
			t.Fatal(err)
		}
		ref := connector.Ref{RemoteID: remote}
		for _, ch := range []connector.Change{
			{Kind: connector.KindMessage, Body: "Raised the quota to 2 TB.",
				Attachments: []connector.Attachment{{Filename: "new-quota.txt", ContentType: "text/plain", Data: []byte("2 TB")}}},
			{Kind: connector.KindPriority, Priority: "very_urgent"},
		} {
			if err := other.Push(ctx, ref, ch); err != nil {
				t.Fatal(err)
			}
		}
		if err := other.Push(ctx, ref, connector.Change{Kind: connector.KindStatus, Status: "solved"}); err != nil {
			t.Fatal(err)
		}
		for range 2 { // a second poll changes nothing
			if err := eng.PollNow(ctx, "redmine"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := staff.Ticket(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != "solved" || got.Priority != "very_urgent" {
			t.Errorf("helpmesh status %q priority %q, want solved and very_urgent from Redmine", got.Status, got.Priority)
		}
		msgs, err := staff.Messages(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range msgs {
			if strings.Contains(m.Body, "Raised the quota to 2 TB.") {
				n++
				if m.Source != "peer" || m.Internal {
					t.Errorf("message from Redmine: source %q internal %v, want a public peer message", m.Source, m.Internal)
				}
				if len(m.Attachments) != 1 || m.Attachments[0].Filename != "new-quota.txt" {
					t.Fatalf("message from Redmine: files %+v, want new-quota.txt", m.Attachments)
				}
				var content strings.Builder
				if err := staff.Download(ctx, m.Attachments[0].ID, &content); err != nil || content.String() != "2 TB" {
					t.Errorf("new-quota.txt: %q, %v; want 2 TB", content.String(), err)
				}
			}
			if strings.Contains(m.Body, "Which project directory?") && m.Source == "peer" {
				t.Errorf("helpmesh's own reply came back from Redmine as an echo")
			}
		}
		if n != 1 {
			t.Errorf("the reply from Redmine is in helpmesh %d times, want once; messages %+v", n, msgs)
		}
	})
}

// loopbackClient may dial 127.0.0.0/8 (HELPMESH_OUTBOUND_ALLOW).
func loopbackClient(t *testing.T) *http.Client {
	t.Helper()
	p, err := outbound.NewPolicy([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	return p.Client(20 * time.Second)
}
