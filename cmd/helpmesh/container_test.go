package main

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile lints the Dockerfile (no hadolint here: its rules that
// matter to us, checked by hand) and builds the binary the way it does,
// which must be static and report the version and commit given.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages, froms []string
	var user, volume, entry, build string
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(string(raw), "\\\n", " ")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			froms = append(froms, rest)
			if _, name, ok := strings.Cut(rest, " AS "); ok {
				stages = append(stages, name)
			}
		case "USER":
			user = rest
		case "VOLUME":
			volume = rest
		case "ENTRYPOINT":
			entry = rest
		case "RUN":
			if strings.Contains(rest, "go build") {
				build = rest
			}
		}
	}
	final := froms[len(froms)-1]
	checks := map[string]bool{
		"two stages: build, then run":                len(froms) == 2 && len(stages) == 1,
		"no :latest base image":                      !strings.Contains(strings.Join(froms, " "), ":latest"),
		"final image distroless or debian-slim":      strings.Contains(final, "distroless") || strings.Contains(final, "-slim"),
		"runs as a non-root numeric user":            regexp.MustCompile(`^[1-9][0-9]*(:[0-9]+)?$`).MatchString(user),
		"data in a volume":                           strings.Contains(volume, "/data"),
		"exec-form ENTRYPOINT":                       strings.HasPrefix(entry, "["),
		"static build (CGO_ENABLED=0)":               strings.Contains(build, "CGO_ENABLED=0"),
		"version and commit linked in with -ldflags": strings.Contains(build, "main.linkedVersion=") && strings.Contains(build, "main.linkedCommit="),
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("Dockerfile: %s", name)
		}
	}
	if testing.Short() {
		return
	}
	bin := filepath.Join(t.TempDir(), "helpmesh")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.linkedVersion=v9.8.7 -X main.linkedCommit=0123456789abcdef0123", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build as in the Dockerfile: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked (has an ELF interpreter)")
		}
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "helpmesh v9.8.7 0123456789ab go") {
		t.Errorf("version: %q", out)
	}
}
