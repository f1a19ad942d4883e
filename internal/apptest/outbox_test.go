package apptest_test

import (
	"context"
	"testing"

	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/mail"
)

// mailsOfKind sends what is due, then returns the outbox entries of kind
// newer than *seen, and moves *seen past every entry of the outbox.
func mailsOfKind(t *testing.T, in *apptest.Instance, kind string, seen *int64) []mail.OutboxEntry {
	t.Helper()
	ctx := context.Background()
	if _, err := in.App.Mail.DispatchDue(ctx); err != nil {
		t.Fatal(err)
	}
	entries, err := in.App.Mail.Outbox(ctx, "", 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	var out []mail.OutboxEntry
	for _, m := range entries {
		if m.ID > *seen && m.Kind == kind {
			out = append(out, m)
		}
	}
	if len(entries) > 0 {
		*seen = max(*seen, entries[0].ID)
	}
	return out
}
