package backoff_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/backoff"
)

// lowest and highest are random sources at the ends of their range.
func lowest(int64) int64    { return 0 }
func highest(n int64) int64 { return n - 1 }

func TestPolicy_Delay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		policy  backoff.Policy
		attempt int
		want    time.Duration
	}{
		{"first retry, lowest draw", backoff.Policy{Min: 100 * time.Millisecond, Max: time.Second, Rand: lowest}, 1, 50 * time.Millisecond},
		{"first retry, highest draw", backoff.Policy{Min: 100 * time.Millisecond, Max: time.Second, Rand: highest}, 1, 100 * time.Millisecond},
		{"doubles per retry", backoff.Policy{Min: 100 * time.Millisecond, Max: time.Second, Rand: highest}, 3, 400 * time.Millisecond},
		{"capped at Max", backoff.Policy{Min: 100 * time.Millisecond, Max: time.Second, Rand: highest}, 5, time.Second},
		{"capped at Max, lowest draw", backoff.Policy{Min: 100 * time.Millisecond, Max: time.Second, Rand: lowest}, 5, 500 * time.Millisecond},
		{"a huge attempt does not overflow", backoff.Policy{Min: time.Second, Max: time.Hour, Rand: highest}, 1 << 30, time.Hour},
		{"attempt below 1 counts as 1", backoff.Policy{Min: time.Second, Max: time.Hour, Rand: highest}, -3, time.Second},
		{"no Max: the wait never grows", backoff.Policy{Min: time.Second, Rand: highest}, 4, time.Second},
		{"Max below Min means Min", backoff.Policy{Min: time.Second, Max: time.Millisecond, Rand: highest}, 4, time.Second},
		{"zero policy never waits", backoff.Policy{}, 7, 0},
		{"odd nanoseconds keep the upper half", backoff.Policy{Min: 3, Rand: lowest}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.policy.Delay(tt.attempt))
		})
	}
}

// TestPolicy_Delay_seeded checks the jitter with a seeded source: every
// wait lies between half its ceiling and its ceiling, the same seed gives
// the same waits, and the draws are not all the same.
func TestPolicy_Delay_seeded(t *testing.T) {
	t.Parallel()
	waits := func(seed uint64) []time.Duration {
		p := backoff.Policy{Min: 10 * time.Millisecond, Max: 640 * time.Millisecond, Rand: rand.New(rand.NewPCG(seed, 1)).Int64N}
		var out []time.Duration
		for range 20 {
			for attempt := 1; attempt <= 10; attempt++ {
				out = append(out, p.Delay(attempt))
			}
		}
		return out
	}
	got := waits(42)
	require.Equal(t, got, waits(42), "the same seed gives the same waits")
	require.NotEqual(t, got, waits(43))
	distinct := map[time.Duration]bool{}
	for i, d := range got {
		ceiling := min(10*time.Millisecond<<(i%10), 640*time.Millisecond)
		require.GreaterOrEqual(t, d, ceiling/2, "wait %d", i)
		require.LessOrEqual(t, d, ceiling, "wait %d", i)
		distinct[d] = true
	}
	require.Greater(t, len(distinct), 100, "jittered, not fixed")
}

func TestPolicy_Delay_defaultSource(t *testing.T) {
	t.Parallel()
	p := backoff.Policy{Min: time.Second, Max: time.Second}
	for range 100 {
		d := p.Delay(1)
		require.GreaterOrEqual(t, d, 500*time.Millisecond)
		require.LessOrEqual(t, d, time.Second)
	}
}
