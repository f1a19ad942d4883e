package rt5

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// These tests talk to the Request Tracker 5 that scripts/services starts
// (testenv.RT5). RT is shared: every test makes tickets (or a queue) of
// its own and looks only at those.

func loopbackClient(t *testing.T) *http.Client {
	t.Helper()
	pol, err := outbound.NewPolicy([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	return pol.Client(60 * time.Second)
}

func realClient(t *testing.T, queue string) (*Client, testenv.RT5Service) {
	t.Helper()
	env := testenv.RT5(t)
	if queue == "" {
		queue = env.Queue
	}
	c, err := New(connector.Config{Name: "rt", Kind: connector.RT5, URL: env.URL, Token: env.Token,
		Queue: queue, Client: loopbackClient(t), Instance: "https://helpmesh.test"})
	if err != nil {
		t.Fatal(err)
	}
	return c, env
}

// rtRoot plays a person working in RT: REST2 calls with root's token.
type rtRoot struct {
	t   *testing.T
	env testenv.RT5Service
}

func (r rtRoot) do(method, path string, in, out any) {
	r.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, r.env.URL+"/REST/2.0"+path, body)
	req.Header.Set("Authorization", "token "+r.env.RootToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("root %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode > 299 {
		r.t.Fatalf("root %s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			r.t.Fatalf("root %s %s: %v: %s", method, path, err, raw)
		}
	}
}

// history returns the ticket's transactions as root sees them, with the
// text and files of each.
type seenTxn struct {
	txn
	body  string
	files []connector.Attachment
}

func (r rtRoot) history(c *Client, id string) []seenTxn {
	r.t.Helper()
	var p page[txn]
	r.do("GET", "/ticket/"+id+"/history"+query("per_page", "100", "fields", txnFields), nil, &p)
	var out []seenTxn
	for _, tx := range p.Items {
		s := seenTxn{txn: tx}
		if tx.Type == "Create" || tx.Type == "Correspond" || tx.Type == "Comment" {
			var err error
			if s.body, s.files, err = c.content(context.Background(), int64(tx.ID)); err != nil {
				r.t.Fatal(err)
			}
		}
		out = append(out, s)
	}
	return out
}

func token(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return t.Name() + "-" + hex.EncodeToString(b)
}

func TestRealCreateAndPush(t *testing.T) {
	c, env := realClient(t, "")
	root := rtRoot{t, env}
	ctx := context.Background()
	subject := token(t)
	ref, err := c.Create(ctx, connector.Ticket{
		Subject: subject, Body: "The VO cannot submit jobs.", LocalID: 42,
		Requester: connector.Person{Email: "ana@example.org", Name: "Ana Souza"},
		Status:    "assigned", Priority: "very_urgent",
		Attachments: []connector.Attachment{{Filename: "log.txt", ContentType: "text/plain", Data: []byte("job 17 failed\n")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ref.RemoteID == "" || !strings.Contains(ref.RemoteURL, "Display.html?id="+ref.RemoteID) {
		t.Fatalf("ref %+v", ref)
	}
	var got ticket
	root.do("GET", "/ticket/"+ref.RemoteID, nil, &got)
	if got.Subject != subject || got.Status != "new" || got.Priority != 75 || got.Queue.ID == "" {
		t.Fatalf("ticket in RT: %+v", got)
	}
	if len(got.Requestor) != 1 || got.Requestor[0].ID != c.knownSelf() || c.knownSelf() == "" {
		t.Fatalf("requestor %+v, connector %q: the connector must be the only requestor", got.Requestor, c.knownSelf())
	}

	steps := []connector.Change{
		{Kind: connector.KindMessage, Body: "Please try again now.", Author: connector.Person{Name: "Bo Staff", Email: "bo@helpmesh.test"},
			Attachments: []connector.Attachment{{Filename: "fix.bin", ContentType: "application/octet-stream", Data: []byte{0, 1, 2, 0xff, 0xfe}}}},
		{Kind: connector.KindNote, Body: "Internal: the CE was down."},
		{Kind: connector.KindStatus, Status: "waiting_for_reply"},
		{Kind: connector.KindPriority, Priority: "top_priority"},
	}
	for _, s := range steps {
		if err := c.Push(ctx, ref, s); err != nil {
			t.Fatalf("push %s: %v", s.Kind, err)
		}
	}
	root.do("GET", "/ticket/"+ref.RemoteID, nil, &got)
	if got.Status != "stalled" || got.Priority != 100 {
		t.Fatalf("after push: status %q priority %d, want stalled 100", got.Status, got.Priority)
	}
	var create, corr, comment *seenTxn
	h := root.history(c, ref.RemoteID)
	for i := range h {
		switch h[i].Type {
		case "Create":
			create = &h[i]
		case "Correspond":
			corr = &h[i]
		case "Comment":
			comment = &h[i]
		}
	}
	if create == nil || !strings.Contains(create.body, "Requester: Ana Souza <ana@example.org>") ||
		!strings.Contains(create.body, "https://helpmesh.test/tickets/42") || !strings.Contains(create.body, "cannot submit jobs") ||
		len(create.files) != 1 || string(create.files[0].Data) != "job 17 failed\n" {
		t.Fatalf("create in RT: %+v", create)
	}
	if corr == nil || !strings.Contains(corr.body, "Bo Staff <bo@helpmesh.test> wrote in helpmesh") ||
		!strings.Contains(corr.body, "Please try again now.") || len(corr.files) != 1 ||
		!bytes.Equal(corr.files[0].Data, []byte{0, 1, 2, 0xff, 0xfe}) || corr.files[0].Filename != "fix.bin" {
		t.Fatalf("correspondence in RT: %+v", corr)
	}
	if comment == nil || comment.body != "Internal: the CE was down." {
		t.Fatalf("comment in RT: %+v", comment)
	}

	// A status RT's lifecycle does not know is refused for good.
	if err := c.Push(ctx, ref, connector.Change{Kind: connector.KindStatus, Status: "no-such"}); !isPermanent(err) {
		t.Fatalf("unknown status: %v, want permanent", err)
	}
	// A ticket that does not exist: 404, permanent.
	if err := c.Push(ctx, connector.Ref{RemoteID: "999999"}, steps[1]); !isPermanent(err) {
		t.Fatalf("missing ticket: %v, want permanent", err)
	}
}

func TestRealPollReturnsOthersChangesOnce(t *testing.T) {
	c, env := realClient(t, "")
	root := rtRoot{t, env}
	ctx := context.Background()
	ref, err := c.Create(ctx, connector.Ticket{Subject: token(t), Body: "first", Priority: "urgent"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := c.Create(ctx, connector.Ticket{Subject: token(t) + "-unlinked", Body: "not polled"})
	if err != nil {
		t.Fatal(err)
	}
	_, cursor, err := c.Poll(ctx, "", []connector.Ref{ref})
	if err != nil || cursor == "" {
		t.Fatalf("first poll: %q %v", cursor, err)
	}
	// The connector's own reply (RT opens the ticket because of it: an
	// echo as well), then a person in RT replies, comments and changes
	// priority and status; the unlinked ticket changes too.
	if err := c.Push(ctx, ref, connector.Change{Kind: connector.KindMessage, Body: "from helpmesh"}); err != nil {
		t.Fatal(err)
	}
	root.do("POST", "/ticket/"+ref.RemoteID+"/correspond", map[string]any{
		"Content": "reply from RT", "ContentType": "text/plain",
		"Attachments": []map[string]string{{"FileName": "trace.bin", "FileType": "application/octet-stream", "FileContent": "AAEC/w=="}},
	}, nil)
	root.do("POST", "/ticket/"+ref.RemoteID+"/comment", map[string]any{
		"Content": "<p>note <b>from</b> RT &amp; co</p>", "ContentType": "text/html"}, nil)
	root.do("PUT", "/ticket/"+ref.RemoteID, map[string]any{"Priority": 80}, nil)
	root.do("PUT", "/ticket/"+ref.RemoteID, map[string]any{"Status": "resolved"}, nil)
	root.do("POST", "/ticket/"+other.RemoteID+"/correspond", map[string]any{"Content": "elsewhere", "ContentType": "text/plain"}, nil)

	changes, next, err := c.Poll(ctx, cursor, []connector.Ref{ref})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ch := range changes {
		kinds = append(kinds, fmt.Sprintf("%s:%s%s%s", ch.Kind, ch.Body, ch.Status, ch.Priority))
		if ch.Ticket.RemoteID != ref.RemoteID || ch.RemoteID == "" || ch.At.IsZero() || ch.Author.Name == "" {
			t.Errorf("change %+v", ch)
		}
	}
	want := []string{"message:reply from RT", "note:note from RT & co", "priority:very_urgent", "status:solved"}
	if strings.Join(kinds, "|") != strings.Join(want, "|") {
		t.Fatalf("changes\n got %q\nwant %q", kinds, want)
	}
	if f := changes[0].Attachments; len(f) != 1 || f[0].Filename != "trace.bin" || !bytes.Equal(f[0].Data, []byte{0, 1, 2, 0xff}) {
		t.Fatalf("attachments %+v", f)
	}
	again, next2, err := c.Poll(ctx, next, []connector.Ref{ref})
	if err != nil || len(again) != 0 || next2 < next {
		t.Fatalf("second poll: %+v %q %v", again, next2, err)
	}

	// RT's own status change caused by the connector's reply is left out
	// even when a poll starts right after that reply.
	var own page[txn]
	root.do("GET", "/ticket/"+ref.RemoteID+"/history"+query("per_page", "100", "fields", txnFields), nil, &own)
	var ownReply int64
	for _, tx := range own.Items {
		if tx.Type == "Correspond" && tx.Creator.ID == c.knownSelf() {
			ownReply = int64(tx.ID)
			break
		}
	}
	if ownReply == 0 {
		t.Fatal("the connector's reply is not in RT's history")
	}
	afterOwn, _, err := c.Poll(ctx, fmt.Sprint(ownReply), []connector.Ref{ref})
	if err != nil || len(afterOwn) == 0 || afterOwn[0].Kind != connector.KindMessage || afterOwn[0].Body != "reply from RT" {
		t.Fatalf("poll right after the connector's reply: %+v %v", afterOwn, err)
	}

	// A fresh client (a restarted helpmesh) learns who it is from the
	// linked ticket and still leaves its own transactions out.
	fresh, _ := realClient(t, "")
	if err := fresh.Push(ctx, ref, connector.Change{Kind: connector.KindNote, Body: "own note"}); err != nil {
		t.Fatal(err)
	}
	mine, _, err := fresh.Poll(ctx, next2, []connector.Ref{ref})
	if err != nil || len(mine) != 0 {
		t.Fatalf("own note came back: %+v %v", mine, err)
	}
}

func TestRealSourcePagesThroughQueue(t *testing.T) {
	env := testenv.RT5(t)
	root := rtRoot{t, env}
	queue := "hm-import-" + token(t)[len(t.Name())+1:]
	root.do("POST", "/queue", map[string]any{"Name": queue}, nil)
	c, _ := realClient(t, queue)
	c.sourcePage = 2
	ctx := context.Background()
	var refs []connector.Ref
	for i := range 3 {
		ref, err := c.Create(ctx, connector.Ticket{Subject: fmt.Sprintf("import %d", i), Body: fmt.Sprintf("body %d", i),
			Priority:    "less_urgent",
			Attachments: []connector.Attachment{{Filename: fmt.Sprintf("f%d.txt", i), ContentType: "text/plain", Data: []byte{'a' + byte(i)}}}})
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	root.do("POST", "/ticket/"+refs[1].RemoteID+"/correspond", map[string]any{"Content": "answer", "ContentType": "text/plain"}, nil)
	root.do("PUT", "/ticket/"+refs[1].RemoteID, map[string]any{"Status": "resolved"}, nil)

	var all []connector.Ticket
	cursor, pages := "", 0
	for {
		page, next, total, err := c.Tickets(ctx, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if total != 3 {
			t.Fatalf("total %d, want 3", total)
		}
		all = append(all, page...)
		pages++
		if next == "" {
			break
		}
		cursor = next
	}
	if pages != 2 || len(all) != 3 {
		t.Fatalf("%d pages, %d tickets", pages, len(all))
	}
	for i, tk := range all {
		if tk.Ref.RemoteID != refs[i].RemoteID || tk.Subject != fmt.Sprintf("import %d", i) ||
			tk.Body != fmt.Sprintf("body %d", i) || len(tk.Attachments) != 1 || tk.Attachments[0].Data[0] != 'a'+byte(i) ||
			tk.Priority != "less_urgent" || tk.Created.IsZero() || tk.Requester.Name == "" {
			t.Errorf("ticket %d: %+v", i, tk)
		}
	}
	var h []string
	for _, ch := range all[1].History {
		h = append(h, string(ch.Kind)+":"+ch.Body+ch.Status)
	}
	if all[1].Status != "solved" || strings.Join(h, "|") != "message:answer|status:in_progress|status:solved" {
		t.Fatalf("history of ticket 1: status %q, %q", all[1].Status, h)
	}
}
