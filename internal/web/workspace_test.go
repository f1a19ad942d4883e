package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

// TestStaffSearchAndJump: staff search every ticket they may see, a
// ticket number opens the ticket, and an administrator before the first
// unit lands on all tickets instead of a 404.
func TestStaffSearchAndJump(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx := context.Background()
		other, err := e.units.CreateUnit(ctx, unit.Unit{Slug: "storage", Name: "Storage support"})
		if err != nil {
			t.Fatal(err)
		}
		req := e.client()
		req.login("ada@example.org")
		mine := req.post("/tickets/new", url.Values{"subject": {"Batch jobs hang"}, "body": {"the scheduler"}, "service": {"hpc"}})
		id := strings.TrimPrefix(mine.location, "/tickets/")
		if _, err := e.tickets.Create(ctx, e.principal(e.admin), ticket.NewTicket{Subject: "Disk batch full", Body: "quota", UnitID: other.ID}); err != nil {
			t.Fatal(err)
		}

		s := e.client()
		s.login("sam@support.example.org")
		r := s.get("/search?q=batch&status=all")
		if r.status != 200 || !strings.Contains(r.body, "Batch jobs hang") || strings.Contains(r.body, "Disk batch full") {
			t.Fatalf("staff search: %d %s", r.status, excerpt(r.body))
		}
		for _, q := range []string{id, "#" + id, " #" + id + " "} {
			if r := s.get("/search?q=" + url.QueryEscape(q)); r.status != http.StatusSeeOther || r.location != "/tickets/"+id {
				t.Errorf("jump to %q: %d %q", q, r.status, r.location)
			}
		}
		if r := s.get("/search?q=%23999999999999999999999"); r.status != 200 {
			t.Errorf("a number too large to be a ticket: %d", r.status)
		}
		if r := s.get("/search?unit=storage&status=bogus&before=x"); r.status != 200 || strings.Contains(r.body, "Disk batch full") {
			t.Errorf("another unit's tickets through the unit filter: %d", r.status)
		}
		if r := s.get("/"); !strings.Contains(r.body, `action="/search"`) {
			t.Error("no jump box in the staff's header")
		}
		b := e.client()
		b.login("bob@example.org")
		if r := b.get("/tickets"); !strings.Contains(r.body, "You have no open tickets") || !strings.Contains(r.body, `href="/tickets/new">Ask for help`) {
			t.Errorf("a new requester's ticket list does not welcome: %s", excerpt(r.body))
		}
		if r := req.get("/search?q=batch"); r.status != http.StatusForbidden {
			t.Errorf("requester on /search: %d", r.status)
		}
		a := e.client()
		a.login("root@example.org")
		// The ticket handler team's queue holds every unit's tickets.
		if r := a.get("/queue/tht?view=all"); !strings.Contains(r.body, "Batch jobs hang") || !strings.Contains(r.body, "Disk batch full") || !strings.Contains(r.body, `href="/queue/storage"`) {
			t.Errorf("the handler team's queue lacks other units' tickets: %s", excerpt(r.body))
		}
		if r := a.get("/search?status=all"); !strings.Contains(r.body, "Batch jobs hang") || !strings.Contains(r.body, "Disk batch full") {
			t.Errorf("administrator does not see every ticket: %s", excerpt(r.body))
		}
	})
}

// TestAdminHomeFirstSteps: a fresh administrator gets the first steps and
// all tickets, never a 404 on "Queues".
func TestAdminHomeFirstSteps(t *testing.T) {
	e := newEmptyEnv(t, filepath.Join(t.TempDir(), "h.db"))
	ctx := context.Background()
	admin, err := e.users.Create(ctx, user.NewUser{Email: "rita@example.org", Name: "Rita Root", Role: auth.RoleAdmin, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	a := e.client()
	a.login(admin.Email)
	r := a.get("/admin")
	if r.status != 200 || !strings.Contains(r.body, "First steps") || !strings.Contains(r.body, "5 of 5 to do") || !strings.Contains(r.body, "ticket handler team") {
		t.Fatalf("admin home: %d %s", r.status, excerpt(r.body))
	}
	if r := a.get("/queue"); r.status != http.StatusSeeOther || r.location != "/search" {
		t.Errorf("queues of an instance without units: %d %q", r.status, r.location)
	}
	if r := a.get("/search"); r.status != 200 || !strings.Contains(r.body, "No tickets here yet") {
		t.Errorf("all tickets, empty: %d %s", r.status, excerpt(r.body))
	}
	if strings.Contains(r.body, "powered by") {
		t.Error("the footer still says powered by")
	}
	u, err := e.units.CreateUnit(ctx, unit.Unit{Slug: "tht", Name: "Ticket handler team", Handler: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.units.SetMember(ctx, u.ID, admin.ID, "member"); err != nil {
		t.Fatal(err)
	}
	if r := a.get("/admin"); !strings.Contains(r.body, "4 of 5 to do") {
		t.Errorf("the handler team step is not done: %s", excerpt(r.body))
	}
}

// TestTriageInOneSave: a reply, a status, a new service (and with it the
// unit) and an assignee of that unit are one form and one save.
func TestTriageInOneSave(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		ctx := context.Background()
		storage, err := e.units.CreateUnit(ctx, unit.Unit{Slug: "storage", Name: "Storage support"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.units.CreateService(ctx, unit.Service{Slug: "disk", Name: "Disk space", UnitSlug: "storage"}); err != nil {
			t.Fatal(err)
		}
		if err := e.units.SetMember(ctx, storage.ID, e.other.ID, "member"); err != nil {
			t.Fatal(err)
		}
		req := e.client()
		req.login("ada@example.org")
		path := req.post("/tickets/new", url.Values{"subject": {"Quota"}, "body": {"my home is full"}, "service": {"hpc"}}).location
		var id int64
		fmt.Sscanf(path, "/tickets/%d", &id)

		s := e.client()
		s.login("sam@support.example.org")
		page := s.get(path)
		if !strings.Contains(page.body, `<optgroup label="Storage support">`) || !strings.Contains(page.body, `id="f-service"`) {
			t.Fatalf("the triage form lacks the other unit's members or the service: %s", excerpt(page.body))
		}
		if r := s.post(path+"/messages", url.Values{"triage": {"1"}, "body": {""}, "priority": {"less_urgent"}}); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Write a reply or change a field") {
			t.Errorf("nothing to save: %d", r.status)
		}
		for _, bad := range []url.Values{{"service": {"nope"}}, {"unit": {"nope"}}, {"assignee": {"abc"}}, {"status": {"closed"}}, {"priority": {"huge"}}} {
			bad.Set("triage", "1")
			if r := s.post(path+"/messages", bad); r.status != http.StatusUnprocessableEntity {
				t.Errorf("triage with %v: %d", bad, r.status)
			}
		}
		r := s.post(path+"/messages", url.Values{"triage": {"1"}, "body": {"This is a storage matter; moving it."}, "status": {"in_progress"},
			"priority": {"less_urgent"}, "type": {"incident"}, "service": {"disk"}, "unit": {"compute"}, "assignee": {fmt.Sprint(e.other.ID)}})
		if r.status != http.StatusSeeOther || r.location != "/queue" {
			t.Fatalf("triage: %d %q %s", r.status, r.location, excerpt(r.body))
		}
		tk, err := e.tickets.Get(ctx, e.principal(e.admin), id)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Status != ticket.InProgress || tk.Service != "disk" || tk.Unit != "storage" || tk.Assignee == nil || tk.Assignee.ID != e.other.ID {
			t.Errorf("after triage: status %s service %s unit %s assignee %+v", tk.Status, tk.Service, tk.Unit, tk.Assignee)
		}
		ms, _ := e.tickets.Messages(ctx, e.principal(e.admin), id)
		if len(ms) != 2 || !strings.Contains(ms[1].Body, "storage matter") {
			t.Errorf("the reply was not added: %d messages", len(ms))
		}
		// The requester sees names and what matters to her, not the routing.
		rp := req.get(path)
		for _, hidden := range []string{"sam@support.example.org", "bob@example.org", ">storage<", ">disk<", "changed unit", "changed assignee", "changed service"} {
			if strings.Contains(rp.body, hidden) {
				t.Errorf("the requester's page shows %q", hidden)
			}
		}
		for _, shown := range []string{"Storage support", "Disk space", "Sam Support", "changed status"} {
			if !strings.Contains(rp.body, shown) {
				t.Errorf("the requester's page lacks %q", shown)
			}
		}
		if r := req.post(path+"/messages", url.Values{"triage": {"1"}, "body": {"hi"}, "status": {"solved"}}); r.status != http.StatusForbidden {
			t.Errorf("a requester triaging: %d", r.status)
		}
		if r := s.post("/queue/compute/bulk", url.Values{"ticket": {fmt.Sprint(id)}, "action": {"status:verified"}}); r.status != http.StatusUnprocessableEntity {
			t.Errorf("bulk status staff cannot set: %d", r.status)
		}
		if q := s.get("/queue/compute"); strings.Contains(q.body, `value="status:verified"`) || strings.Contains(q.body, `value="status:closed"`) {
			t.Error("the bulk menu offers verified or closed")
		}
	})
}
