package match

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestKeyTable_model checks the lookalike keys' table against a Go map
// through inserts, updates, deletions (back shifts) and a filtering pass,
// with enough keys that every shard grows and wraps around.
func TestKeyTable_model(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		keys int // distinct keys drawn from
		ops  int
	}{
		{"dense small", 64, 20_000},
		{"grown shards", 50_000, 200_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(tt.keys), 2))
			kt := newKeyTable()
			want := map[lookKey]uint32{}
			key := func() lookKey {
				// Key 0 ("1111…1111") is a valid key; so is the largest.
				switch n := rng.IntN(tt.keys); n {
				case 0:
					return 0
				case 1:
					return 1<<48 - 1
				default:
					return lookKey(n) * 0x9e3779b97f4a7c15 >> 16
				}
			}
			check := func() {
				require.Equal(t, len(want), kt.len())
				for k, v := range want {
					got, ok := kt.get(k)
					require.True(t, ok)
					require.Equal(t, v, got)
				}
			}
			for i := range tt.ops {
				k := key()
				switch rng.IntN(3) {
				case 0, 1:
					v := rng.Uint32()
					kt.set(k, v)
					want[k] = v
				default:
					_, had := want[k]
					require.Equal(t, had, kt.del(k))
					delete(want, k)
				}
				if _, ok := want[k]; !ok {
					_, found := kt.get(k)
					require.False(t, found, "op %d", i)
				}
			}
			check()

			// Drop the odd values and bump the even ones in one pass.
			kt.each(func(k lookKey, v uint32) (uint32, bool) {
				if w, ok := want[k]; ok && w != v {
					return v, true // visited twice after a wrap: already bumped
				}
				if v%2 == 1 {
					return 0, false
				}
				return v + 2, true
			})
			for k, v := range want {
				if v%2 == 1 {
					delete(want, k)
				} else {
					want[k] = v + 2
				}
			}
			check()
		})
	}
}
