package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// podman runs podman as root for one test. It always uses runc: crun 1.8
// (Debian 12) refuses cgroup v1 hosts that also have controllers on the v2
// hierarchy ("cgroups in hybrid mode not supported").
type podman struct {
	t   *testing.T
	bin string
}

// command makes a podman command with the global flags, ended by ctx.
func (p podman) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, p.bin, append([]string{"--runtime", "runc"}, args...)...)
}

// run runs podman with args, fails the test on an error (with podman's
// output) and returns its standard output, trimmed.
func (p podman) run(timeout time.Duration, args ...string) string {
	p.t.Helper()
	out, err := p.try(timeout, args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// try runs podman with args and returns its standard output, trimmed, or an
// error with its standard error. (Not with t.Context(): that ends before the
// cleanups that remove the container, volume and image run.)
func (p podman) try(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := p.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("podman %s: %w\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// logs returns what the container name wrote (helpmesh logs to stderr).
func (p podman) logs(name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := p.command(ctx, "logs", name).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("podman logs %s: %v\n%s", name, err, out)
	}
	return string(out)
}

// rlimitNPROC is RLIMIT_NPROC on Linux, which package syscall does not name.
const rlimitNPROC = 6

// ulimits are the --ulimit flags for podman run and build. As root podman
// raises the open files and processes limits to 1048576 by default, which
// fails (EPERM) where the test runs without CAP_SYS_RESOURCE; these stay
// within the test's own limits.
func ulimits() []string {
	flags := []string{}
	for _, l := range []struct {
		name     string
		resource int
	}{{"nofile", syscall.RLIMIT_NOFILE}, {"nproc", rlimitNPROC}} {
		n := uint64(4096)
		var cur syscall.Rlimit
		if err := syscall.Getrlimit(l.resource, &cur); err == nil && cur.Cur < n {
			n = cur.Cur
		}
		flags = append(flags, "--ulimit", fmt.Sprintf("%s=%d:%d", l.name, n, n))
	}
	return flags
}

// importImage makes the image tag from the tar that write writes, with the
// Dockerfile instructions changes (podman import --change), unless an image
// of that name exists already.
func (p podman) importImage(tag string, changes []string, write func(*tarball) error) {
	p.t.Helper()
	if _, err := p.try(time.Minute, "image", "exists", tag); err == nil {
		return
	}
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	args = append(args, "-", tag)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		tb := &tarball{w: tar.NewWriter(pw), names: map[string]bool{}}
		err := write(tb)
		if err == nil {
			err = tb.w.Close()
		}
		pw.CloseWithError(err)
		written <- err
	}()
	cmd := p.command(ctx, args...)
	cmd.Stdin = pr
	out, err := cmd.CombinedOutput()
	pr.CloseWithError(io.ErrClosedPipe) // the writer stops if podman did
	if werr := <-written; werr != nil {
		// podman may have made an image of the part it read: not to be reused.
		_, _ = p.try(time.Minute, "rmi", "-f", tag)
		p.t.Fatalf("writing the file system of %s: %v", tag, werr)
	}
	if err != nil {
		p.t.Fatalf("podman import %s: %v\n%s", tag, err, out)
	}
}

// tarball writes the file system of an image: directories are made before
// what they hold, owned by root unless given; a name given twice (a library
// two programs need) is written once.
type tarball struct {
	w     *tar.Writer
	names map[string]bool
}

// dir adds the directory name (slash-separated, relative) and its parents.
func (tb *tarball) dir(name string, mode int64, uid int) error {
	if name == "." || name == "" || tb.names[name] {
		return nil
	}
	if err := tb.dir(path.Dir(name), 0o755, 0); err != nil {
		return err
	}
	tb.names[name] = true
	return tb.w.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: time.Unix(0, 0)})
}

// file adds the regular file name with data.
func (tb *tarball) file(name string, mode int64, data []byte) error {
	if tb.names[name] {
		return nil
	}
	if err := tb.dir(path.Dir(name), 0o755, 0); err != nil {
		return err
	}
	tb.names[name] = true
	if err := tb.w.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	_, err := tb.w.Write(data)
	return err
}

// symlink adds the symbolic link name to target.
func (tb *tarball) symlink(name, target string) error {
	if tb.names[name] {
		return nil
	}
	if err := tb.dir(path.Dir(name), 0o755, 0); err != nil {
		return err
	}
	tb.names[name] = true
	return tb.w.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, ModTime: time.Unix(0, 0)})
}

// hostFile adds the host's file at the same place, following symbolic links.
func (tb *tarball) hostFile(hostPath string) error {
	data, err := os.ReadFile(hostPath)
	if err != nil {
		return err
	}
	fi, err := os.Stat(hostPath)
	if err != nil {
		return err
	}
	return tb.file(strings.TrimPrefix(hostPath, "/"), int64(fi.Mode().Perm()), data)
}

// hostTree adds the host's directory root and everything below it, at the
// same place, keeping symbolic links.
func (tb *tarball) hostTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "/")
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return tb.dir(name, int64(fi.Mode().Perm()), 0)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return tb.symlink(name, target)
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := tb.w.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
			_, err = io.Copy(tb.w, f)
			return err
		}
		return nil // sockets, devices: none in a Go installation
	})
}

// hostProgram adds the host's program at the same place with the shared
// libraries that ldd lists for it.
func (tb *tarball) hostProgram(program string) error {
	out, err := exec.Command("ldd", program).Output()
	if err != nil {
		return fmt.Errorf("ldd %s: %w", program, err)
	}
	files := []string{program}
	for line := range strings.Lines(string(out)) {
		// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
		// "/lib64/ld-linux-x86-64.so.2 (0x...)"
		fields := strings.Fields(line)
		if len(fields) >= 3 && fields[1] == "=>" {
			fields = fields[2:]
		}
		if len(fields) > 0 && strings.HasPrefix(fields[0], "/") {
			files = append(files, fields[0])
		}
	}
	for _, f := range files {
		if err := tb.hostFile(f); err != nil {
			return err
		}
	}
	return nil
}

// goBaseImage makes the stand-in for golang:1.26-bookworm from the host:
// its Go installation (goroot), /bin/sh and mkdir (which the Dockerfile's RUN
// lines use). The build runs offline: GOPROXY=off, the module cache mounted
// at GOPATH/pkg/mod, and the build cache at GOCACHE.
func (p podman) goBaseImage(goroot, goVersion string) string {
	tag := "localhost/helpmesh-test-go:" + goVersion + "-1" // -1: this recipe
	p.importImage(tag, []string{
		"ENV PATH=/usr/local/go/bin:/usr/bin:/bin",
		"ENV HOME=/root",
		"ENV GOPATH=/go",
		"ENV GOCACHE=/root/.cache/go-build",
		"ENV GOPROXY=off",
		"ENV GOFLAGS=-buildvcs=false",
		"ENV GOTOOLCHAIN=local",
	}, func(tb *tarball) error {
		if err := tb.dir("tmp", 0o1777, 0); err != nil {
			return err
		}
		for _, d := range []string{"root", "go"} {
			if err := tb.dir(d, 0o755, 0); err != nil {
				return err
			}
		}
		if err := tb.file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n")); err != nil {
			return err
		}
		sh, err := filepath.EvalSymlinks("/bin/sh")
		if err != nil {
			return err
		}
		mkdir, err := exec.LookPath("mkdir")
		if err != nil {
			return err
		}
		for _, prog := range []string{sh, mkdir} {
			if err := tb.hostProgram(prog); err != nil {
				return err
			}
		}
		if sh != "/bin/sh" {
			if err := tb.symlink("bin/sh", sh); err != nil {
				return err
			}
		}
		if err := tb.hostTree(goroot); err != nil {
			return err
		}
		if goroot != "/usr/local/go" {
			return tb.symlink("usr/local/go", goroot)
		}
		return nil
	})
	return tag
}

// runBaseImage makes the stand-in for gcr.io/distroless/static-debian12:nonroot:
// the users root and nonroot (65532), the host's CA certificates, /tmp.
func (p podman) runBaseImage() string {
	const tag = "localhost/helpmesh-test-static:1"
	p.importImage(tag, nil, func(tb *tarball) error {
		if err := tb.dir("tmp", 0o1777, 0); err != nil {
			return err
		}
		if err := tb.dir("home/nonroot", 0o700, 65532); err != nil {
			return err
		}
		if err := tb.file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")); err != nil {
			return err
		}
		if err := tb.file("etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")); err != nil {
			return err
		}
		if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil {
			return tb.hostFile("/etc/ssl/certs/ca-certificates.crt")
		}
		return nil
	})
	return tag
}
