package load

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistIndex_bounds(t *testing.T) {
	t.Parallel()
	tests := []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 20, 123456789, 1 << 40, 1<<63 - 1}
	for _, v := range tests {
		i := histIndex(v)
		require.Less(t, i, histBuckets, "v=%d", v)
		require.GreaterOrEqual(t, histUpper(i), v, "v=%d", v)
		if i > 0 {
			require.Less(t, histUpper(i-1), v, "v=%d falls in the bucket below", v)
		}
	}
}

func TestHistogram_Quantile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vals []time.Duration
	}{
		{"one", []time.Duration{5 * time.Millisecond}},
		{"uniform", func() []time.Duration {
			r := rand.New(rand.NewPCG(1, 2))
			v := make([]time.Duration, 10000)
			for i := range v {
				v[i] = time.Duration(r.Int64N(int64(100 * time.Millisecond)))
			}
			return v
		}()},
		{"small", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var h Histogram
			for _, v := range tt.vals {
				h.Record(v)
			}
			sorted := slices.Sorted(slices.Values(tt.vals))
			require.Equal(t, uint64(len(sorted)), h.Count())
			require.Equal(t, sorted[len(sorted)-1], h.Max())
			for _, q := range []float64{0.5, 0.9, 0.99, 1} {
				want := sorted[max(int(q*float64(len(sorted))+0.5), 1)-1]
				got := h.Quantile(q)
				require.GreaterOrEqual(t, got, want, "q=%v", q)
				require.LessOrEqual(t, float64(got), float64(want)*(1+1.0/16)+1, "q=%v", q)
			}
		})
	}
}

func TestHistogram_empty(t *testing.T) {
	t.Parallel()
	var h Histogram
	require.Zero(t, h.Quantile(0.99))
	h.Record(-time.Second)
	require.Equal(t, time.Duration(0), h.Quantile(1))
}
