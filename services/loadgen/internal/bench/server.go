package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"time"
)

// startServer starts cmd, a server that will serve baseURL, copies its
// stderr to log line by line under name, and waits until readyPath
// answers 200 (30 s at most). startEdge starts the edge with it, other
// servers are started with their own flags.
func startServer(ctx context.Context, cmd *exec.Cmd, baseURL, readyPath, name string, log io.Writer) (*edgeProc, error) {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", name, err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	e := &edgeProc{
		cmd:  cmd,
		url:  baseURL,
		http: &http.Client{Timeout: 30 * time.Second},
		done: make(chan struct{}),
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintf(log, "%s: %s\n", name, line)
			e.mu.Lock()
			e.logTail = append(e.logTail, line)
			if len(e.logTail) > 20 {
				e.logTail = e.logTail[1:]
			}
			e.mu.Unlock()
		}
		e.err = cmd.Wait()
		close(e.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+readyPath, nil)
		resp, err := e.http.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e, nil
			}
		}
		select {
		case <-e.done:
			return nil, fmt.Errorf("bench: %s exited at start (%w): %s", name, exitError(e.err), e.tail())
		case <-ctx.Done():
			e.stop()
			return nil, fmt.Errorf("bench: %s start: %w", name, ctx.Err())
		case <-time.After(20 * time.Millisecond): // the storm times restarts by it
		}
		if time.Now().After(deadline) {
			e.stop()
			return nil, fmt.Errorf("bench: %s not ready within 30s: %s", name, e.tail())
		}
	}
}
