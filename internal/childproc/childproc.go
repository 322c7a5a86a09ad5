// Package childproc runs the local servers and tools the runner and the tests
// start (versitygw, pglite-server, the Node engine) as child processes in
// their own process group, so that stopping one stops everything it started:
// SIGTERM to the group, SIGKILL after a grace period. On Linux the kernel
// also kills the child when its parent dies (Pdeathsig), so a killed test or
// runner leaves no server behind. Output keeps what such processes write,
// for error messages and failed tests' logs.
package childproc

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// StopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const StopGrace = 5 * time.Second

// Process is a started child process leading its own process group.
type Process struct {
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// Start starts cmd in a process group of its own (it sets
// cmd.SysProcAttr) and waits for it in the background: Exited is closed
// when it ends. Use Stop to end it; cmd must not be waited for otherwise.
func Start(cmd *exec.Cmd) (*Process, error) {
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Exited is closed when the process has ended and been waited for.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is what waiting for the process returned (nil after a clean exit);
// it is meaningful once Exited is closed.
func (p *Process) Err() error {
	select {
	case <-p.exited:
		return p.waitErr
	default:
		return nil
	}
}

// Stop ends the process group: SIGTERM, then SIGKILL if the leader has not
// exited after StopGrace. It returns once the leader has exited, and is safe
// to call more than once and after the process has ended by itself.
func (p *Process) Stop() { p.stop(StopGrace) }

func (p *Process) stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		pid := p.cmd.Process.Pid
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(grace):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-p.exited
		}
	})
}

// StopOnCancel is for a command made with exec.CommandContext and run to
// its end by the caller (cmd.Run, or cmd.Start and cmd.Wait): it puts the
// command in a process group of its own and makes cancelling the context
// stop the group like Stop does (SIGTERM, SIGKILL after grace). Wait gives
// up on the command's output pipes two seconds after that SIGKILL
// (cmd.WaitDelay).
func StopOnCancel(cmd *exec.Cmd, grace time.Duration) {
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		go func(pid int) {
			time.Sleep(grace)
			_ = syscall.Kill(-pid, syscall.SIGKILL) // already gone is fine
		}(cmd.Process.Pid)
		return err
	}
	cmd.WaitDelay = grace + 2*time.Second
}
