package apptest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/webhook/webhooktest"
)

// chatPost is what a chat's incoming webhook is sent.
type chatPost struct {
	Text        string `json:"text"`
	Username    string `json:"username"`
	Attachments []struct {
		Color     string `json:"color"`
		Title     string `json:"title"`
		TitleLink string `json:"title_link"`
		Fields    []struct {
			Title string `json:"title"`
			Value string `json:"value"`
		} `json:"fields"`
	} `json:"attachments"`
	Priority *struct {
		Priority string `json:"priority"`
	} `json:"priority"`
}

// TestUnitChat: a unit's chat, set through POST and PATCH
// /api/v1/units by an administrator or the unit's admin, gets a
// Slack-compatible post per chosen event of the unit's tickets: text and
// one attachment coloured by priority linking the ticket, unsigned, never
// a note's or a reply's body; a failing receiver is retried; other units'
// tickets post nothing. A loopback URL without the allow-list, a private
// one, bad formats and events are 400; a member or an outsider setting
// it is 403, and only the unit's managers see it.
func TestUnitChat(t *testing.T) {
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		ctx := context.Background()
		recv := webhooktest.NewReceiver()
		defer recv.Close()

		closed := apptest.Start(t, e)
		closed.NewUnit(t, "storage", false)
		r := closed.Do(t, "PATCH", "/api/v1/units/storage", closed.AdminToken, "application/json",
			strings.NewReader(`{"chat": {"url": "`+recv.URL+`/hooks/x", "format": "slack", "events": ["ticket.created"]}}`))
		checkError(t, r, http.StatusBadRequest)

		in := apptest.Start(t, e, func(cfg *config.Config) {
			cfg.OutboundAllow = []string{"127.0.0.0/8"}
			cfg.OutboundRetry = 100 * time.Millisecond
			cfg.BaseURL = "https://help.example"
		})
		r = in.Do(t, "POST", "/api/v1/units", in.AdminToken, "application/json", strings.NewReader(
			`{"slug": "storage", "name": "Storage", "chat": {"url": "`+recv.URL+`/hooks/a", "format": "slack", "events": ["ticket.created"]}}`))
		var made client.Unit
		if err := json.Unmarshal(r.Body, &made); r.Status != http.StatusCreated || err != nil || made.Chat == nil || made.Chat.Format != "slack" {
			t.Fatalf("POST /api/v1/units with a chat: %d %s", r.Status, r.Body)
		}
		in.NewService(t, "object-store", "storage")
		in.NewUnit(t, "compute", false)
		in.NewService(t, "vm", "compute")
		samU, sam := in.NewUser(t, "sam@uni.example", "user")
		in.AddMember(t, "storage", samU.ID, "admin")
		memU, _ := in.NewUser(t, "mem@uni.example", "user")
		in.AddMember(t, "storage", memU.ID, "member")
		annU, ann := in.NewUser(t, "ann@uni.example", "user")
		_, bob := in.NewUser(t, "bob@uni.example", "user")

		token := func(u *client.User) string {
			tok, err := in.Admin.CreateToken(ctx, u.ID, client.NewToken{Name: "chat"})
			if err != nil {
				t.Fatal(err)
			}
			return tok.Token
		}
		set := func(token, body string) apptest.Response {
			return in.Do(t, "PATCH", "/api/v1/units/storage", token, "application/json", strings.NewReader(body))
		}
		samT, memT, annT := token(samU), token(memU), token(annU)
		good := `{"chat": {"url": "` + recv.URL + `/hooks/b", "format": "mattermost", "events": ["ticket.created", "ticket.message", "ticket.note"]}}`
		checkError(t, set(memT, good), http.StatusForbidden)
		checkError(t, set(annT, good), http.StatusForbidden)
		for _, c := range []struct{ body, why string }{
			{`{"chat": {"url": "http://10.0.0.1/hooks/x", "format": "slack", "events": ["ticket.created"]}}`, "a private address"},
			{`{"chat": {"url": "http://169.254.169.254/x", "format": "slack", "events": ["ticket.created"]}}`, "a link-local address"},
			{`{"chat": {"url": "not a url", "format": "slack", "events": ["ticket.created"]}}`, "not a URL"},
			{`{"chat": {"url": "` + recv.URL + `", "format": "irc", "events": ["ticket.created"]}}`, "an unknown format"},
			{`{"chat": {"url": "` + recv.URL + `", "events": ["ticket.created"]}}`, "no format"},
			{`{"chat": {"url": "` + recv.URL + `", "format": "slack", "events": ["ticket.exploded"]}}`, "an unknown event"},
			{`{"chat": {"url": "` + recv.URL + `", "format": "slack", "events": []}}`, "no event"},
			{`{"chat": {"url": "` + recv.URL + `", "format": "slack", "events": ["*"], "secret": "x"}}`, "an unknown field"},
			{`{"chat": "` + recv.URL + `"}`, "not an object"},
		} {
			r := set(samT, c.body)
			checkError(t, r, http.StatusBadRequest)
			if t.Failed() {
				t.Fatalf("PATCH with %s: %d %s", c.why, r.Status, r.Body)
			}
		}
		if r := set(samT, good); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"format":"mattermost"`) {
			t.Fatalf("the unit admin sets the chat: %d %s", r.Status, r.Body)
		}
		var seen client.Unit
		r = in.Do(t, "GET", "/api/v1/units/storage", annT, "", nil)
		if err := json.Unmarshal(r.Body, &seen); err != nil || seen.Chat != nil {
			t.Errorf("an outsider sees the chat: %s", r.Body)
		}

		recv.Answer(http.StatusInternalServerError) // the first post fails
		tk, err := ann.CreateTicket(ctx, client.NewTicket{Subject: "Bucket <gone>", Body: "since noon", Service: "object-store", Priority: "very_urgent"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sam.Note(ctx, tk.ID, "internal: a disk died"); err != nil {
			t.Fatal(err)
		}
		if _, err := sam.Reply(ctx, tk.ID, "We are on it"); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.CreateTicket(ctx, client.NewTicket{Subject: "VM slow", Body: "x", Service: "vm"}); err != nil {
			t.Fatal(err)
		}

		reqs := recv.Wait(4, 30*time.Second)
		time.Sleep(300 * time.Millisecond) // nothing more comes
		reqs = recv.Requests()
		link := "https://help.example/tickets/" + strconv.FormatInt(tk.ID, 10)
		var texts []string
		for _, q := range reqs {
			if q.Path != "/hooks/b" || q.Header.Get("webhook-signature") != "" || !strings.HasPrefix(q.Header.Get("Content-Type"), "application/json") {
				t.Errorf("a post to %s with headers %v", q.Path, q.Header)
			}
			for _, secret := range []string{"disk died", "since noon", "We are on it", "VM slow"} {
				if strings.Contains(string(q.Body), secret) {
					t.Errorf("a post shows %q: %s", secret, q.Body)
				}
			}
			var p chatPost
			if err := json.Unmarshal(q.Body, &p); err != nil || len(p.Attachments) != 1 {
				t.Fatalf("post %s: %v", q.Body, err)
			}
			a := p.Attachments[0]
			if a.Color != "#f28c28" || a.TitleLink != link || a.Title != "#"+strconv.FormatInt(tk.ID, 10)+" Bucket <gone>" || p.Priority != nil {
				t.Errorf("attachment %+v of %s", a, q.Body)
			}
			if !strings.Contains(p.Text, "<"+link+"|#") || !strings.Contains(p.Text, "Bucket &lt;gone&gt;") {
				t.Errorf("text %q", p.Text)
			}
			texts = append(texts, strings.SplitN(p.Text, " <", 2)[0])
		}
		// Posts go out several at once: whichever came first was answered
		// 500 and came again, the same.
		if len(reqs) != 4 || !slices.ContainsFunc(reqs[1:], func(q webhooktest.Request) bool { return string(q.Body) == string(reqs[0].Body) }) {
			t.Errorf("%d posts; the failed one %s was not retried", len(reqs), reqs[0].Body)
		}
		slices.Sort(texts)
		if got, want := strings.Join(slices.Compact(texts), "|"), "Internal note on ticket|New reply on ticket|New ticket"; got != want {
			t.Errorf("posts %q, want %q", got, want)
		}

		// Removing the chat: null.
		if r := set(samT, `{"chat": null}`); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"chat":null`) {
			t.Errorf("removing the chat: %d %s", r.Status, r.Body)
		}
	})
}
