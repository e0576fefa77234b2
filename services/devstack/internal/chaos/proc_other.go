//go:build !linux

package chaos

import (
	"os"
	"syscall"
)

// procAttr leaves a child as it is: process groups and the parent-death
// signal are set up on Linux only. Elsewhere a harness killed hard may
// leave its children running.
func procAttr() *syscall.SysProcAttr { return nil }

// signalGroup sends sig to the process pid.
func signalGroup(pid int, sig syscall.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(sig)
}
