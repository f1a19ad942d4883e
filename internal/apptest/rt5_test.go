package apptest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// rtAsRoot calls the test RT's REST2 as root (a person working in RT).
func rtAsRoot(t *testing.T, env testenv.RT5Service, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, env.URL+"/REST/2.0"+path, body)
	req.Header.Set("Authorization", "token "+env.RootToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("RT %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode > 299 {
		t.Fatalf("RT %s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("RT %s %s: %v", method, path, err)
		}
	}
}

// rtCorrespondence returns the texts of a ticket's correspondence in RT.
func rtCorrespondence(t *testing.T, env testenv.RT5Service, id string) []string {
	t.Helper()
	var h struct {
		Items []struct {
			ID   string `json:"id"`
			Type string `json:"Type"`
			Kind string `json:"type"` // keeps "type" out of Type (keys match without case)
		} `json:"items"`
	}
	rtAsRoot(t, env, "GET", "/ticket/"+id+"/history?per_page=100&fields=Type", nil, &h)
	var out []string
	for _, tx := range h.Items {
		if tx.Type != "Correspond" {
			continue
		}
		var parts struct {
			Items []struct {
				ContentType string `json:"ContentType"`
				Content     string `json:"Content"`
			} `json:"items"`
		}
		rtAsRoot(t, env, "GET", "/transaction/"+tx.ID+"/attachments?fields=ContentType,Content", nil, &parts)
		for _, p := range parts.Items {
			if p.ContentType == "text/plain" {
				out = append(out, p.Content)
			}
		}
	}
	return out
}

// untilRT waits up to 2 min (RT is slow on a loaded machine) for ok.
func untilRT(t *testing.T, what string, ok func() bool) {
	t.Helper()
	untilWithin(t, what, 2*time.Minute, 500*time.Millisecond, ok)
}

// TestRT5EndToEnd: a ticket of a service synchronised with the real
// Request Tracker 5 is created in RT's queue; a staff reply in helpmesh
// becomes RT correspondence, and a reply written in RT comes back to the
// ticket once, from the peer, while the connector's own correspondence
// does not come back.
func TestRT5EndToEnd(t *testing.T) {
	env := testenv.RT5(t)
	apptest.Engines(t, func(t *testing.T, e apptest.Engine) {
		ctx := context.Background()
		in := apptest.Start(t, e, func(cfg *config.Config) { cfg.OutboundAllow = []string{"127.0.0.0/8"} })
		in.NewUnit(t, "grid", false)
		in.NewService(t, "compute", "grid")
		staffU, staff := in.NewUser(t, "sam@uni.example", "user")
		in.AddMember(t, "grid", staffU.ID, "member")
		_, ann := in.NewUser(t, "ann@uni.example", "user")
		if _, err := in.Admin.CreateConnector(ctx, client.Connector{Name: "rt", Kind: "rt5", URL: env.URL,
			Token: env.Token, Queue: env.Queue, PollInterval: "1s"}); err != nil {
			t.Fatal(err)
		}
		if _, err := in.Admin.SetServiceMode(ctx, "compute", "external", "rt"); err != nil {
			t.Fatal(err)
		}
		subject := "jobs stuck " + t.Name() + " " + time.Now().Format(time.RFC3339Nano)
		tk, err := ann.CreateTicket(ctx, client.NewTicket{Subject: subject, Body: "my jobs do not start", Service: "compute"})
		if err != nil {
			t.Fatal(err)
		}
		var links []client.Link
		untilRT(t, "the link to RT", func() bool {
			links, err = ann.Links(ctx, tk.ID)
			return err == nil && len(links) == 1 && links[0].RemoteID != ""
		})
		remote := links[0].RemoteID
		var rt struct {
			Subject string `json:"Subject"`
		}
		rtAsRoot(t, env, "GET", "/ticket/"+remote, nil, &rt)
		if rt.Subject != subject {
			t.Fatalf("RT ticket %s has subject %q", remote, rt.Subject)
		}

		if _, err := staff.AddMessage(ctx, tk.ID, "we are looking at the CE", false, nil); err != nil {
			t.Fatal(err)
		}
		untilRT(t, "the staff reply in RT", func() bool {
			c := rtCorrespondence(t, env, remote)
			return len(c) == 1 && strings.Contains(c[0], "we are looking at the CE")
		})

		rtAsRoot(t, env, "POST", "/ticket/"+remote+"/correspond",
			map[string]any{"Content": "the CE is back", "ContentType": "text/plain"}, nil)
		var ms []client.Message
		untilRT(t, "RT's reply in helpmesh", func() bool {
			ms, err = ann.Messages(ctx, tk.ID)
			return err == nil && len(ms) >= 3 && ms[len(ms)-1].Body == "the CE is back"
		})
		if last := ms[len(ms)-1]; last.Source != "peer" {
			t.Fatalf("RT's reply has source %q, want peer", last.Source)
		}
		time.Sleep(3 * time.Second) // a few more polls: nothing twice, no echo
		ms, err = ann.Messages(ctx, tk.ID)
		if err != nil || len(ms) != 3 {
			t.Fatalf("messages after more polls: %d %v", len(ms), err)
		}
	})
}
