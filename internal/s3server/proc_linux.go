package s3server

import "syscall"

// sysProcAttr puts the server in its own process group (so Close can stop
// all of it) and has the kernel kill it if the test process dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
