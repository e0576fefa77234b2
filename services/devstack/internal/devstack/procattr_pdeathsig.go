//go:build linux || freebsd

package devstack

import (
	"log/slog"
	"syscall"
)

// procAttr puts a child in its own process group, so that a Ctrl-C on the
// terminal reaches devstack alone and it stops the children in order
// (edges first) rather than all at once. It also has the kernel kill the
// child when devstack dies, however it dies (SIGKILL, OOM, a closed
// terminal), so that no child outlives it holding its port.
//
// SIGKILL rather than SIGTERM: NATS and FerretDB run inside devstack, so
// a child left behind has nothing to finish cleanly, and a graceful stop
// would only keep its port while it retries (the ingest may spend 30 s on
// a commit that cannot succeed). The ingest is crash-safe, and an edge's
// clients reconnect.
//
// Linux sends the signal when the thread that forked the child ends, not
// the process (go.dev/issue/27505); [child.start] forks from a goroutine
// that keeps its thread until the child is reaped. FreeBSD sends it when
// the process exits.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// newLifeline returns no lifeline: the parent-death signal does its work.
func newLifeline(*slog.Logger) (*lifeline, error) { return nil, nil }
