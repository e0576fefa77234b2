package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Bounds of a child's life.
const (
	// readyWait bounds the wait for a child's readiness URL to answer 200.
	readyWait = 60 * time.Second
	// reapWait bounds the wait for a killed child to be reaped.
	reapWait = 10 * time.Second
)

// Proc is one child process: a binary with fixed arguments that the
// harness starts, kills and starts again. Its methods are safe for
// concurrent use.
type Proc struct {
	name     string
	path     string
	args     []string
	env      []string
	readyURL string
	logs     *Logs

	mu  sync.Mutex
	cur *run // the last process started; nil before the first start
}

// run is one process of a Proc. err is written before exited is closed
// and read only after.
type run struct {
	pid    int
	exited chan struct{}
	err    error
}

// Name is the child's name in the logs ("edge-1", "ingest" …).
func (p *Proc) Name() string { return p.name }

// Start starts the process and returns once it runs; it does not wait
// for readiness (see [Proc.WaitReady]). Starting a running child fails.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil && !p.cur.done() {
		return fmt.Errorf("chaos: %s is running", p.name)
	}
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	w := &lineWriter{who: p.name, logs: p.logs}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = procAttr()
	r := &run{exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Linux sends the parent-death signal when the thread that
		// forked the child ends (go.dev/issue/27505); holding the
		// thread until the child is reaped keeps it alive that long.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		r.pid = cmd.Process.Pid
		started <- nil
		r.err = cmd.Wait()
		w.flush()
		p.logs.Logf("chaos", "%s (pid %d) exited: %s", p.name, r.pid, exitString(r.err))
		close(r.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("chaos: start %s: %w", p.name, err)
	}
	p.cur = r
	p.logs.Logf("chaos", "%s started (pid %d)", p.name, r.pid)
	return nil
}

func (r *run) done() bool {
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Running reports whether the child's process runs.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur != nil && !p.cur.done()
}

// PID is the running process's id, 0 when none runs.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil || p.cur.done() {
		return 0
	}
	return p.cur.pid
}

// Kill sends SIGKILL to the child's process group and waits until the
// process is reaped. Killing a child that does not run does nothing.
func (p *Proc) Kill() error {
	return p.stop(syscall.SIGKILL, 0)
}

// Stop sends SIGTERM and waits up to wait for the process to exit, then
// kills its group.
func (p *Proc) Stop(wait time.Duration) error {
	return p.stop(syscall.SIGTERM, wait)
}

func (p *Proc) stop(sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.cur
	if r == nil || r.done() {
		return nil
	}
	if sig != syscall.SIGKILL {
		_ = signalGroup(r.pid, sig)
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-r.exited:
			return nil
		case <-t.C:
			p.logs.Logf("chaos", "%s did not stop within %s; killing it", p.name, wait)
		}
	}
	if err := signalGroup(r.pid, syscall.SIGKILL); err != nil && !r.done() {
		return fmt.Errorf("chaos: kill %s: %w", p.name, err)
	}
	select {
	case <-r.exited:
		return nil
	case <-time.After(reapWait):
		return fmt.Errorf("chaos: %s (pid %d) not reaped %s after SIGKILL", p.name, r.pid, reapWait)
	}
}

// WaitReady polls the child's readiness URL until it answers 200, the
// process exits, or total passes.
func (p *Proc) WaitReady(client *http.Client, total time.Duration) error {
	p.mu.Lock()
	r := p.cur
	p.mu.Unlock()
	if r == nil {
		return fmt.Errorf("chaos: %s was never started", p.name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), total)
	defer cancel()
	var last string
	for {
		if r.done() {
			return fmt.Errorf("chaos: %s exited before it was ready: %s", p.name, exitString(r.err))
		}
		status, err := get(ctx, client, p.readyURL)
		if err == nil && status == http.StatusOK {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("HTTP %d", status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("chaos: %s not ready at %s within %s (last: %s)", p.name, p.readyURL, total, last)
		case <-r.exited:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// get sends a GET and returns the status, the body read and dropped.
func get(ctx context.Context, client *http.Client, url string) (int, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// errNotRunning is returned by operations that need a running child.
var errNotRunning = errors.New("not running")
