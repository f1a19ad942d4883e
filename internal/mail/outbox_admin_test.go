package mail

import (
	"context"
	"strings"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apperr"
)

// TestOutboxAdmin: the preview of an outgoing mail's text, discarding
// mail not sent yet, and sending failed mail again (held here: the test
// gateway has no relay).
func TestOutboxAdmin(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		g, ctx := e.g, context.Background()
		for _, to := range []string{"ada@example.org", "bob@example.org"} {
			if err := g.SendText(ctx, to, "Your sign-in link", "Open https://x/login/abc to sign in.\n\nThe link works once, for 30 minutes."); err != nil {
				t.Fatal(err)
			}
		}
		out, err := g.Outbox(ctx, "", 0, 10)
		if err != nil || len(out) < 2 {
			t.Fatalf("outbox: %v %+v", err, out)
		}
		bob, ada := out[0], out[1]
		p, err := g.OutboxPreview(ctx, ada.ID, 30)
		if err != nil || p != "Open https://x/login/abc to si…" {
			t.Errorf("preview: %q %v", p, err)
		}
		if _, err := g.OutboxPreview(ctx, 99999, 30); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("preview of no mail: %v", err)
		}

		if err := g.Discard(ctx, ada.ID); err != nil {
			t.Fatalf("discard held mail: %v", err)
		}
		if err := g.Discard(ctx, ada.ID); !apperr.Is(err, apperr.Conflict) || !strings.Contains(err.Error(), "suppressed") {
			t.Errorf("discard twice: %v", err)
		}
		if err := g.Retry(ctx, bob.ID); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("retry of mail that did not fail: %v", err)
		}
		if _, err := e.db.W.ExecContext(ctx, `UPDATE outbox SET state = 'failed', last_error = '550 no' WHERE id = $1`, bob.ID); err != nil {
			t.Fatal(err)
		}
		if err := g.Retry(ctx, bob.ID); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if err := g.Retry(ctx, 99999); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("retry of no mail: %v", err)
		}
		out, _ = g.Outbox(ctx, "", 0, 10)
		states := map[int64]string{}
		for _, o := range out {
			states[o.ID] = o.State + "/" + o.LastError
		}
		if states[ada.ID] != "suppressed/discarded by an administrator" || states[bob.ID] != "held/" {
			t.Errorf("states after discard and retry: %v", states)
		}
	})
}
