package match

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFlatTable_model checks the open-addressing table against a Go map
// through inserts, updates, deletions (back shifts) and a filtering pass,
// with enough keys that every shard grows and wraps around.
func TestFlatTable_model(t *testing.T) {
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
			rng := rand.New(rand.NewPCG(uint64(tt.keys), 1))
			ft := newFlatTable()
			want := map[[20]byte]uint32{}
			key := func() [20]byte {
				var k [20]byte
				n := rng.IntN(tt.keys)
				// Key 0 is all zeros: the black-hole address is real.
				copy(k[:], fmt.Appendf(nil, "%d", n))
				if n == 0 {
					k = [20]byte{}
				}
				return k
			}
			check := func() {
				require.Equal(t, len(want), ft.len())
				for k, v := range want {
					got, ok := ft.get(&k)
					require.True(t, ok)
					require.Equal(t, v, got)
				}
			}
			for i := range tt.ops {
				k := key()
				switch rng.IntN(3) {
				case 0, 1:
					v := rng.Uint32N(1 << 31)
					ft.set(&k, v)
					want[k] = v
				default:
					_, had := want[k]
					require.Equal(t, had, ft.del(&k))
					delete(want, k)
				}
				if _, ok := want[k]; !ok {
					_, found := ft.get(&k)
					require.False(t, found, "op %d", i)
				}
			}
			check()

			// Drop the odd values and bump the even ones in one pass.
			ft.each(func(k *[20]byte, v uint32) (uint32, bool) {
				if w, ok := want[*k]; ok && w != v {
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
