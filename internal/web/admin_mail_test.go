package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
)

// fakeOutbox is a mail gateway's outbox holding mails 1..60 (the newest
// failed, one held), and a quarantined mail. The gateway's own Retry and
// Discard are tested in package mail.
type fakeOutbox struct {
	mu    sync.Mutex
	mails map[int64]*OutboxMail
}

func newFakeOutbox() *fakeOutbox {
	o := &fakeOutbox{mails: map[int64]*OutboxMail{}}
	for id := int64(1); id <= 60; id++ {
		m := &OutboxMail{ID: id, TicketID: id, Kind: "reply", To: "ada@example.org", State: "sent", Attempts: 1,
			Subject:   fmt.Sprintf("[helpmesh #%d] The batch system rejects every job submitted from the new login node", id),
			Preview:   "Sam Support wrote: we are looking at it; please send the job id and the time it failed.",
			CreatedAt: time.Now().Add(-time.Duration(60-id) * time.Minute)}
		o.mails[id] = m
	}
	o.mails[60].State, o.mails[60].To = "failed", "a-very-long-mailing-list-address-of-the-compute-unit@support.example.org"
	o.mails[60].LastError = "550 5.1.1 mailbox unavailable: " + strings.Repeat("x", 80)
	o.mails[59].State, o.mails[59].Kind = "held", "new_ticket"
	return o
}

func (o *fakeOutbox) Outgoing(ctx context.Context, before int64, limit int) ([]OutboxMail, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if before == 0 {
		before = 1 << 62
	}
	var out []OutboxMail
	for id := int64(60); id >= 1 && len(out) < limit; id-- {
		if id < before {
			out = append(out, *o.mails[id])
		}
	}
	return out, nil
}

func (o *fakeOutbox) Quarantined(ctx context.Context, before int64, limit int) ([]OutboxMail, error) {
	return []OutboxMail{{ID: 3, To: "spam@example.net", Subject: "You won", State: "quarantined", LastError: "not a participant", CreatedAt: time.Now()}}, nil
}

func (o *fakeOutbox) change(id int64, from []string, to string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := o.mails[id]
	if m == nil {
		return apperr.New(apperr.NotFound, "no such mail")
	}
	for _, f := range from {
		if m.State == f {
			m.State = to
			return nil
		}
	}
	return apperr.New(apperr.Conflict, "this one is %s", m.State)
}

func (o *fakeOutbox) Retry(ctx context.Context, id int64) error {
	return o.change(id, []string{"failed"}, "pending")
}

func (o *fakeOutbox) Discard(ctx context.Context, id int64) error {
	return o.change(id, []string{"held", "pending", "failed"}, "suppressed")
}

// TestAdminMailPage: kind, subject, preview and ticket of each mail, a
// page at a time; failed mail sent again, held mail discarded; bad input
// is a 4xx.
func TestAdminMailPage(t *testing.T) {
	box := newFakeOutbox()
	e := newEnv(t, filepath.Join(t.TempDir(), "h.db"), func(d *Deps) { d.Outbox = box })
	a := e.client()
	a.login("root@example.org")
	r := a.get("/admin/outbox")
	for _, want := range []string{"Reply", "New ticket", `href="/tickets/60"`, "please send the job id", "Send again", "Discard", "/admin/outbox?before=36", "You won"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("mail page lacks %q", want)
		}
	}
	if strings.Count(r.body, `class="mail"`) != mailPageSize+1 {
		t.Errorf("mails on the first page: %d", strings.Count(r.body, `class="mail"`))
	}
	if r := a.get("/admin/outbox?before=36"); !strings.Contains(r.body, `href="/tickets/35"`) || strings.Contains(r.body, `href="/tickets/36"`) {
		t.Error("the second page does not start below the first")
	}
	for _, bad := range []string{"?before=x", "?before=-1", "?qbefore=1e9"} {
		if r := a.get("/admin/outbox" + bad); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, r.status)
		}
	}
	if r := a.post("/admin/outbox/60/retry", nil); r.status != http.StatusSeeOther || box.mails[60].State != "pending" {
		t.Errorf("retry: %d, state %s", r.status, box.mails[60].State)
	}
	if r := a.post("/admin/outbox/59/discard", nil); r.status != http.StatusSeeOther || box.mails[59].State != "suppressed" {
		t.Errorf("discard: %d, state %s", r.status, box.mails[59].State)
	}
	if r := a.post("/admin/outbox/1/retry", nil); r.status != http.StatusConflict {
		t.Errorf("retry of sent mail: %d", r.status)
	}
	if r := a.post("/admin/outbox/999/discard", nil); r.status != http.StatusNotFound {
		t.Errorf("discard of no mail: %d", r.status)
	}
	if r := a.post("/admin/outbox/x/discard", nil); r.status != http.StatusNotFound {
		t.Errorf("discard of a bad id: %d", r.status)
	}
	s := e.client()
	s.login("sam@support.example.org")
	if r := s.post("/admin/outbox/60/discard", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("staff discards mail: %d", r.status)
	}
}
