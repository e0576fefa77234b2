package testenv_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/testenv"
)

func TestPercentile_nearestRank(t *testing.T) {
	t.Parallel()
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{"none is zero", nil, 99, 0},
		{"one is itself", ms(7), 50, 7 * time.Millisecond},
		{"p50 of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of a hundred is the 99th", ms(hundred...), 99, 99 * time.Millisecond},
		{"p99 of five is the last", ms(1, 2, 3, 4, 5), 99, 5 * time.Millisecond},
		{"p100 is the last", ms(1, 2, 3), 100, 3 * time.Millisecond},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, testenv.Percentile(tc.sorted, tc.p), tc.name)
	}
}

func TestSyncBuffer_tailIsTheLastBytes(t *testing.T) {
	t.Parallel()
	var b testenv.SyncBuffer
	_, _ = b.Write([]byte("hello, "))
	_, _ = b.Write([]byte("world"))
	require.Equal(t, "hello, world", b.String())
	require.Equal(t, "world", b.Tail(5))
	require.Equal(t, "hello, world", b.Tail(100))
}
