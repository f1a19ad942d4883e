package apptest_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/mail"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// TestAlarmMailLatency measures issue 15's target "alarm mail handed to
// the relay < 1 s after the ticket is created (p95)" against the real
// relay (Postfix): 20 alarms one after another, each mail's sent_at
// against its ticket's creation. It prints p50 and p95, and fails only
// far above the target (the test machine is shared).
func TestAlarmMailLatency(t *testing.T) {
	mta, local := testenv.MTA(t), testenv.LocalDomain(t)
	in := apptest.Start(t, apptest.SQLite, func(cfg *config.Config) {
		cfg.SMTPRelay = "smtp://" + mta
		cfg.MailFrom = "helpdesk@helpmesh.test"
	})
	ctx := context.Background()
	in.NewUnit(t, "triage", true)
	in.NewUnit(t, "storage", false)
	if _, err := in.Admin.CreateService(ctx, client.Service{Slug: "grid", Name: "Grid", Unit: "storage",
		AlarmEmail: "hmtest@" + local, AlarmTeams: []string{"atlas-ops"}}); err != nil {
		t.Fatal(err)
	}
	opsU, err := in.Admin.CreateUser(ctx, client.NewUser{Email: "ops@uni.example", Name: "ops", Team: "atlas-ops"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := in.Admin.CreateToken(ctx, opsU.ID, client.NewToken{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ops := in.Client(tok.Token)
	created := map[int64]time.Time{}
	for range 20 {
		tk, err := ops.CreateTicket(ctx, client.NewTicket{Subject: "storage element down", Body: "transfers fail", Service: "grid", Kind: "alarm"})
		if err != nil {
			t.Fatal(err)
		}
		created[tk.ID] = tk.CreatedAt
		time.Sleep(50 * time.Millisecond)
	}
	var lat []time.Duration
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := in.Do(t, "GET", "/api/v1/outbox?state=sent&limit=500", in.AdminToken, "", nil)
		var out struct {
			Items []mail.OutboxEntry `json:"items"`
		}
		if err := json.Unmarshal(r.Body, &out); err != nil {
			t.Fatalf("outbox: %v: %s", err, r.Body)
		}
		lat = lat[:0]
		for _, m := range out.Items {
			if at, ok := created[m.TicketID]; ok && m.To == "hmtest@"+local && m.SentAt != nil {
				lat = append(lat, m.SentAt.Sub(at))
			}
		}
		if len(lat) >= len(created) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d alarm mails handed to the relay after 30 s", len(lat), len(created))
		}
	}
	slices.Sort(lat)
	p50, p95 := lat[len(lat)/2], lat[len(lat)*95/100]
	t.Logf("alarm mail handed to the relay after the ticket's creation: p50 %s, p95 %s, max %s (%d alarms)", p50, p95, lat[len(lat)-1], len(lat))
	if p95 > 10*time.Second {
		t.Errorf("alarm mail p95 %s, target < 1 s", p95)
	}
}
