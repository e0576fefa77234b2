package testenv_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/testenv"
)

// fatalRecorder is a testing.TB whose Fatalf records the message instead
// of ending the test.
type fatalRecorder struct {
	testing.TB
	fatal string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func TestWaitFor(t *testing.T) {
	t.Parallel()
	// A condition that holds gets all the time a loaded machine needs to
	// poll it; one that never holds is given up on quickly.
	const holds, never = time.Minute, 30 * time.Millisecond
	tests := []struct {
		name      string
		holdsFrom int64 // the call from which cond holds; 0: never
		msgf      []any
		wantFatal string
		wantCalls int64
	}{
		{name: "holds at once", holdsFrom: 1, wantCalls: 1},
		{name: "holds after a few polls", holdsFrom: 4, wantCalls: 4},
		{name: "never: the message as is", msgf: []any{"the 100% answer"}, wantFatal: "testenv: not within 30ms: the 100% answer"},
		{name: "never: a format", msgf: []any{"%d events of %s", 3, "sub_a"}, wantFatal: "testenv: not within 30ms: 3 events of sub_a"},
		{name: "never: no message", wantFatal: "testenv: not within 30ms: the condition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			rec := &fatalRecorder{TB: t}
			within := never
			if tt.holdsFrom > 0 {
				within = holds
			}
			testenv.WaitFor(rec, within, func() bool {
				return tt.holdsFrom > 0 && calls.Add(1) >= tt.holdsFrom
			}, tt.msgf...)
			require.Equal(t, tt.wantFatal, rec.fatal)
			if tt.wantCalls > 0 {
				require.Equal(t, tt.wantCalls, calls.Load())
			}
		})
	}
}

func TestPoll(t *testing.T) {
	t.Parallel()
	calls := 0
	require.False(t, testenv.Poll(0, func() bool { calls++; return false }))
	require.Equal(t, 1, calls, "cond runs once even with no time")
	require.True(t, testenv.Poll(0, func() bool { return true }))
	start := time.Now()
	require.False(t, testenv.Poll(20*time.Millisecond, func() bool { return false }))
	require.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond, "gives up only once the timeout has passed")
}
