//go:build !unix

package devstack

import (
	"log/slog"
	"syscall"
)

// procAttr leaves a child as it is. Not covered here: a devstack killed
// hard leaves its children running, holding their ports (the next run
// says which ports are taken). A job object with
// JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE would take them along.
func procAttr() *syscall.SysProcAttr { return nil }

// lifeline is the Unix watchdog, which needs a shell and process groups;
// here it does nothing.
type lifeline struct{}

func newLifeline(*slog.Logger) (*lifeline, error) { return nil, nil }

func (*lifeline) add(int)      {}
func (*lifeline) remove(int)   {}
func (*lifeline) close() error { return nil }
