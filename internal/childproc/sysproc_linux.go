package childproc

import "syscall"

// sysProcAttr puts the child in its own process group (so that stopping it
// stops all of it) and has the kernel kill it if its parent dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
