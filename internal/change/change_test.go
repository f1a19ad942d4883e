package change

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/auth"
	"github.com/helpmesh/helpmesh/internal/db"
	"github.com/helpmesh/helpmesh/internal/db/dbtest"
	"github.com/helpmesh/helpmesh/internal/event"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/user"
)

func ptr[T any](v T) *T { return &v }

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// fixture is a catalogue (unit net with storage, compute and dns), a
// member, a unit admin and a store on the real event log.
type fixture struct {
	d             *db.DB
	units         *unit.Store
	clock         *fakeClock
	s             *Store
	member, admin *auth.Principal
	outsider      *auth.Principal
	t0            time.Time
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	ctx := context.Background()
	f := &fixture{d: d, units: unit.NewStore(d), t0: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	f.clock = &fakeClock{t: f.t0}
	net, err := f.units.CreateUnit(ctx, unit.Unit{Slug: "net", Name: "Network"})
	if err != nil {
		t.Fatal(err)
	}
	for _, slug := range []string{"storage", "compute", "ce01-example-org"} {
		if _, err := f.units.CreateService(ctx, unit.Service{Slug: slug, Name: slug, UnitID: net.ID, UnitSlug: "net"}); err != nil {
			t.Fatal(err)
		}
	}
	users := user.NewStore(d)
	mk := func(email string) int64 {
		u, err := users.Create(ctx, user.NewUser{Email: email, Name: strings.Split(email, "@")[0], Role: auth.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	f.member = &auth.Principal{UserID: mk("sam@example.org"), Role: auth.RoleUser, Units: map[int64]auth.UnitRole{net.ID: auth.UnitMember}}
	f.admin = &auth.Principal{UserID: mk("ada@example.org"), Role: auth.RoleUser, Units: map[int64]auth.UnitRole{net.ID: auth.UnitAdmin}}
	f.outsider = &auth.Principal{UserID: mk("oz@example.org"), Role: auth.RoleUser}
	f.s = f.store()
	return f
}

// store returns a new Store on the fixture's database (a restart, or
// another node).
func (f *fixture) store() *Store {
	log := event.New(f.d, event.Options{})
	return NewStore(f.d, Options{Services: f.units, Emit: log.Append, Now: f.clock.Now})
}

// events returns the data of the events of type typ appended so far.
func (f *fixture) events(t *testing.T, typ string) []EventData {
	t.Helper()
	rows, err := f.d.Reader().QueryContext(context.Background(), `SELECT data FROM events WHERE type = $1 ORDER BY id`, typ)
	if err != nil {
		t.Fatal(err)
	}
	datas, err := db.Collect(rows, func(r interface{ Scan(...any) error }) (EventData, error) {
		var raw string
		var d EventData
		if err := r.Scan(&raw); err != nil {
			return d, err
		}
		return d, json.Unmarshal([]byte(raw), &d)
	})
	if err != nil {
		t.Fatal(err)
	}
	return datas
}

func (f *fixture) declare(p *auth.Principal, title string, start, end time.Time, services ...string) (*Change, error) {
	return f.s.Create(context.Background(), p, Fields{Title: ptr(title), Description: ptr("Firmware upgrade"), Severity: ptr("outage"),
		Start: &start, End: &end, TimeZone: ptr("Europe/Amsterdam"), Services: &services})
}

func TestChangeDeclarationRules(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		h := time.Hour
		c, err := f.declare(f.member, "Storage <b>upgrade</b>", f.t0.Add(48*h), f.t0.Add(50*h), "storage")
		if err != nil {
			t.Fatal(err)
		}
		if c.Classification != Scheduled || c.Status != Planned || c.TimeZone != "Europe/Amsterdam" || c.Title != "Storage <b>upgrade</b>" || len(c.Services) != 1 {
			t.Errorf("declared: %+v", c)
		}
		evs := f.events(t, EventCreated)
		if len(evs) != 1 || evs[0].ID != c.ID || evs[0].Start != "2026-03-04T10:00:00Z" || evs[0].End != "2026-03-04T12:00:00Z" ||
			evs[0].Classification != Scheduled || evs[0].Severity != "outage" || evs[0].Services[0] != "storage" || evs[0].Lead != "" {
			t.Errorf("change.created: %+v", evs)
		}
		u, err := f.declare(f.member, "Compute reboot", f.t0.Add(2*h), f.t0.Add(3*h), "compute")
		if err != nil || u.Classification != Unscheduled {
			t.Errorf("short notice: %+v %v", u, err)
		}
		if r, err := f.declare(f.member, "Retro", f.t0.Add(-47*h), f.t0.Add(-46*h), "ce01-example-org"); err != nil || r.Classification != Unscheduled {
			t.Errorf("declared 47 h after its start: %+v %v", r, err)
		}
		for name, tc := range map[string]struct {
			start, end time.Time
			services   []string
			p          *auth.Principal
			kind       apperr.Kind
		}{
			"inverted":        {f.t0.Add(10 * h), f.t0.Add(9 * h), []string{"storage"}, f.member, apperr.Unprocessable},
			"empty window":    {f.t0.Add(10 * h), f.t0.Add(10 * h), []string{"storage"}, f.member, apperr.Unprocessable},
			"retro 49 h":      {f.t0.Add(-49 * h), f.t0.Add(h), []string{"storage"}, f.member, apperr.Unprocessable},
			"unknown service": {f.t0.Add(100 * h), f.t0.Add(101 * h), []string{"nope"}, f.member, apperr.Unprocessable},
			"overlap":         {f.t0.Add(49 * h), f.t0.Add(60 * h), []string{"compute", "storage"}, f.member, apperr.Conflict},
			"outsider":        {f.t0.Add(100 * h), f.t0.Add(101 * h), []string{"storage"}, f.outsider, apperr.Forbidden},
		} {
			if _, err := f.declare(tc.p, name, tc.start, tc.end, tc.services...); !apperr.Is(err, tc.kind) {
				t.Errorf("%s: %v, want %s", name, err, tc.kind)
			} else if name == "overlap" && !strings.Contains(err.Error(), "service storage has change") {
				t.Errorf("overlap message: %v", err)
			}
		}
		if _, err := f.s.Create(ctx, f.member, Fields{Title: ptr("x"), Description: ptr("y"), Severity: ptr("outage"), Start: ptr(f.t0.Add(90 * h)), End: ptr(f.t0.Add(91 * h)),
			TimeZone: ptr("Mars/Olympus"), Services: ptr([]string{"storage"})}); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("bad time zone: %v", err)
		}
		if _, err := f.s.Create(ctx, f.member, Fields{Title: ptr("x"), Description: ptr("y"), Severity: ptr("down"), Start: ptr(f.t0.Add(90 * h)), End: ptr(f.t0.Add(91 * h)),
			Services: ptr([]string{"storage"})}); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("bad severity: %v", err)
		}
		// Windows that only touch do not overlap.
		if _, err := f.declare(f.member, "After", f.t0.Add(50*h), f.t0.Add(51*h), "storage"); err != nil {
			t.Errorf("adjacent window: %v", err)
		}
		if got, err := f.s.List(ctx, Filter{Service: "storage"}); err != nil || len(got) != 2 {
			t.Errorf("list by service: %d %v", len(got), err)
		}
		if got, err := f.s.List(ctx, Filter{From: f.t0, To: f.t0.Add(24 * h)}); err != nil || len(got) != 1 || got[0].ID != u.ID {
			t.Errorf("list by window: %v %v", got, err)
		}
	})
}

func TestChangeLifecycle(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		h := time.Hour
		c, err := f.declare(f.member, "Network maintenance", f.t0.Add(30*h), f.t0.Add(34*h), "storage", "compute")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Update(ctx, f.member, c.ID, Fields{Status: ptr(InProgress)}); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("planned → in_progress: %v", err)
		}
		if _, err := f.s.Approve(ctx, f.member, c.ID); !apperr.Is(err, apperr.Forbidden) {
			t.Errorf("a member approved: %v", err)
		}
		if c, err = f.s.Approve(ctx, f.admin, c.ID); err != nil || c.Status != Approved || len(c.Approvals) != 1 || c.Approvals[0].Name != "ada" {
			t.Fatalf("approve: %+v %v", c, err)
		}
		// Before the start the window moves freely (not into the past).
		if c, err = f.s.Update(ctx, f.member, c.ID, Fields{Start: ptr(f.t0.Add(10 * h)), End: ptr(f.t0.Add(14 * h))}); err != nil || c.Classification != Unscheduled {
			t.Fatalf("move: %+v %v", c, err)
		}
		if _, err := f.s.Update(ctx, f.member, c.ID, Fields{Start: ptr(f.t0.Add(-h))}); !apperr.Is(err, apperr.Unprocessable) {
			t.Errorf("start moved into the past: %v", err)
		}
		if _, err := f.s.Update(ctx, f.member, c.ID, Fields{Status: ptr(InProgress)}); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("in progress before its start: %v", err)
		}
		f.clock.Set(f.t0.Add(11 * h))
		if c, err = f.s.Update(ctx, f.member, c.ID, Fields{Status: ptr(InProgress)}); err != nil || c.Status != InProgress {
			t.Fatalf("in progress: %+v %v", c, err)
		}
		for name, fl := range map[string]Fields{
			"start moved":  {Start: ptr(f.t0.Add(10*h + time.Minute))},
			"extended":     {End: ptr(f.t0.Add(15 * h))},
			"services":     {Services: ptr([]string{"storage"})},
			"back to plan": {Status: ptr(Planned)},
		} {
			if _, err := f.s.Update(ctx, f.member, c.ID, fl); err == nil {
				t.Errorf("%s once started: accepted", name)
			}
		}
		if c, err = f.s.Update(ctx, f.member, c.ID, Fields{End: ptr(f.t0.Add(13 * h)), Description: ptr("<script>alert(1)</script>")}); err != nil ||
			!c.End.Equal(f.t0.Add(13*h)) || c.Services[0].End != c.End || c.Description != "<script>alert(1)</script>" {
			t.Fatalf("shortened: %+v %v", c, err)
		}
		// Per-service early end: compute ends now, storage carries on.
		f.clock.Set(f.t0.Add(12 * h))
		if c, err = f.s.EndService(ctx, f.member, c.ID, "compute"); err != nil || c.Status != InProgress {
			t.Fatalf("end compute: %+v %v", c, err)
		}
		for _, sv := range c.Services {
			want := f.t0.Add(13 * h)
			if sv.Slug == "compute" {
				want = f.t0.Add(12 * h)
			}
			if !sv.End.Equal(want) {
				t.Errorf("%s ends %s, want %s", sv.Slug, sv.End, want)
			}
		}
		if _, err := f.s.EndService(ctx, f.member, c.ID, "compute"); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("ended twice: %v", err)
		}
		ms, err := f.s.Maintenances(ctx, f.t0)
		if err != nil || len(ms) != 1 || ms[0].Status != "in_progress" || len(ms[0].Services) != 1 || !ms[0].Outage {
			t.Errorf("maintenance with compute ended: %+v %v", ms, err)
		}
		// The compute window is free again after its early end.
		if _, err := f.declare(f.member, "Next compute work", f.t0.Add(12*h+30*time.Minute), f.t0.Add(14*h), "compute"); err != nil {
			t.Errorf("a window after an early end: %v", err)
		}
		f.clock.Set(f.t0.Add(12*h + 10*time.Minute))
		if c, err = f.s.EndService(ctx, f.member, c.ID, "storage"); err != nil || c.Status != Completed || !c.End.Equal(f.t0.Add(12*h+10*time.Minute)) {
			t.Fatalf("last service ended: %+v %v", c, err)
		}
		if _, err := f.s.Update(ctx, f.member, c.ID, Fields{Status: ptr(Failed)}); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("completed → failed: %v", err)
		}
		if _, err := f.s.Update(ctx, f.outsider, c.ID, Fields{Title: ptr("mine")}); !apperr.Is(err, apperr.Forbidden) {
			t.Errorf("outsider: %v", err)
		}
		// A cancelled change frees its window.
		x, err := f.declare(f.member, "Maybe", f.t0.Add(40*h), f.t0.Add(41*h), "storage")
		if err != nil {
			t.Fatal(err)
		}
		if x, err = f.s.Update(ctx, f.member, x.ID, Fields{Status: ptr(Cancelled)}); err != nil || x.Status != Cancelled {
			t.Fatalf("cancel: %+v %v", x, err)
		}
		if _, err := f.declare(f.member, "Instead", f.t0.Add(40*h), f.t0.Add(41*h), "storage"); err != nil {
			t.Errorf("window of a cancelled change: %v", err)
		}
		// A planned change whose window has begun is no longer cancelled.
		begun, err := f.declare(f.member, "Begun", f.t0.Add(12*h), f.t0.Add(12*h+30*time.Minute), "ce01-example-org")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Update(ctx, f.member, begun.ID, Fields{Status: ptr(Cancelled)}); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("cancel a begun change: %v", err)
		}
		if n := len(f.events(t, EventUpdated)); n != 7 {
			t.Errorf("%d change.updated events, want 7 (one per write)", n)
		}
	})
}

func TestChangeRemindersOnce(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		h := time.Hour
		c, err := f.declare(f.member, "Scheduled", f.t0.Add(72*h), f.t0.Add(73*h), "storage")
		if err != nil {
			t.Fatal(err)
		}
		short, err := f.declare(f.member, "Short notice", f.t0.Add(5*h), f.t0.Add(6*h), "compute")
		if err != nil {
			t.Fatal(err)
		}
		remind := func(s *Store) int {
			n, err := s.Remind(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := remind(f.s); n != 0 {
			t.Errorf("%d reminders at declaration time", n)
		}
		f.clock.Set(f.t0.Add(4*h + 30*time.Minute)) // short notice: 1 h lead only (no 24 h: declared inside it)
		if n := remind(f.s); n != 1 {
			t.Errorf("short notice 1 h: %d reminders", n)
		}
		f.clock.Set(f.t0.Add(48*h + time.Minute))
		// Two nodes (or a restart) scanning at once append each reminder once.
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i := range counts {
			s := f.store()
			wg.Go(func() {
				n, err := s.Remind(ctx)
				if err != nil && !apperr.Is(err, apperr.Unavailable) {
					t.Error(err)
				}
				counts[i] = n
			})
		}
		wg.Wait()
		if counts[0]+counts[1] != 1 {
			t.Errorf("24 h reminder appended %v times across two nodes", counts)
		}
		if n := remind(f.store()); n != 0 {
			t.Errorf("after a restart: %d more reminders", n)
		}
		f.clock.Set(f.t0.Add(71*h + 5*time.Minute))
		if n := remind(f.s) + remind(f.s); n != 1 {
			t.Errorf("1 h reminder: %d", n)
		}
		f.clock.Set(f.t0.Add(80 * h))
		if n := remind(f.s); n != 0 {
			t.Errorf("after the start: %d reminders", n)
		}
		evs := f.events(t, EventReminder)
		if len(evs) != 3 || evs[0].ID != short.ID || evs[0].Lead != "1h" || evs[1].ID != c.ID || evs[1].Lead != "24h" || evs[2].Lead != "1h" {
			t.Errorf("reminders: %+v", evs)
		}
	})
}
