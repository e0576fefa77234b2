package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/mongotron/mongotron/services/loadgen/internal/load"
)

// loadgenProc is a loadgen running as a child process.
type loadgenProc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	ready  chan string   // the ready line, once
	storm  chan string   // each storm round's line, after its prefix
	done   chan struct{} // closed when the process has exited
	err    error
}

func startLoadgen(bin string, args []string, env []string, log io.Writer, name string) (*loadgenProc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	p := &loadgenProc{cmd: cmd, ready: make(chan string, 1), storm: make(chan string, 16), done: make(chan struct{})}
	cmd.Stdout = &p.stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: loadgen: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start loadgen: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintf(log, "%s: %s\n", name, line)
			if strings.HasPrefix(line, "loadgen: ready ") {
				select {
				case p.ready <- line:
				default:
				}
			}
			if rest, ok := strings.CutPrefix(line, load.StormLinePrefix); ok {
				select {
				case p.storm <- rest:
				default:
				}
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// errNotReady is waitReady's timeout.
var errNotReady = errors.New("bench: loadgen not ready")

// waitReady waits for the ready line.
func (p *loadgenProc) waitReady(ctx context.Context, timeout time.Duration) error {
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		return fmt.Errorf("bench: loadgen exited before it was ready: %w", exitError(p.err))
	case <-ctx.Done():
		return fmt.Errorf("bench: loadgen: %w", ctx.Err())
	case <-time.After(timeout):
		return fmt.Errorf("%w within %s", errNotReady, timeout)
	}
}

// finish ends the run (SIGINT; a run with its own end is just waited
// for) and returns the summary it printed.
func (p *loadgenProc) finish(ctx context.Context, interrupt bool) (load.Summary, error) {
	if interrupt {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-p.done
		return load.Summary{}, fmt.Errorf("bench: loadgen: %w", ctx.Err())
	}
	var s load.Summary
	if err := json.Unmarshal(p.stdout.Bytes(), &s); err != nil {
		return s, fmt.Errorf("bench: loadgen summary (%w): %w", exitError(p.err), err)
	}
	return s, nil
}

func (p *loadgenProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// exitError returns what a child's Wait returned, or, for a clean exit, an
// error saying so: a child that exits when it should not have is an
// error either way, and its status is what the caller may want to test.
func exitError(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}
