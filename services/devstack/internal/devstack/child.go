package devstack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// ErrChildUsage is wrapped when a child exits with status 2: its
// configuration is wrong, and restarting it would only fail again.
var ErrChildUsage = errors.New("devstack: child refused its configuration")

// Restart backoff of a child that exited on its own.
const (
	minRestartDelay = 500 * time.Millisecond
	maxRestartDelay = 10 * time.Second
	// stableAfter is how long a child must have run for its backoff to
	// start again from minRestartDelay.
	stableAfter = 30 * time.Second
)

// child is one supervised process. Its supervise goroutine is the only one
// that starts, waits for and stops the process; others ask through quit
// and signal the current process through signal.
type child struct {
	name     string
	path     string
	args     []string
	env      []string
	readyURL string
	logs     io.Writer
	logger   *slog.Logger
	stopWait time.Duration
	// lifeline, when there is one, kills the child if devstack dies.
	lifeline *lifeline

	quit     chan struct{}
	quitOnce sync.Once
	// done is closed when supervise returns.
	done chan struct{}

	mu       sync.Mutex
	proc     *os.Process
	restarts int
}

func newChild(name, path string, args, env []string, readyURL string, logs io.Writer, logger *slog.Logger, stopWait time.Duration) *child {
	return &child{
		name: name, path: path, args: args, env: env, readyURL: readyURL,
		logs: logs, logger: logger.With("child", name), stopWait: stopWait,
		quit: make(chan struct{}), done: make(chan struct{}),
	}
}

// start starts the process once; the caller waits for it through the
// returned channel, which receives its exit error.
func (c *child) start() (<-chan error, error) {
	cmd := exec.Command(c.path, c.args...)
	cmd.Env = c.env
	w := &prefixWriter{prefix: c.name, out: c.logs}
	cmd.Stdout, cmd.Stderr = w, w
	// Its own process group, and death with devstack: see procAttr.
	cmd.SysProcAttr = procAttr()
	started := make(chan error, 1)
	waitc := make(chan error, 1)
	go func() {
		// Linux sends the parent-death signal when the thread that
		// forked the child ends, not when devstack does
		// (go.dev/issue/27505). The Go runtime ends a thread only when a
		// goroutine locked to it returns still locked; holding the
		// thread from the fork until the child is reaped keeps every
		// other goroutine off it, so none can lock it and take it down.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		pid := cmd.Process.Pid
		c.lifeline.add(pid)
		c.mu.Lock()
		c.proc = cmd.Process
		c.mu.Unlock()
		started <- nil
		err := cmd.Wait()
		c.lifeline.remove(pid)
		w.flush()
		waitc <- err
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("devstack: start %s: %w", c.name, err)
	}
	return waitc, nil
}

// supervise runs the process until quit is closed, restarting it with a
// backoff when it exits on its own. It takes no context: the stack stops
// its children one by one, in order, through [child.shutdown]. An exit
// with status 2 is returned as [ErrChildUsage]. first receives the result
// of the first start.
func (c *child) supervise(first chan<- error) error {
	defer close(c.done)
	delay := minRestartDelay
	for {
		waitc, err := c.start()
		if first != nil {
			first <- err
			first = nil
		}
		if err != nil {
			return err
		}
		started := time.Now()
		select {
		case <-c.quit:
			return c.stop(waitc)
		case err := <-waitc:
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() == 2 {
				return fmt.Errorf("%w: %s exited with status 2", ErrChildUsage, c.name)
			}
			if time.Since(started) > stableAfter {
				delay = minRestartDelay
			}
			c.logger.Warn("child exited; restarting", "err", errString(err), "in", delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-c.quit:
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, maxRestartDelay)
		c.mu.Lock()
		c.restarts++
		c.mu.Unlock()
	}
}

func errString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// stop sends SIGTERM, waits at most stopWait, then kills.
func (c *child) stop(waitc <-chan error) error {
	c.mu.Lock()
	p := c.proc
	c.mu.Unlock()
	_ = p.Signal(syscall.SIGTERM)
	t := time.NewTimer(c.stopWait)
	defer t.Stop()
	select {
	case err := <-waitc:
		if err != nil {
			c.logger.Warn("child stopped with an error", "err", err)
		}
		return nil
	case <-t.C:
	}
	c.logger.Warn("child did not stop in time; killing it", "timeout", c.stopWait)
	_ = p.Kill()
	if err := <-waitc; err != nil {
		c.logger.Debug("child killed", "err", err)
	}
	return fmt.Errorf("devstack: %s did not stop within %s", c.name, c.stopWait)
}

// shutdown asks supervise to stop the process and waits until it has.
func (c *child) shutdown() {
	c.quitOnce.Do(func() { close(c.quit) })
	<-c.done
}

// signal sends sig to the current process.
func (c *child) signal(sig os.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return fmt.Errorf("devstack: %s not started", c.name)
	}
	return c.proc.Signal(sig)
}

// pid returns the current process's id.
func (c *child) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return 0
	}
	return c.proc.Pid
}

// prefixWriter writes each complete line as "name | line". The exec
// package copies the child's output from one goroutine, so it needs no
// lock of its own; the shared output is locked by lockedWriter.
type prefixWriter struct {
	prefix string
	out    io.Writer
	buf    []byte
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *prefixWriter) line(b []byte) {
	out := make([]byte, 0, len(w.prefix)+3+len(b)+1)
	out = append(out, w.prefix...)
	out = append(out, " | "...)
	out = append(out, b...)
	out = append(out, '\n')
	// A log line that cannot be written is not worth stopping a child for.
	_, _ = w.out.Write(out)
}

func (w *prefixWriter) flush() {
	if len(w.buf) > 0 {
		w.line(w.buf)
		w.buf = nil
	}
}

// lockedWriter serialises writes, so lines from several children never
// interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
