package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/client"
	"github.com/helpmesh/helpmesh/internal/apptest"
	"github.com/helpmesh/helpmesh/internal/config"
	"github.com/helpmesh/helpmesh/internal/testenv"
)

// TestBackupRoundTripPostgres (issue 16.14): tickets and an attachment of
// a helpmesh on PostgreSQL survive backup (pg_dump, then the attachments)
// and restore into a fresh database and data directory, which then serve
// them; restore refuses a database with tables without --force and
// replaces its contents with it; a missing pg_dump is a clear
// configuration error.
func TestBackupRoundTripPostgres(t *testing.T) {
	ctx := context.Background()
	src := apptest.Start(t, apptest.Postgres)
	src.NewUnit(t, "compute", false)
	src.NewService(t, "cloud", "compute")
	_, ann := src.NewUser(t, "ann@example.org", "user")
	const attachment = "an attachment kept on PostgreSQL nodes"
	for i := range 3 {
		tk, err := ann.CreateTicket(ctx, client.NewTicket{Subject: fmt.Sprintf("ticket %d", i), Body: "please help", Service: "cloud"})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := ann.AddMessage(ctx, tk.ID, "the log", false, []client.File{{Name: "boot.log", ContentType: "text/plain", Content: strings.NewReader(attachment)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := snapshot(t, src.Admin)

	env := map[string]string{"HELPMESH_DB": src.App.Config.DB, "HELPMESH_DATA": src.App.Config.DataDir}
	tarPath := filepath.Join(t.TempDir(), "backup.tar")
	start := time.Now()
	if code, out, errs := cli(t, env, "", "backup", tarPath); code != 0 || !strings.Contains(out, "backup written") {
		t.Fatalf("backup: %d %s %s", code, out, errs)
	}
	t.Logf("backup (pg_dump and the attachments): %s", time.Since(start).Round(time.Millisecond))
	if names := tarNames(t, tarPath); len(names) != 2 || names[0] != "helpmesh.pgdump" || !strings.HasPrefix(names[1], "blobs/") {
		t.Errorf("the backup holds %v, want the dump and then the one attachment", names)
	}
	if code, _, errs := cli(t, env, "", "restore", tarPath); code != 2 || !strings.Contains(errs, "--force") {
		t.Errorf("restore into the database in use: %d %s", code, errs)
	}
	sqliteData := t.TempDir()
	if code, _, errs := cli(t, map[string]string{"HELPMESH_DATA": sqliteData}, "", "restore", tarPath); code != 2 || !strings.Contains(errs, "PostgreSQL") {
		t.Errorf("restore of a PostgreSQL backup with SQLite configured: %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(sqliteData, "helpmesh.db")); err == nil {
		t.Error("the refused restore left a SQLite database")
	}
	missing := map[string]string{"HELPMESH_DB": src.App.Config.DB, "HELPMESH_DATA": src.App.Config.DataDir, "HELPMESH_PG_DUMP": "/nonexistent/pg_dump"}
	if code, _, errs := cli(t, missing, "", "backup", filepath.Join(t.TempDir(), "x.tar")); code != 2 || !strings.Contains(errs, "HELPMESH_PG_DUMP") {
		t.Errorf("backup without pg_dump: %d %s", code, errs)
	}

	// A fresh database and data directory, the attachments on a
	// directory of their own (HELPMESH_ATTACHMENTS).
	dsn, data, blobs := testenv.PostgresDSN(t), t.TempDir(), filepath.Join(t.TempDir(), "shared-attachments")
	denv := map[string]string{"HELPMESH_DB": dsn, "HELPMESH_DATA": data, "HELPMESH_ATTACHMENTS": blobs}
	start = time.Now()
	if code, out, errs := cli(t, denv, "", "restore", tarPath); code != 0 || !strings.Contains(out, "restored 2 files") {
		t.Fatalf("restore: %d %s %s", code, out, errs)
	}
	t.Logf("restore into a fresh database (pg_restore and the attachments): %s", time.Since(start).Round(time.Millisecond))
	if code, _, errs := cli(t, denv, "", "restore", tarPath); code != 2 || !strings.Contains(errs, "tables") {
		t.Errorf("restore again without --force: %d %s", code, errs)
	}
	if code, out, errs := cli(t, denv, "", "restore", "--force", tarPath); code != 0 {
		t.Fatalf("restore --force: %d %s %s", code, out, errs)
	}
	dst := apptest.Start(t, apptest.Postgres, func(c *config.Config) { c.DB, c.DataDir, c.Attachments = dsn, data, blobs })
	admin := dst.Client(src.AdminToken) // the token is in the restored database
	if got := snapshot(t, admin); got != want {
		t.Errorf("restored:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(want, attachment) {
		t.Errorf("the attachment is not in the snapshot: %s", want)
	}
}

// snapshot describes every ticket c sees: subject, status, service and
// its messages with their attachments' contents.
func snapshot(t *testing.T, c *client.Client) string {
	t.Helper()
	ctx := context.Background()
	page, err := c.Tickets(ctx, client.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, tk := range page.Items {
		fmt.Fprintf(&b, "#%d %s %s %v\n", tk.ID, tk.Subject, tk.Status, *tk.Service)
		msgs, err := c.Messages(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			fmt.Fprintf(&b, "  %s: %s\n", m.Author.Email, m.Body)
			for _, a := range m.Attachments {
				var buf bytes.Buffer
				if err := c.Download(ctx, a.ID, &buf); err != nil {
					t.Fatalf("download %s: %v", a.Filename, err)
				}
				fmt.Fprintf(&b, "    %s: %s\n", a.Filename, buf.String())
			}
		}
	}
	return b.String()
}

// tarNames lists the entries of the tar at p.
func tarNames(t *testing.T, p string) []string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}
