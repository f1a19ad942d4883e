package redmine5

// Tests against the real Redmine 5 that scripts/services starts
// (testenv.Redmine5). Each test creates issues (or a project) of its own.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// loopbackClient is an outbound client that may dial 127.0.0.0/8, as
// HELPMESH_OUTBOUND_ALLOW=127.0.0.0/8 makes it.
func loopbackClient(t testing.TB, timeout time.Duration) *http.Client {
	t.Helper()
	p, err := outbound.NewPolicy([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	return p.Client(timeout)
}

// realClients returns a client with the connector's key (Redmine's admin)
// and one with another user's key (a person working in Redmine), both on
// project (the test project if "").
func realClients(t *testing.T, project string) (conn, other *Client, rm testenv.Redmine5Instance) {
	t.Helper()
	rm = testenv.Redmine5(t)
	// An instance of the test's own: Create finds the issues of its
	// ticket ids, and runs share the Redmine.
	instance := "https://helpmesh.test/" + token(t)
	if project == "" {
		project = rm.Project
	}
	mk := func(key string) *Client {
		c, err := New(connector.Config{
			Name: "redmine-test", Kind: connector.Redmine5, URL: rm.URL, Token: key,
			Project: project, TrackerID: rm.TrackerID, Client: loopbackClient(t, 30*time.Second),
			Instance: instance,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return mk(rm.Key), mk(rm.OtherKey), rm
}

func token(t testing.TB) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustFetch(t *testing.T, ctx context.Context, c *Client, ref connector.Ref) *issue {
	t.Helper()
	id, err := issueID(ref)
	if err != nil {
		t.Fatal(err)
	}
	is, err := c.fetchIssue(ctx, id)
	if err != nil {
		t.Fatalf("fetch issue %s: %v", ref.RemoteID, err)
	}
	return is
}

func TestCreateAndPushReadBack(t *testing.T) {
	conn, _, rm := realClients(t, "")
	ctx := testCtx(t)
	tok := token(t)
	png := []byte("\x89PNG\r\n\x1a\nnot really an image " + tok)
	ref, err := conn.Create(ctx, connector.Ticket{
		Subject:     "VO job submission fails " + tok,
		Body:        "Jobs end in Held state since this morning.",
		Requester:   connector.Person{Name: "Ada Requester", Email: "ada@example.org"},
		Status:      "in_progress",
		Priority:    "urgent",
		LocalID:     42,
		Attachments: []connector.Attachment{{Filename: "screen.png", ContentType: "image/png", Data: png}},
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if ref.RemoteURL != rm.URL+"/issues/"+ref.RemoteID {
		t.Errorf("RemoteURL = %q, want the issue's page", ref.RemoteURL)
	}
	is := mustFetch(t, ctx, conn, ref)
	if is.Subject != "VO job submission fails "+tok || is.Tracker.ID != rm.TrackerID || is.Project.ID != conn.lookup.projectID {
		t.Errorf("issue = subject %q tracker %d project %d", is.Subject, is.Tracker.ID, is.Project.ID)
	}
	if is.Status.Name != "In Progress" || is.Priority.Name != "High" {
		t.Errorf("status %q priority %q, want In Progress and High", is.Status.Name, is.Priority.Name)
	}
	for _, want := range []string{"Jobs end in Held state", "Ada Requester <ada@example.org>", "helpmesh ticket: [hm:" + conn.instance + "/42]"} {
		if !bytes.Contains([]byte(is.Description), []byte(want)) {
			t.Errorf("description %q lacks %q", is.Description, want)
		}
	}
	if len(is.Attachments) != 1 || is.Attachments[0].Filename != "screen.png" {
		t.Fatalf("attachments = %+v, want screen.png", is.Attachments)
	}
	if f, _, err := conn.download(ctx, is.Attachments[0]); err != nil || !bytes.Equal(f.Data, png) {
		t.Errorf("attachment content: %v, equal=%v", err, err == nil && bytes.Equal(f.Data, png))
	}

	staff := connector.Person{Name: "Sam Staff", Email: "sam@helpmesh.test"}
	log := []byte("line 1\nline 2 " + tok + "\n")
	for _, ch := range []connector.Change{
		{Kind: connector.KindMessage, Body: "Please send the job id.", Author: staff},
		{Kind: connector.KindNote, Body: "Probably the CE at site X.", Author: staff,
			Attachments: []connector.Attachment{{Filename: "ce.log", ContentType: "text/plain", Data: log}}},
		{Kind: connector.KindStatus, Status: "waiting_for_reply"},
		{Kind: connector.KindPriority, Priority: "top_priority"},
	} {
		if err := conn.Push(ctx, ref, ch); err != nil {
			t.Fatalf("Push %s: %v", ch.Kind, err)
		}
	}
	is = mustFetch(t, ctx, conn, ref)
	if is.Status.Name != "Feedback" || is.Priority.Name != "Immediate" {
		t.Errorf("after pushes: status %q priority %q, want Feedback and Immediate", is.Status.Name, is.Priority.Name)
	}
	// The first journal is Create's status; Redmine splits the note with
	// a file in two journals, and fetchIssue joins the file to the note.
	if len(is.Journals) != 6 {
		t.Fatalf("%d journals, want 6: %+v", len(is.Journals), is.Journals)
	}
	if d := detailNames(is.Journals[0]); d["attr"] != "status_id" {
		t.Errorf("first journal %+v, want Create's status change", is.Journals[0])
	}
	msg, note := is.Journals[1], is.Journals[3]
	if msg.Notes != "Sam Staff <sam@helpmesh.test> (helpmesh) wrote:\n\nPlease send the job id." || msg.PrivateNotes {
		t.Errorf("message journal: notes %q private %v", msg.Notes, msg.PrivateNotes)
	}
	if !note.PrivateNotes || !bytes.Contains([]byte(note.Notes), []byte("Probably the CE at site X.")) {
		t.Errorf("note journal: notes %q private %v, want a private note", note.Notes, note.PrivateNotes)
	}
	var logAt *attachment
	for i := range is.Attachments {
		if is.Attachments[i].Filename == "ce.log" {
			logAt = &is.Attachments[i]
		}
	}
	if logAt == nil {
		t.Fatalf("ce.log not attached: %+v", is.Attachments)
	}
	if f, _, err := conn.download(ctx, *logAt); err != nil || !bytes.Equal(f.Data, log) {
		t.Errorf("ce.log content differs (%v)", err)
	}
	if d := detailNames(note); d["attachment"] != strconv.FormatInt(logAt.ID, 10) {
		t.Errorf("the note's journal does not add ce.log: %+v", note.Details)
	}

	// Refused for good: a status helpmesh does not have, an issue that
	// does not exist.
	if err := conn.Push(ctx, ref, connector.Change{Kind: connector.KindStatus, Status: "bogus"}); !isPermanent(err) {
		t.Errorf("unknown status: %v, want ErrPermanent", err)
	}
	if err := conn.Push(ctx, connector.Ref{RemoteID: "999999999"}, connector.Change{Kind: connector.KindMessage, Body: "x"}); !isPermanent(err) {
		t.Errorf("missing issue: %v, want ErrPermanent", err)
	}
}

func TestCreateTwiceOpensOneIssue(t *testing.T) {
	conn, _, _ := realClients(t, "")
	ctx := testCtx(t)
	// Ticket 42's body quotes ticket 7's marker: that names nothing.
	forged := connector.Ticket{Subject: "forged", Body: "see " + conn.refMarker(7), LocalID: 42}
	first, err := conn.Create(ctx, forged)
	if err != nil {
		t.Fatal(err)
	}
	again, err := conn.Create(ctx, forged)
	if err != nil || again != first {
		t.Fatalf("Create of the same ticket again = %+v, %v; want %+v", again, err, first)
	}
	for _, id := range []int64{7, 4, 420} {
		ref, err := conn.Create(ctx, connector.Ticket{Subject: "ticket " + strconv.FormatInt(id, 10), Body: "b", LocalID: id})
		if err != nil || ref == first {
			t.Errorf("ticket %d: %+v, %v; want an issue of its own", id, ref, err)
		}
	}
}

// detailNames maps each detail's property to its name.
func detailNames(j journal) map[string]string {
	m := map[string]string{}
	for _, d := range j.Details {
		m[d.Property] = d.Name
	}
	return m
}

func TestPollReturnsOthersChangesOnce(t *testing.T) {
	conn, other, _ := realClients(t, "")
	ctx := testCtx(t)
	tok := token(t)
	ref, err := conn.Create(ctx, connector.Ticket{Subject: "poll " + tok, Body: "first", Priority: "less_urgent"})
	if err != nil {
		t.Fatal(err)
	}
	unlinked, err := conn.Create(ctx, connector.Ticket{Subject: "unlinked " + tok, Body: "x"})
	if err != nil {
		t.Fatal(err)
	}
	changes, cursor, err := conn.Poll(ctx, "", []connector.Ref{ref})
	if err != nil || len(changes) != 0 || cursor == "" {
		t.Fatalf(`Poll(""): %d changes, cursor %q, %v; want none and a cursor`, len(changes), cursor, err)
	}

	// The connector's own note is an echo; the other user's changes are not.
	if err := conn.Push(ctx, ref, connector.Change{Kind: connector.KindMessage, Body: "echo " + tok}); err != nil {
		t.Fatal(err)
	}
	file := []byte("trace " + tok)
	for _, ch := range []connector.Change{
		{Kind: connector.KindMessage, Body: "The job id is 1234."},
		{Kind: connector.KindNote, Body: "internal " + tok, Attachments: []connector.Attachment{{Filename: "trace.txt", ContentType: "text/plain", Data: file}}},
		{Kind: connector.KindStatus, Status: "solved"},
		{Kind: connector.KindPriority, Priority: "very_urgent"},
	} {
		if err := other.Push(ctx, ref, ch); err != nil {
			t.Fatalf("other user's %s: %v", ch.Kind, err)
		}
	}
	if err := other.Push(ctx, unlinked, connector.Change{Kind: connector.KindMessage, Body: "not linked"}); err != nil {
		t.Fatal(err)
	}

	changes, next, err := conn.Poll(ctx, cursor, []connector.Ref{ref})
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if len(changes) != 4 {
		t.Fatalf("Poll returned %d changes, want 4: %+v", len(changes), changes)
	}
	want := []struct {
		kind connector.ChangeKind
		ok   func(connector.Change) bool
	}{
		{connector.KindMessage, func(c connector.Change) bool { return c.Body == "The job id is 1234." }},
		{connector.KindNote, func(c connector.Change) bool {
			return c.Body == "internal "+tok && len(c.Attachments) == 1 && c.Attachments[0].Filename == "trace.txt" &&
				bytes.Equal(c.Attachments[0].Data, file) && c.Attachments[0].ContentType == "text/plain"
		}},
		{connector.KindStatus, func(c connector.Change) bool { return c.Status == "solved" }},
		{connector.KindPriority, func(c connector.Change) bool { return c.Priority == "very_urgent" }},
	}
	ids := map[string]bool{}
	for i, w := range want {
		c := changes[i]
		if c.Kind != w.kind || !w.ok(c) {
			t.Errorf("change %d = %+v, want a %s", i, c, w.kind)
		}
		if c.Author.Name != "Other Person" || c.Author.Email != "hmother@example.org" {
			t.Errorf("change %d author = %+v, want the other user", i, c.Author)
		}
		if c.Ticket != ref || c.At.IsZero() || c.RemoteID == "" || ids[c.RemoteID] {
			t.Errorf("change %d: ticket %+v at %v remote id %q (unique ids: %v)", i, c.Ticket, c.At, c.RemoteID, ids)
		}
		ids[c.RemoteID] = true
	}

	// Asked again, nothing is returned twice; a later change is returned.
	again, next2, err := conn.Poll(ctx, next, []connector.Ref{ref})
	if err != nil || len(again) != 0 {
		t.Fatalf("second Poll: %d changes (%+v), %v; want none", len(again), again, err)
	}
	if err := other.Push(ctx, ref, connector.Change{Kind: connector.KindStatus, Status: "unsolved"}); err != nil {
		t.Fatal(err)
	}
	later, _, err := conn.Poll(ctx, next2, []connector.Ref{ref})
	if err != nil || len(later) != 1 || later[0].Kind != connector.KindStatus || later[0].Status != "unsolved" {
		t.Fatalf("third Poll: %+v, %v; want the status unsolved", later, err)
	}

	if _, _, err := conn.Poll(ctx, "not-a-cursor", []connector.Ref{ref}); !isPermanent(err) {
		t.Errorf("bad cursor: %v, want ErrPermanent", err)
	}
}

// createProject makes a project of the test's own over REST.
func createProject(t *testing.T, ctx context.Context, rm testenv.Redmine5Instance, identifier string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"project": map[string]any{
		"name": "import " + identifier, "identifier": identifier, "is_public": false,
		"tracker_ids": []int64{rm.TrackerID}, "enabled_module_names": []string{"issue_tracking"},
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rm.URL+"/projects.json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Redmine-API-Key", rm.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create project %s: %s", identifier, resp.Status)
	}
}

func TestSourcePagesThroughProject(t *testing.T) {
	rm := testenv.Redmine5(t)
	ctx := testCtx(t)
	project := "import-" + token(t)
	createProject(t, ctx, rm, project)
	conn, _, _ := realClients(t, project)
	conn.sourcePage = 2

	var refs []connector.Ref
	for i := range 5 {
		tk := connector.Ticket{Subject: "imported " + strconv.Itoa(i), Body: "body " + strconv.Itoa(i), Priority: "urgent"}
		if i == 1 {
			tk.Attachments = []connector.Attachment{{Filename: "first.txt", ContentType: "text/plain", Data: []byte("first file")}}
		}
		ref, err := conn.Create(ctx, tk)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	// An import keeps the connector's own changes too.
	if err := conn.Push(ctx, refs[1], connector.Change{Kind: connector.KindMessage, Body: "a reply",
		Attachments: []connector.Attachment{{Filename: "reply.txt", ContentType: "text/plain", Data: []byte("reply file")}}}); err != nil {
		t.Fatal(err)
	}
	if err := conn.Push(ctx, refs[1], connector.Change{Kind: connector.KindStatus, Status: "closed"}); err != nil {
		t.Fatal(err)
	}

	var got []connector.Ticket
	cursor, pages := "", 0
	for {
		page, next, total, err := conn.Tickets(ctx, cursor)
		if err != nil {
			t.Fatalf("Tickets(%q): %v", cursor, err)
		}
		if total != 5 {
			t.Errorf("total = %d, want 5", total)
		}
		pages++
		got = append(got, page...)
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("Tickets does not end")
		}
		cursor = next
	}
	if pages != 3 || len(got) != 5 {
		t.Fatalf("%d pages, %d tickets; want 3 and 5", pages, len(got))
	}
	for i, tk := range got {
		if tk.Ref != refs[i] || tk.Subject != "imported "+strconv.Itoa(i) || tk.Priority != "urgent" {
			t.Errorf("ticket %d = %+v, want %+v in order", i, tk, refs[i])
		}
		if tk.Requester.Name != "Redmine Admin" || tk.Created.IsZero() {
			t.Errorf("ticket %d requester %+v created %v", i, tk.Requester, tk.Created)
		}
	}
	one := got[1]
	if one.Status != "closed" || len(one.Attachments) != 1 || string(one.Attachments[0].Data) != "first file" {
		t.Errorf("ticket 1: status %q, first-message files %+v", one.Status, one.Attachments)
	}
	if len(one.History) != 2 || one.History[0].Kind != connector.KindMessage || one.History[0].Body != "a reply" ||
		len(one.History[0].Attachments) != 1 || string(one.History[0].Attachments[0].Data) != "reply file" ||
		one.History[1].Kind != connector.KindStatus || one.History[1].Status != "closed" {
		t.Errorf("ticket 1 history = %+v", one.History)
	}
	if _, _, _, err := conn.Tickets(ctx, "-1"); !isPermanent(err) {
		t.Errorf("bad cursor: %v, want ErrPermanent", err)
	}
}
