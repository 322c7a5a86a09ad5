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

// testDeadline fires shortly before go test's -timeout would stop the
// test binary. Waits end there, not after a fixed time that a slow machine
// could overrun.
func testDeadline(t *testing.T) <-chan time.Time {
	d, ok := t.Deadline()
	if !ok {
		return nil // no -timeout: wait as long as it takes
	}
	timer := time.NewTimer(time.Until(d) - 5*time.Second)
	t.Cleanup(func() { timer.Stop() })
	return timer.C
}

// waitGone waits until process pid has ended: it no longer exists, or it is
// a zombie waiting for its new parent to reap it.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := testDeadline(t)
	for alive(pid) {
		select {
		case <-deadline:
			t.Fatalf("process %d still runs", pid)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// killedBy returns the signal that ended a process, from its Err.
func killedBy(t *testing.T, err error) syscall.Signal {
	t.Helper()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("Err() = %v, want the *exec.ExitError of a killed process", err)
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		t.Fatalf("Err() = %v: not ended by a signal", err)
	}
	return ws.Signal()
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

// Stop ends the group with SIGTERM, or with SIGKILL once the grace period
// has passed. No upper bound on time is asserted: with an hour's grace, a
// Stop that waited for it would run into go test's -timeout.
func TestStop(t *testing.T) {
	tests := []struct {
		name   string
		script string
		grace  time.Duration
		signal syscall.Signal // what ends the leader
	}{
		{name: "SIGTERM ends the group", script: `sleep 60 & echo $!; wait`,
			grace: time.Hour, signal: syscall.SIGTERM},
		{name: "SIGKILL after the grace period", script: `trap "" TERM; sleep 60 & echo $!; while :; do sleep 0.05; done`,
			grace: 300 * time.Millisecond, signal: syscall.SIGKILL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, grandchild := startShell(t, tc.script)
			start := time.Now()
			p.stop(tc.grace)
			took := time.Since(start)
			select {
			case <-p.Exited():
			default:
				t.Fatal("Stop returned before the process exited")
			}
			if sig := killedBy(t, p.Err()); sig != tc.signal {
				t.Errorf("the process ended by %v, want %v", sig, tc.signal)
			}
			// A lower bound holds on any machine: SIGKILL waits for the grace.
			if tc.signal == syscall.SIGKILL && took < tc.grace {
				t.Errorf("Stop sent SIGKILL after %v, before the %v grace period", took, tc.grace)
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
	case <-testDeadline(t):
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
	// A lower bound holds on any machine: SIGKILL waits for the grace.
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("Wait after cancel took %v, less than the grace period", took)
	}
	if sig := killedBy(t, waitErr); sig != syscall.SIGKILL {
		t.Errorf("the command ended by %v, want SIGKILL (it ignores SIGTERM)", sig)
	}
	waitGone(t, grandchild)
}
