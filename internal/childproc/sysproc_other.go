//go:build !linux

package childproc

import "syscall"

// sysProcAttr puts the child in its own process group, so that stopping it
// stops all of it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
