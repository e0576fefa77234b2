package service_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/pkg/testenv"
)

func TestComponents_Go(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// fails is how many runs fail before one runs until stopped.
		fails int
		// err is what a failing run returns.
		err         error
		wantFailing string
	}{
		{"a component that runs until stopped is never failing", 0, nil, ""},
		{"a failed component is failing, restarted, then recovered", 2, errors.New("nats: subscribe refused"), "nats: subscribe refused"},
		{"stopping on its own without an error is a failure too", 1, nil, "service: stopped on its own"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &service.Components{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, StableAfter: 100 * time.Millisecond}
			ctx, cancel := context.WithCancel(context.Background())
			var runs atomic.Int64
			release := make(chan struct{})
			c.Go(ctx, "sync", func(ctx context.Context) error {
				if n := runs.Add(1); n <= int64(tt.fails) {
					if n == int64(tt.fails) {
						// Hold the last failure until the test saw it.
						<-release
					}
					return tt.err
				}
				<-ctx.Done()
				return nil
			})
			if tt.fails > 0 {
				testenv.WaitFor(t, 10*time.Second, func() bool { return runs.Load() == int64(tt.fails) }, "the failing runs ran")
				close(release)
				testenv.WaitFor(t, 10*time.Second, func() bool { return c.Failing()["sync"] != "" }, "reported failing")
				require.Equal(t, "sync: "+tt.wantFailing, c.FailingSummary())
				testenv.WaitFor(t, 10*time.Second, func() bool { return runs.Load() == int64(tt.fails)+1 }, "restarted")
				require.NotEmpty(t, c.Failing(), "still failing until the restart is stable")
				testenv.WaitFor(t, 10*time.Second, func() bool { return c.Failing() == nil }, "recovered after StableAfter")
			} else {
				close(release)
				time.Sleep(150 * time.Millisecond)
				require.Nil(t, c.Failing())
			}
			cancel()
			c.Wait()
			require.Equal(t, int64(tt.fails)+1, runs.Load(), "no run after the context ended")
		})
	}
}

func TestComponents_Go_stopsDuringBackoff(t *testing.T) {
	t.Parallel()
	c := &service.Components{MinBackoff: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	c.Go(ctx, "deliverer", func(context.Context) error { return errors.New("boom") })
	testenv.WaitFor(t, 10*time.Second, func() bool { return c.Failing() != nil }, "failing")
	cancel()
	c.Wait()
}
