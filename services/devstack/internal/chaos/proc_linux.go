//go:build linux

package chaos

import "syscall"

// procAttr puts a child in a process group of its own, so that a kill
// reaches it and anything it started, and has the kernel kill it when the
// thread that started it ends (see [Proc.Start]): a harness that dies
// leaves nothing running.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends sig to the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }
