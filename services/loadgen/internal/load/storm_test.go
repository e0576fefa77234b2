package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/stretchr/testify/require"
)

// fakeClock is a storm's clock, moved by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestStorm_Rounds(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(100, 0)}
	s := newStorm(clk.now)

	// Round 0: hellos may come before the target is known.
	s.hello()
	s.hello()
	require.Empty(t, s.done, "no target yet")
	clk.t = clk.t.Add(time.Second)
	s.setTarget(3)
	require.Empty(t, s.done, "2 of 3")
	s.hello()
	r0 := <-s.done
	require.Equal(t, 0, r0.Round)
	require.Equal(t, 3, r0.Streams)
	require.Equal(t, time.Unix(101, 0).UnixNano(), r0.AllNs)

	// Round 1 starts with the first loss; failures and closes are its own.
	clk.t = time.Unix(200, 0)
	s.lost("1012", true, false)
	clk.t = time.Unix(201, 0)
	s.lost("1012", true, false)
	s.failed("refused")
	s.failed("refused")
	s.failed("http_503")
	clk.t = time.Unix(202, 0)
	s.redialed()
	s.hello()
	s.lost("1012", true, false) // the third stream, late
	s.redialed()
	s.hello()
	require.Empty(t, s.done, "2 of 3 again")
	s.redialed()
	clk.t = time.Unix(204, 0)
	s.hello()
	r1 := <-s.done
	require.Equal(t, StormRound{
		Round: 1, Streams: 3, StartNs: time.Unix(200, 0).UnixNano(), AllNs: time.Unix(204, 0).UnixNano(),
		FirstNs: time.Unix(202, 0).UnixNano(), Redials: 3,
		Failures: map[string]int{"refused": 2, "http_503": 1}, Closes: map[string]int{"1012": 3},
	}, r1)

	// A drop starts round 2 at once; a stream lost before its hello does
	// not count down twice.
	clk.t = time.Unix(300, 0)
	s.cut(3)
	s.lost("client_drop", true, true)
	s.lost("client_drop", true, true)
	s.lost("client_drop", true, true)
	s.redialed()
	s.lost("eof", false, false)
	for range 3 {
		s.redialed()
		s.hello()
	}
	r2 := <-s.done
	require.Equal(t, 2, r2.Round)
	require.Equal(t, time.Unix(300, 0).UnixNano(), r2.StartNs)
	require.Equal(t, map[string]int{"client_drop": 3, "eof": 1}, r2.Closes)
	require.Len(t, s.snapshot(), 3, "every completed round, none in progress")

	// A stream cut by a drop that streams again before the others' losses
	// are recorded does not end the round: it waits for every cut stream.
	s.cut(3)
	s.lost("client_drop", true, true)
	s.redialed()
	s.hello()
	select {
	case r := <-s.done:
		t.Fatalf("round %d ended with two cut streams still counted live", r.Round)
	default:
	}
	s.lost("client_drop", true, true)
	s.lost("client_drop", true, true)
	for range 2 {
		s.redialed()
		s.hello()
	}
	r3 := <-s.done
	require.Equal(t, 3, r3.Round)
	require.Equal(t, 3, r3.Redials)
}

func TestRedialDelay(t *testing.T) {
	t.Parallel()
	lowest := func(int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{0, 0, 0},
		{1, 25 * time.Millisecond, 50 * time.Millisecond},
		{2, 50 * time.Millisecond, 100 * time.Millisecond},
		{5, 400 * time.Millisecond, 800 * time.Millisecond},
		{6, 500 * time.Millisecond, time.Second}, // capped
		{60, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.attempt), func(t *testing.T) {
			require.Equal(t, tt.min, redialDelay(tt.attempt, time.Second, lowest))
			require.Equal(t, tt.max, redialDelay(tt.attempt, time.Second, highest))
		})
	}
}

func TestDialFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		resp *http.Response
		err  error
		want string
	}{
		{"status", &http.Response{StatusCode: 429}, websocket.ErrBadHandshake, "http_429"},
		{"refused", nil, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, "refused"},
		{"reset", nil, &net.OpError{Op: "read", Err: syscall.ECONNRESET}, "reset"},
		{"eof", nil, io.ErrUnexpectedEOF, "eof"},
		{"timeout", nil, context.DeadlineExceeded, "timeout"},
		{"other", nil, errors.New("x"), "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, dialFailure(tt.resp, tt.err))
		})
	}
}

// stormLines counts the storm round lines in the generator's progress.
func stormLines(progress *testenv.SyncBuffer) int {
	return strings.Count(progress.String(), StormLinePrefix)
}

func TestGenerator_Drop(t *testing.T) {
	t.Parallel()
	f := &fakeEdge{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	var progress testenv.SyncBuffer
	g, err := New(Config{
		URL: srv.URL, Key: "k", Subscriptions: []string{"s1", "s2"}, Mode: ModeStorm,
		Streams: 6, LocalAddrs: -1, After: "00000000000000010000000000000002", Progress: &progress,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	require.Eventually(t, func() bool { return stormLines(&progress) == 1 }, 10*time.Second, 10*time.Millisecond, "round 0")
	g.Drop()
	require.Eventually(t, func() bool { return stormLines(&progress) == 2 }, 10*time.Second, 10*time.Millisecond, "round 1")
	cancel()
	require.NoError(t, <-done)
	s := g.Summary()
	require.Len(t, s.Storm, 2)
	require.Equal(t, 6, s.Storm[1].Streams)
	require.Equal(t, 6, s.Storm[1].Redials)
	require.Equal(t, map[string]int{"client_drop": 6}, s.Storm[1].Closes)
	require.EqualValues(t, 12, f.streams.Load())
	require.EqualValues(t, 12, s.Hellos)
}
