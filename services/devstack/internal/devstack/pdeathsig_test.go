//go:build linux

package devstack_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/testenv"
)

// proc is a process as /proc/<pid>/stat shows it.
type proc struct {
	pid, ppid int
	comm      string
	state     byte
	// start is the start time since boot, which tells a process from a
	// later one given the same pid.
	start string
}

func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return proc{}, false
	}
	// pid (comm) state ppid ... with starttime the 22nd field; comm may
	// hold spaces and parentheses.
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return proc{}, false
	}
	f := strings.Fields(s[closing+1:])
	if len(f) < 20 {
		return proc{}, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return proc{}, false
	}
	return proc{pid: pid, ppid: ppid, comm: s[open+1 : closing], state: f[0][0], start: f[19]}, true
}

// alive reports whether p still runs: a zombie is dead, waiting for
// whoever adopted it to reap it, and a new process with its pid is
// another one.
func (p proc) alive() bool {
	now, ok := readProc(p.pid)
	return ok && now.state != 'Z' && now.start == p.start
}

// childrenOf returns the live children of pid.
func childrenOf(t testing.TB, pid int) []proc {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []proc
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(n); ok && p.ppid == pid && p.alive() {
			out = append(out, p)
		}
	}
	return out
}

func TestStack_ChildrenDieWithAKilledDevstack(t *testing.T) {
	t.Parallel()
	holdStackSlot(t)
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "--bin", binDir, "--data", t.TempDir(), "--edges", "1",
		"--http.addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0", "--mongo-addr", "127.0.0.1:0",
		"--sim-addr", "127.0.0.1:0", "--sim-grpc-addr", "127.0.0.1:0", "--ingest-addr", "127.0.0.1:0",
		"--block-interval", "500ms", "--ready-timeout", "40s")
	cmd.Env = append(os.Environ(), runAsDevstack+"=1")
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Only devstack holds the output pipes; should a child hold them
	// too, Wait must not wait for it.
	cmd.WaitDelay = time.Second
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	var children []proc
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		for _, c := range children {
			if c.alive() {
				_ = syscall.Kill(c.pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			t.Logf("devstack's output (tail):\n%s", out.Tail(6000))
		}
	})
	testenv.WaitFor(t, 90*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("devstack exited before it was ready")
		default:
		}
		return strings.Contains(out.String(), "dev stack is ready")
	}, "devstack ready")

	children = childrenOf(t, cmd.Process.Pid)
	var names []string
	for _, c := range children {
		names = append(names, c.comm)
	}
	require.ElementsMatch(t, []string{"tronsim", "ingest", "edge"}, names)

	require.NoError(t, cmd.Process.Kill())
	<-exited
	testenv.WaitFor(t, 2*time.Second, func() bool {
		for _, c := range children {
			if c.alive() {
				return false
			}
		}
		return true
	}, "every child gone 2 s after devstack was SIGKILLed")
}
