//go:build unix && !linux && !freebsd

package devstack

import (
	"log/slog"
	"syscall"
)

// procAttr puts a child in its own process group, so that a Ctrl-C on the
// terminal reaches devstack alone and it stops the children in order
// (edges first) rather than all at once. These systems have no
// parent-death signal: the [lifeline] kills the groups when devstack dies.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func newLifeline(logger *slog.Logger) (*lifeline, error) { return startLifeline(logger) }
