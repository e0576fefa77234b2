// Package servicetest checks a daemon's Main the same way for every daemon:
// its exit status and message for given flags and environment, and a clean
// stop when its context is cancelled. It is imported by tests only.
package servicetest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/service"
)

// MainFunc is a daemon's Main.
type MainFunc func(ctx context.Context, args, environ []string, stderr io.Writer) int

// Case is one run of Main and how it must end.
type Case struct {
	Name      string
	Args, Env []string
	// Want is the exit status.
	Want int
	// Out is text stderr must contain.
	Out string
}

// ExitStatus runs each case as a parallel subtest, with JSON logs.
func ExitStatus(t *testing.T, main MainFunc, cases []Case) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			var stderr strings.Builder
			env := append([]string{"MONGOTRON_LOG_FORMAT=json"}, tc.Env...)
			got := main(context.Background(), tc.Args, env, &stderr)
			require.Equal(t, tc.Want, got, stderr.String())
			require.Contains(t, stderr.String(), tc.Out)
		})
	}
}

// StopsOnCancel runs main with args, a free HTTP port and JSON logs until
// its log shows msg (within wait), cancels its context, and requires it to
// return [service.ExitOK] within 15 s.
func StopsOnCancel(t *testing.T, main MainFunc, args []string, msg string, wait time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- main(ctx, append(args, "--http.addr=127.0.0.1:0", "--log.format=json"), nil, &stderr)
	}()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), `"msg":"`+msg+`"`) }, wait, 10*time.Millisecond)
	cancel()
	select {
	case code := <-done:
		require.Equal(t, service.ExitOK, code, stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatal("Main did not return after cancel")
	}
}

// SyncBuffer is an io.Writer a test can read while other goroutines
// write to it: a daemon's log, a child process's output, a generator's
// progress lines.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail returns the last n bytes written, or all of them if fewer.
func (s *SyncBuffer) Tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.Bytes()
	return string(b[max(0, len(b)-n):])
}
