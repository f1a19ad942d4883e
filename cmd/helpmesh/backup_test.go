package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupRoundTrip (SQLite): a user and an attachment file survive
// backup and restore into another data directory; restore refuses a
// directory that has a database, and backup one that has none.
func TestBackupRoundTrip(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	env := map[string]string{"HELPMESH_DATA": src}
	if code, _, errs := cli(t, env, "", "user", "add", "--email", "kim@example.org", "--name", "Kim"); code != 0 {
		t.Fatalf("user add: %d %s", code, errs)
	}
	blob := filepath.Join(src, "blobs", "ab", "abcdef")
	if err := os.MkdirAll(filepath.Dir(blob), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blob, []byte("an attachment"), 0o600); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "backup.tar")
	if code, out, errs := cli(t, env, "", "backup", tarPath); code != 0 || !strings.Contains(out, "backup written") {
		t.Fatalf("backup: %d %s %s", code, out, errs)
	}
	if fi, err := os.Stat(tarPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	if code, _, errs := cli(t, env, "", "restore", tarPath); code != 2 || !strings.Contains(errs, "without a database") {
		t.Errorf("restore over a database: %d %s", code, errs)
	}
	denv := map[string]string{"HELPMESH_DATA": dst}
	if code, out, errs := cli(t, denv, "", "restore", tarPath); code != 0 || !strings.Contains(out, "restored 2 files") {
		t.Fatalf("restore: %d %s %s", code, out, errs)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "blobs", "ab", "abcdef")); err != nil || string(b) != "an attachment" {
		t.Errorf("restored attachment: %q %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "helpmesh.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored database: %v %v", fi, err)
	}
	if code, out, errs := cli(t, denv, "", "token", "create", "--email", "kim@example.org"); code != 0 || !strings.HasPrefix(out, "hm_") {
		t.Errorf("token create on the restored data: %d %q %s", code, out, errs)
	}
	if code, _, errs := cli(t, map[string]string{"HELPMESH_DATA": t.TempDir()}, "", "backup", filepath.Join(t.TempDir(), "x.tar")); code != 2 || !strings.Contains(errs, "no database") {
		t.Errorf("backup without a database: %d %s", code, errs)
	}
}

// TestRestoreRefusesForeignEntries: a tar with a path out of the data
// directory, or a file that is not ours, restores nothing of it.
func TestRestoreRefusesForeignEntries(t *testing.T) {
	for _, name := range []string{"../evil", "blobs/../../evil", "/etc/passwd", "notes.txt"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: 1, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte("x"))
		_ = tw.Close()
		p := filepath.Join(t.TempDir(), "bad.tar")
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "data")
		if code, _, errs := cli(t, map[string]string{"HELPMESH_DATA": dir}, "", "restore", p); code != 1 || !strings.Contains(errs, "does not belong") {
			t.Errorf("%s: %d %s", name, code, errs)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "evil")); err == nil {
			t.Errorf("%s: written outside the data directory", name)
		}
	}
}
