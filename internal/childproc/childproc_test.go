package childproc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startShell starts sh -c script with Start and returns the process and the
// first line the script prints (a grandchild's pid).
func startShell(t *testing.T, script string) (*Process, int) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop(0) })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read the grandchild's pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	return p, pid
}

// waitGone waits until process pid has ended: it no longer exists, or it is
// a zombie waiting for its new parent to reap it.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) || runtime.GOOS != "linux"
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	_, rest, _ := bytes.Cut(stat[bytes.LastIndexByte(stat, ')'):], []byte(" "))
	return !bytes.HasPrefix(rest, []byte("Z"))
}

func TestStop(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		grace    time.Duration
		min, max time.Duration // how long Stop may take
	}{
		{name: "SIGTERM ends the group", script: `sleep 60 & echo $!; wait`,
			grace: 10 * time.Second, max: 5 * time.Second},
		{name: "SIGKILL after the grace period", script: `trap "" TERM; sleep 60 & echo $!; while :; do sleep 0.05; done`,
			grace: 300 * time.Millisecond, min: 300 * time.Millisecond, max: 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, grandchild := startShell(t, tc.script)
			start := time.Now()
			p.stop(tc.grace)
			took := time.Since(start)
			if took < tc.min || took > tc.max {
				t.Errorf("Stop took %v, want between %v and %v", took, tc.min, tc.max)
			}
			select {
			case <-p.Exited():
			default:
				t.Fatal("Stop returned before the process exited")
			}
			var exit *exec.ExitError
			if !errors.As(p.Err(), &exit) {
				t.Errorf("Err() = %v, want the *exec.ExitError of a killed process", p.Err())
			}
			waitGone(t, grandchild) // the whole group was stopped
			p.Stop()                // a second Stop returns at once
		})
	}
}

// A process that ends by itself closes Exited, and Stop afterwards is
// harmless.
func TestExitedByItself(t *testing.T) {
	p, err := Start(exec.Command("sh", "-c", "exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("Exited not closed")
	}
	var exit *exec.ExitError
	if !errors.As(p.Err(), &exit) || exit.ExitCode() != 3 {
		t.Errorf("Err() = %v, want exit status 3", p.Err())
	}
	p.Stop()
}

// Cancelling the context of a StopOnCancel command stops its group, with
// SIGKILL after the grace period for a process that ignores SIGTERM.
func TestStopOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", `trap "" TERM; sleep 60 & echo $!; while :; do sleep 0.05; done`)
	StopOnCancel(cmd, 300*time.Millisecond)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	grandchild, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cancel()
	waitErr := cmd.Wait()
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("Wait after cancel took %v, want between the grace period and 5s", took)
	}
	if waitErr == nil {
		t.Error("Wait returned nil for a killed command")
	}
	waitGone(t, grandchild)
}
