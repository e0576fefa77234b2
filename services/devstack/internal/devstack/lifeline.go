//go:build unix

package devstack

import (
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// lifelineScript keeps the last line devstack wrote, the process groups of
// the live children, and kills those groups once the pipe from devstack
// reaches its end. It ignores hang-ups and interrupts: it must outlive
// devstack, however devstack goes.
const lifelineScript = `trap '' HUP INT
pgids=
while IFS= read -r line; do pgids=$line; done
for g in $pgids; do kill -s KILL -- "-$g" 2>/dev/null; done
exit 0`

// lifeline stands in for the parent-death signal where the kernel has
// none (macOS, and the BSDs but FreeBSD): a shell reading a pipe from
// devstack. The kernel closes the pipe however devstack ends, SIGKILL
// included, and the shell then kills every child's process group
// devstack last told it about. Best effort: a child started a moment
// before devstack died may not be on the list yet, and a group reaped a
// moment before may have had its id reused (the kernel reuses ids
// slowly, so hardly within that moment).
type lifeline struct {
	logger *slog.Logger
	cmd    *exec.Cmd

	mu   sync.Mutex
	w    io.WriteCloser
	pids []int
	// broken stops the writes: set by close, and by the first failed
	// write, so that it warns once.
	broken bool
}

func startLifeline(logger *slog.Logger) (*lifeline, error) {
	cmd := exec.Command("/bin/sh", "-c", lifelineScript)
	// In a process group of its own, so that a signal to devstack's
	// group (a supervisor's kill) spares it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("devstack: lifeline: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("devstack: lifeline: %w", err)
	}
	return &lifeline{logger: logger, cmd: cmd, w: w}, nil
}

// add puts the group of the child pid (a child leads its own group) on
// the list.
func (l *lifeline) add(pid int) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pids = append(l.pids, pid)
	l.send()
}

// remove takes pid off the list; call it once the child is reaped, not
// before, so that a devstack dying in between still takes the child
// along.
func (l *lifeline) remove(pid int) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pids = slices.DeleteFunc(l.pids, func(p int) bool { return p == pid })
	l.send()
}

// send writes the whole list, so the shell needs to keep only its last
// line. It runs with mu held.
func (l *lifeline) send() {
	if l.broken {
		return
	}
	var b strings.Builder
	for i, p := range l.pids {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(p))
	}
	b.WriteByte('\n')
	if _, err := io.WriteString(l.w, b.String()); err != nil {
		l.broken = true
		l.logger.Warn("the lifeline is gone: the children will outlive a killed devstack", "err", err)
	}
}

// close ends the pipe and waits for the shell, which kills whatever groups
// are still on the list: none after a clean stop.
func (l *lifeline) close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	l.broken = true
	err := l.w.Close()
	l.mu.Unlock()
	if werr := l.cmd.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("devstack: lifeline: %w", err)
	}
	return nil
}
