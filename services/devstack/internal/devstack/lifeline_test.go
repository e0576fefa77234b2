//go:build unix

package devstack_test

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/services/devstack/internal/devstack"
)

// sleeper starts a process in a group of its own, as the stack's
// children are, and kills it on cleanup.
func sleeper(t testing.TB) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func TestLifeline_CutKillsTheGroupsOnTheList(t *testing.T) {
	t.Parallel()
	ll, err := devstack.StartLifeline()
	require.NoError(t, err)
	listed, reaped := sleeper(t), sleeper(t)
	ll.Add(listed.Process.Pid)
	ll.Add(reaped.Process.Pid)
	ll.Remove(reaped.Process.Pid)
	require.NoError(t, ll.Cut())

	var ee *exec.ExitError
	require.ErrorAs(t, listed.Wait(), &ee, "the listed child was killed")
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.Equal(t, syscall.SIGKILL, ws.Signal())
	require.NoError(t, reaped.Process.Signal(syscall.Signal(0)), "a child taken off the list lives on")
}
