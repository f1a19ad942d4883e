package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"debug/elf"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/testenv"
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
	var user, volume, entry, build, dataCopy string
	// The ARGs before the first FROM: their defaults name the base images.
	args := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(string(raw), "\\\n", " ")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "ARG":
			if len(froms) == 0 {
				name, def, _ := strings.Cut(rest, "=")
				args[name] = def
			}
		case "FROM":
			rest = os.Expand(rest, func(name string) string { return args[name] })
			froms = append(froms, rest)
			if _, name, ok := strings.Cut(rest, " AS "); ok {
				stages = append(stages, name)
			}
		case "COPY":
			if strings.HasSuffix(rest, " /data") {
				dataCopy = rest
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
		"two stages: build, then run":                       len(froms) == 2 && len(stages) == 1,
		"no :latest base image":                             !strings.Contains(strings.Join(froms, " "), ":latest"),
		"base images given (an ARG with a default)":         !strings.Contains(strings.Join(froms, " "), "$") && !strings.HasPrefix(froms[0], " ") && !strings.HasPrefix(final, " "),
		"final image distroless or debian-slim":             strings.Contains(final, "distroless") || strings.Contains(final, "-slim"),
		"runs as a non-root numeric user":                   regexp.MustCompile(`^[1-9][0-9]*(:[0-9]+)?$`).MatchString(user),
		"data in a volume":                                  strings.Contains(volume, "/data"),
		"/data owned by that user (a new volume copies it)": user != "" && strings.Contains(dataCopy, "--chown="+user+" "),
		"exec-form ENTRYPOINT":                              strings.HasPrefix(entry, "["),
		"static build (CGO_ENABLED=0)":                      strings.Contains(build, "CGO_ENABLED=0"),
		"version and commit linked in with -ldflags":        strings.Contains(build, "main.linkedVersion=") && strings.Contains(build, "main.linkedCommit="),
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

// TestContainerImage builds the image from the Dockerfile with podman and
// runs it: helpmesh serve on SQLite in a named volume, as user 65532,
// answering /healthz and the sign-in page through a published port; then it
// stops the container and checks the database is in the volume.
//
// No registry is reachable here, so the Dockerfile's two base images are
// replaced (--build-arg GO_IMAGE, RUN_IMAGE) by local ones made from the
// host: Go and a shell for the build, users and CA certificates for the
// run. The build is offline: the host's module cache (filled by go mod
// download first) and build cache are mounted into it.
func TestContainerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a container image")
	}
	p := podman{t: t, bin: testenv.Podman(t)}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	goEnv := func(name string) string {
		out, err := exec.Command("go", "env", name).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	goroot, err := filepath.EvalSymlinks(goEnv("GOROOT"))
	if err != nil {
		t.Fatal(err)
	}
	download := exec.Command("go", "mod", "download")
	download.Dir = root
	if out, err := download.CombinedOutput(); err != nil {
		t.Fatalf("go mod download (for the offline build): %v\n%s", err, out)
	}

	start := time.Now()
	goImage, runImage := p.goBaseImage(goroot, goEnv("GOVERSION")), p.runBaseImage()
	t.Logf("base images %s, %s: %s", goImage, runImage, time.Since(start).Round(time.Millisecond))

	id := strings.ToLower(rand.Text()[:10])
	image, volume, name := "localhost/helpmesh-test:"+id, "helpmesh-test-"+id, "helpmesh-test-"+id
	commit := fmt.Sprintf("%x", []byte(id)) // 20 hex digits
	start = time.Now()
	build := append([]string{"build", "--layers=false", "--pull=never", "-f", filepath.Join(root, "Dockerfile"), "-t", image,
		"--build-arg", "GO_IMAGE=" + goImage, "--build-arg", "RUN_IMAGE=" + runImage,
		"--build-arg", "VERSION=v0.0.0-podman", "--build-arg", "COMMIT=" + commit,
		"-v", goEnv("GOMODCACHE") + ":/go/pkg/mod", "-v", goEnv("GOCACHE") + ":/root/.cache/go-build"},
		ulimits()...)
	p.run(10*time.Minute, append(build, root)...)
	t.Cleanup(func() { _, _ = p.try(time.Minute, "rmi", "-f", image) })
	t.Logf("podman build: %s", time.Since(start).Round(time.Millisecond))

	if got := p.run(time.Minute, "image", "inspect", "-f", "{{.Config.User}}", image); got != "65532:65532" {
		t.Errorf("image user %q, want 65532:65532", got)
	}
	version := p.run(time.Minute, append(append([]string{"run", "--rm"}, ulimits()...), image, "version")...)
	if want := "helpmesh v0.0.0-podman " + commit[:12] + " go"; !strings.HasPrefix(version, want) {
		t.Errorf("helpmesh version in the container: %q, want %q...", version, want)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port to publish on
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p.run(time.Minute, "volume", "create", volume)
	t.Cleanup(func() { _, _ = p.try(time.Minute, "volume", "rm", "-f", volume) })
	start = time.Now()
	run := append([]string{"run", "-d", "--name", name, "-p", addr + ":8080", "-v", volume + ":/data"}, ulimits()...)
	p.run(time.Minute, append(run, image)...)
	t.Cleanup(func() { _, _ = p.try(time.Minute, "rm", "-f", "-t", "0", name) })
	t.Cleanup(func() { // before the container is removed
		if t.Failed() {
			t.Logf("logs of the container:\n%s", p.logs(name))
		}
	})

	var health string
	waitFor(t, time.Minute, "/healthz of the container", func() (bool, error) {
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false, nil // not listening yet
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		health = string(b)
		return err == nil && res.StatusCode == http.StatusOK, nil
	})
	t.Logf("the container answers /healthz %s after %s", strings.TrimSpace(health), time.Since(start).Round(time.Millisecond))
	if !strings.Contains(health, `"status":"ok"`) || !strings.Contains(health, `"db":"sqlite"`) {
		t.Errorf("/healthz: %s", health)
	}
	res, err := http.Get("http://" + addr + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !bytes.Contains(page, []byte("<form")) {
		t.Errorf("GET /login: %d %s %v\n%.500s", res.StatusCode, res.Header.Get("Content-Type"), err, page)
	}

	pid := p.run(time.Minute, "inspect", "-f", "{{.State.Pid}}", name)
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^Uid:\s+65532\s+65532\s+65532\s+65532$`).Match(status) {
		t.Errorf("helpmesh in the container (pid %s) does not run as 65532:\n%s", pid, status)
	}

	p.run(time.Minute, "stop", "-t", "20", name)
	if code := p.run(time.Minute, "inspect", "-f", "{{.State.ExitCode}}", name); code != "0" {
		t.Errorf("exit code after podman stop: %s\n%s", code, p.logs(name))
	}
	if logs := p.logs(name); !strings.Contains(logs, "shutting down") {
		t.Errorf("no graceful shutdown in the logs:\n%s", logs)
	}
	mount := p.run(time.Minute, "volume", "inspect", "-f", "{{.Mountpoint}}", volume)
	fi, err := os.Stat(filepath.Join(mount, "helpmesh.db"))
	if err != nil {
		t.Fatalf("the database is not in the volume: %v", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != 65532 {
		t.Errorf("helpmesh.db in the volume: owner %v, want 65532", fi.Sys())
	}
}
