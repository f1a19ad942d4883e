package apptest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/tmf621"
)

// filesOf returns the attachments of ticket id's messages whose body
// contains text, with their content.
func filesOf(t *testing.T, c *client.Client, id int64, text string) (n int, files map[string]client.Attachment, content map[string]string) {
	t.Helper()
	ctx := context.Background()
	ms, err := c.Messages(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	files, content = map[string]client.Attachment{}, map[string]string{}
	for _, m := range ms {
		if !strings.Contains(m.Body, text) {
			continue
		}
		n++
		for _, a := range m.Attachments {
			var b bytes.Buffer
			if err := c.Download(ctx, a.ID, &b); err != nil {
				t.Fatalf("download %s: %v", a.Filename, err)
			}
			files[a.Filename], content[a.Filename] = a, b.String()
		}
	}
	return n, files, content
}

// TestHelpmeshAttachments: between two real helpmesh instances (the
// connector engine, kind helpmesh), the file of a ticket's first message
// is on the ticket created on B; a reply with files written on A
// arrives on B's ticket with the files (pushed as TMF621 attachment
// entries), and one written on B arrives on A's (read from B's catch-up
// feed after its push), each once. The type a file is stored with is
// decided from its content: an HTML file declared as a PNG image is not
// stored as an image.
func TestHelpmeshAttachments(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		ctx := context.Background()
		a, b, bea, tok := federatedPair(t, e)
		annID, alf, ann := connectToB(t, a, b.URL, tok)
		// The API opens tickets without files (mail does): the store, as
		// the mail gateway does.
		annP, err := a.App.Users.Principal(ctx, annID)
		if err != nil {
			t.Fatal(err)
		}
		sum, size, err := a.App.Blobs.Put(ctx, strings.NewReader("attached when opened"), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := a.App.Units.Service(ctx, "gridftp")
		if err != nil {
			t.Fatal(err)
		}
		local, err := a.App.Tickets.Create(ctx, annP, ticket.NewTicket{Subject: "Transfers fail", Body: "gridftp answers 530",
			ServiceID: svc.ID, UnitID: svc.UnitID,
			Attachments: []ticket.NewAttachment{{Filename: "first.txt", ContentType: "text/plain", Size: size, SHA256: sum}}})
		if err != nil {
			t.Fatal(err)
		}
		remote := remoteOf(t, a, local.ID)
		eventually(t, "the first message's file on B", func() bool {
			n, files, content := filesOf(t, bea, remote, "gridftp answers 530")
			return n == 1 && len(files) == 1 && content["first.txt"] == "attached when opened"
		})

		// A -> B: a reply with a log and an HTML page that says it is a PNG.
		logText := "530 Login incorrect\n"
		if _, err := ann.AddMessage(ctx, local.ID, "the log, from A", false, []client.File{
			{Name: "transfer.log", ContentType: "text/plain", Content: strings.NewReader(logText)},
			{Name: "shot.png", ContentType: "image/png", Content: strings.NewReader("<html><script>alert(1)</script></html>")},
		}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "A's files on B", func() bool {
			n, files, _ := filesOf(t, bea, remote, "the log, from A")
			return n == 1 && len(files) == 2
		})
		_, files, content := filesOf(t, bea, remote, "the log, from A")
		if content["transfer.log"] != logText || files["transfer.log"].ContentType != "text/plain" {
			t.Errorf("transfer.log on B: %q as %s", content["transfer.log"], files["transfer.log"].ContentType)
		}
		if ct := files["shot.png"].ContentType; ct == "image/png" {
			t.Errorf("an HTML file declared as a PNG is stored on B as %s", ct)
		}

		// B -> A: an internal note with a binary file.
		bin := string([]byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'})
		if _, err := bea.AddMessage(ctx, remote, "the graph, from B", true, []client.File{
			{Name: "graph.png", ContentType: "image/png", Content: strings.NewReader(bin)},
		}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B's file on A", func() bool {
			n, files, _ := filesOf(t, alf, local.ID, "the graph, from B")
			return n == 1 && len(files) == 1
		})
		_, files, content = filesOf(t, alf, local.ID, "the graph, from B")
		if content["graph.png"] != bin || files["graph.png"].ContentType != "image/png" {
			t.Errorf("graph.png on A: %d bytes as %s", len(content["graph.png"]), files["graph.png"].ContentType)
		}

		// Bad files from a peer are refused with a 400, never stored.
		notePath := "/federation/v1/troubleTicket/" + strconv.FormatInt(remote, 10) + "/note"
		for name, body := range map[string]string{
			"not base64":     `{"text":"x","attachment":[{"name":"a.txt","size":3,"content":"!!!!"}]}`,
			"size mismatch":  `{"text":"x","attachment":[{"name":"a.txt","size":9,"content":"YWJj"}]}`,
			"no content":     `{"text":"x","attachment":[{"name":"a.txt","size":3}]}`,
			"no name":        `{"text":"x","attachment":[{"name":"","size":3,"content":"YWJj"}]}`,
			"too large":      fmt.Sprintf(`{"text":"x","attachment":[{"name":"a","size":%d,"content":"YWJj"}]}`, tmf621.MaxNoteFiles+1),
			"a control char": `{"text":"x","attachment":[{"name":"a\nb","size":3,"content":"YWJj"}]}`,
		} {
			if r := b.Do(t, "POST", notePath, tok, "application/json", strings.NewReader(body)); r.Status != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", name, r.Status, r.Body)
			}
		}

		// Once: more polls (the feed read again from the start) and a
		// second look bring no copy.
		if _, err := a.App.DB.W.ExecContext(ctx, `UPDATE connectors SET poll_cursor = '0' WHERE name = 'b'`); err != nil {
			t.Fatal(err)
		}
		if err := a.App.Connectors.PollNow(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if n, files, _ := filesOf(t, alf, local.ID, "the graph, from B"); n != 1 || len(files) != 1 {
			t.Errorf("B's note on A %d times with %d files, want once", n, len(files))
		}
		if n, files, _ := filesOf(t, bea, remote, "the log, from A"); n != 1 || len(files) != 2 {
			t.Errorf("A's reply on B %d times with %d files, want once", n, len(files))
		}
		if n, _, _ := filesOf(t, alf, local.ID, "the log, from A"); n != 1 {
			t.Errorf("A's own reply came back from B: %d times", n)
		}
	})
}
