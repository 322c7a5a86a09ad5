//go:build !linux

package s3server

import "syscall"

// sysProcAttr puts the server in its own process group so Close can stop all
// of it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
