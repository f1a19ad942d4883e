package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/app"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/testenv"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// importEnv is a fresh helpmesh data directory with a unit "support",
// allowed to reach the loopback peers.
func importEnv(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{"HELPMESH_DATA": t.TempDir(), "HELPMESH_OUTBOUND_ALLOW": "127.0.0.0/8"}
	a := openCLIData(t, env)
	if _, err := a.Units.CreateUnit(context.Background(), unit.Unit{Slug: "support", Name: "Support"}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	return env
}

func openCLIData(t *testing.T, env map[string]string) *app.App {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = env["HELPMESH_DATA"]
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// call sends a JSON request to a peer under test and decodes its answer.
func call(t *testing.T, method, url string, header map[string]string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode > 299 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, raw)
		}
	}
}

// checkImport runs `helpmesh import` twice with args: the first run copies
// want tickets, the second copies nothing; then it checks the copies.
func checkImport(t *testing.T, env map[string]string, want int, args ...string) []*ticket.Ticket {
	t.Helper()
	args = append([]string{"import"}, args...)
	code, out, errs := cli(t, env, "", args...)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d created, 0 updated, 0 unchanged, 0 failed", want)) {
		t.Fatalf("first import: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "import: copying ") {
		t.Errorf("no progress on stderr: %q", errs)
	}
	code, out, errs = cli(t, env, "", args...)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("0 created, 0 updated, %d unchanged, 0 failed", want)) {
		t.Fatalf("second import: exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("import: %s", strings.TrimSpace(out))
	a := openCLIData(t, env)
	defer a.Close()
	list, err := a.Tickets.List(context.Background(), auth.System("test"), ticket.Filter{Limit: 100})
	if err != nil || len(list) != want {
		t.Fatalf("tickets after the imports: %d, %v", len(list), err)
	}
	return list
}

// TestImportFromRT5: a queue of the real Request Tracker 5 copied twice
// by the CLI: once in full, then nothing more.
func TestImportFromRT5(t *testing.T) {
	rt := testenv.RT5(t)
	root := map[string]string{"Authorization": "token " + rt.RootToken}
	api := rt.URL + "/REST/2.0"
	queue := "hm-cli-import-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	call(t, "POST", api+"/queue", root, map[string]any{"Name": queue}, nil)
	var ids []string
	for i := range 2 {
		var created struct {
			ID any `json:"id"`
		}
		call(t, "POST", api+"/ticket", root, map[string]any{"Queue": queue, "Subject": fmt.Sprintf("VPN broken %d", i),
			"Content": "It drops every minute.", "ContentType": "text/plain", "Requestor": "ann@uni.example"}, &created)
		ids = append(ids, fmt.Sprint(created.ID))
	}
	call(t, "POST", api+"/ticket/"+ids[1]+"/correspond", root, map[string]any{"Content": "Fixed on our side.", "ContentType": "text/plain"}, nil)
	call(t, "PUT", api+"/ticket/"+ids[1], root, map[string]any{"Status": "resolved"}, nil)

	env := importEnv(t)
	list := checkImport(t, env, 2, "--from", "rt5", "--url", rt.URL, "--token", rt.Token, "--queue", queue, "--unit", "support")
	solved := 0
	for _, tk := range list {
		if tk.Requester.Email != "ann@uni.example" || !strings.HasPrefix(tk.Subject, "VPN broken") {
			t.Errorf("imported ticket %+v", tk)
		}
		if tk.Status == ticket.Solved {
			solved++
		}
	}
	if solved != 1 {
		t.Errorf("%d tickets solved, want the resolved one", solved)
	}
}

// TestImportFromRedmine5: a project of the real Redmine 5 copied twice by
// the CLI.
func TestImportFromRedmine5(t *testing.T) {
	rm := testenv.Redmine5(t)
	admin := map[string]string{"X-Redmine-API-Key": rm.Key}
	project := "cli-import-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	call(t, "POST", rm.URL+"/projects.json", admin, map[string]any{"project": map[string]any{
		"name": project, "identifier": project, "tracker_ids": []int64{rm.TrackerID}, "enabled_module_names": []string{"issue_tracking"}}}, nil)
	var ids []int64
	for i := range 3 {
		var created struct {
			Issue struct {
				ID int64 `json:"id"`
			} `json:"issue"`
		}
		call(t, "POST", rm.URL+"/issues.json", admin, map[string]any{"issue": map[string]any{"project_id": project, "tracker_id": rm.TrackerID,
			"subject": fmt.Sprintf("Quota %d", i), "description": "The quota is full."}}, &created)
		ids = append(ids, created.Issue.ID)
	}
	call(t, "PUT", fmt.Sprintf("%s/issues/%d.json", rm.URL, ids[0]), admin, map[string]any{"issue": map[string]any{"notes": "Raised to 2 TB."}}, nil)
	call(t, "PUT", fmt.Sprintf("%s/issues/%d.json", rm.URL, ids[2]), admin, map[string]any{"issue": map[string]any{"private_notes": true, "notes": "Internal: check the array."}}, nil)

	env := importEnv(t)
	list := checkImport(t, env, 3, "--from", "redmine5", "--url", rm.URL, "--token", rm.Key, "--project", project, "--unit", "support")
	a := openCLIData(t, env)
	defer a.Close()
	msgs := 0
	for _, tk := range list {
		m, err := a.Tickets.Messages(context.Background(), auth.System("test"), tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		msgs += len(m)
	}
	if msgs != 5 {
		t.Errorf("%d messages copied, want 5 (3 descriptions, a note, an internal note)", msgs)
	}
}

// TestImportRefusesBadFlags: usage mistakes exit 2 with what is wrong,
// before anything is opened.
func TestImportRefusesBadFlags(t *testing.T) {
	env := map[string]string{"HELPMESH_DATA": t.TempDir()}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--url", "http://rt.example", "--token", "t", "--queue", "q", "--unit", "u"}, "--from is required"},
		{[]string{"--from", "zammad", "--url", "http://z.example", "--token", "t", "--unit", "u"}, "rt5 and redmine5"},
		{[]string{"--from", "rt5", "--url", "http://rt.example", "--token", "t", "--project", "p", "--unit", "u"}, "takes --queue"},
		{[]string{"--from", "redmine5", "--url", "ftp://r.example", "--token", "t", "--project", "p", "--unit", "u"}, "not an http"},
		{[]string{"--from", "redmine5", "--url", "http://r.example", "--project", "p", "--unit", "u"}, "--token is required"},
		{[]string{"--from", "redmine5", "--url", "http://r.example", "--token", "t", "--project", "p"}, "--unit is required"},
	} {
		code, _, errs := cli(t, env, "", append([]string{"import"}, c.args...)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("import %q: exit %d, %q (want 2 and %q)", c.args, code, errs, c.want)
		}
	}
	env["HELPMESH_OUTBOUND_ALLOW"] = "127.0.0.0/8"
	code, _, errs := cli(t, env, "", "import", "--from", "rt5", "--url", "http://127.0.0.1:9", "--token", "t", "--queue", "q", "--unit", "nope")
	if code != 1 || !strings.Contains(errs, `no unit "nope"`) {
		t.Errorf("unknown unit: exit %d, %q", code, errs)
	}
}
