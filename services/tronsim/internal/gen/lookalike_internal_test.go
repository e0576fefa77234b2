package gen

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/tron"
)

func TestPrefixRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prefix  string
		wantErr string
	}{
		{"USDT's", "TR7N", ""},
		{"the zero address's", "T9yD", ""},
		{"the highest", "TZJo", ""},
		{"short", "TR7", "want 4"},
		{"not base58", "TR0N", "not base58"},
		{"no 0x41 address", "1111", "no address"},
		{"T, but below 0x41", "T111", "no address"},
		{"T, but above 0x41", "TZzz", "no address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pr, err := newPrefixRange(tc.prefix)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			picked := 0
			for k := range uint64(2000) {
				a, ok := pr.address([4]uint64{mix(1, k, 1), mix(1, k, 2), mix(1, k, 3), mix(1, k, 4)})
				if !ok {
					continue
				}
				picked++
				s := a.String()
				require.Equal(t, tc.prefix, s[:4], "candidate %d", k)
				_, err := tron.ParseBase58(s)
				require.NoError(t, err)
			}
			require.Greater(t, picked, 1000, "at least half the words pick an address")
		})
	}
}

func TestSuffixValue(t *testing.T) {
	t.Parallel()
	for i := range uint64(200) {
		a := derive(9, "suffix", i)
		s := a.String()
		var want uint64
		for _, c := range []byte(s[len(s)-4:]) {
			d := uint64(0)
			for d < 58 && base58Alphabet[d] != c {
				d++
			}
			want = want*58 + d
		}
		require.Equal(t, want, suffixValue(&a), s)
	}
}

func TestGrindLookalike_Deterministic(t *testing.T) {
	t.Parallel()
	a := grindLookalike(5, 1)
	require.Equal(t, a, grindLookalike(5, 1))
	require.NotEqual(t, a, grindLookalike(5, 2))
	require.NotEqual(t, a, grindLookalike(6, 1))
	require.True(t, shareEnds(a.Victim.String(), a.Lookalike.String()))
}
