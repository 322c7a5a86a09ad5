package s3server

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// Binary returns the path of a versitygw binary, building it once if needed:
//
//  1. $VERSITYGW_BIN, when set (it must exist);
//  2. else <user cache dir>/copy-files-to-archive/versitygw-v1.8.0/versitygw,
//     built there with `go install` (GOBIN set to that directory) if absent.
//
// The build holds an exclusive file lock, so parallel test packages build it
// once and the others wait for it. A cold build takes a few minutes; later
// runs find the binary in place.
func Binary(ctx context.Context, log io.Writer) (string, error) {
	if bin := os.Getenv(BinEnv); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("s3server: %s=%q: %w", BinEnv, bin, err)
		}
		return bin, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("s3server: no user cache dir (set %s to a versitygw binary): %w", BinEnv, err)
	}
	dir := filepath.Join(cache, "copy-files-to-archive", "versitygw-"+Version)
	bin := filepath.Join(dir, "versitygw")
	if isExecutable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("s3server: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("s3server: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("s3server: lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if isExecutable(bin) { // built by someone else while we waited
		return bin, nil
	}
	if err := install(ctx, dir, log); err != nil {
		return "", err
	}
	if !isExecutable(bin) {
		return "", fmt.Errorf("s3server: go install succeeded but %s is missing", bin)
	}
	return bin, nil
}

// install runs `go install Module@Version` with GOBIN=dir. It runs outside
// any module (GOWORK=off, GOFLAGS cleared of -mod) so the project's go.mod
// plays no part.
func install(ctx context.Context, dir string, log io.Writer) error {
	goCmd, err := goTool()
	if err != nil {
		return err
	}
	if log == nil {
		log = io.Discard
	}
	start := time.Now()
	fmt.Fprintf(log, "s3server: building versitygw %s into %s (first time only, takes a few minutes)\n", Version, dir)
	tmp, err := os.MkdirTemp(dir, "gobin-")
	if err != nil {
		return fmt.Errorf("s3server: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, goCmd, "install", Module+"@"+Version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("s3server: go install %s@%s failed (set %s to a prebuilt binary to skip the build): %w\n%s",
			Module, Version, BinEnv, err, out)
	}
	// Install into a temporary GOBIN, then rename: a reader never sees a
	// half-written binary.
	if err := os.Rename(filepath.Join(tmp, "versitygw"), filepath.Join(dir, "versitygw")); err != nil {
		return fmt.Errorf("s3server: %w", err)
	}
	fmt.Fprintf(log, "s3server: built versitygw in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// goTool finds the go command: the toolchain that built this test binary
// first, then PATH.
func goTool() (string, error) {
	if root := runtime.GOROOT(); root != "" {
		p := filepath.Join(root, "bin", "go")
		if isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w (or set %s)", errNoGo, BinEnv)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
