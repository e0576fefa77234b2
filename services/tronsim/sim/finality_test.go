package sim_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/sim"
)

func TestSim_SolidLag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		lag     int
		wantLag int64
	}{
		{"default", 0, sim.SolidDepth},
		{"shorter", 5, 5},
		{"longer", 30, 30},
		{"head solid at once", sim.NoSolidLag, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, base := newSim(t, sim.Config{Seed: 31, TxsPerBlock: 2, InitialBlocks: 60, SolidLag: tc.lag})
			head, _ := s.Head()
			want := head - tc.wantLag
			require.Equal(t, want, s.Solid())
			require.Equal(t, want, s.Status().Solid)
			require.Equal(t, int(tc.wantLag), s.Status().Config.SolidLag)

			var b tron.Block
			_, _, body := get(t, base+"/walletsolidity/getnowblock")
			require.NoError(t, json.Unmarshal(body, &b))
			require.Equal(t, want, b.BlockHeader.RawData.Number)
			solid, _, err := s.Block(want)
			require.NoError(t, err)
			require.Equal(t, solid.BlockID, b.BlockID)

			_, body = call(t, base, "/walletsolidity/getblockbynum", map[string]any{"num": want + 1})
			require.Equal(t, "{}", string(body), "nothing above the solidified block")

			var info tron.NodeInfo
			_, body = call(t, base, "/wallet/getnodeinfo", nil)
			require.NoError(t, json.Unmarshal(body, &info))
			require.Equal(t, "Num:"+itoa(want)+",ID:"+solid.BlockID, info.SolidityBlock)
		})
	}
}

// TestSim_Reorg_NeverBelowSolid requires that no reorg, asked for or
// automatic, replaces a solidified block.
func TestSim_Reorg_NeverBelowSolid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      sim.Config
		depth    int
		wantErr  error
		replaced int
	}{
		{"at the lag", sim.Config{SolidLag: 5}, 5, nil, 5},
		{"past the lag", sim.Config{SolidLag: 5}, 6, sim.ErrSolidified, 0},
		{"default lag", sim.Config{}, sim.SolidDepth + 1, sim.ErrSolidified, 0},
		{"head solid at once", sim.Config{SolidLag: sim.NoSolidLag}, 1, sim.ErrSolidified, 0},
		{"short chain: clamped above the first block", sim.Config{SolidLag: 5, InitialBlocks: 4}, 5, nil, 3},
		{"one block: all solid", sim.Config{SolidLag: 5, InitialBlocks: 1}, 1, sim.ErrSolidified, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.Seed, cfg.TxsPerBlock = 32, 3
			if cfg.InitialBlocks == 0 {
				cfg.InitialBlocks = 40
			}
			s, base := newSim(t, cfg)
			head, _ := s.Head()
			solid := s.Solid()
			before := blocks(t, s, head)
			err := s.Reorg(tc.depth)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				code, body := call(t, base, "/sim/reorg", map[string]any{"depth": tc.depth})
				require.Equal(t, http.StatusConflict, code, string(body))
			} else {
				require.NoError(t, err)
			}
			after := blocks(t, s, head)
			replaced := 0
			for i := range before {
				n := s.First() + int64(i)
				if before[i].BlockID != after[i].BlockID {
					replaced++
					require.Greater(t, n, solid, "block %d at or below the solidified %d replaced", n, solid)
				}
			}
			require.Equal(t, tc.replaced, replaced)
			require.Equal(t, solid, s.Solid())
		})
	}
}

func TestSim_ReorgEvery_ClampedOnShortChain(t *testing.T) {
	t.Parallel()
	s, _ := newSim(t, sim.Config{Seed: 33, TxsPerBlock: 2, InitialBlocks: 1, SolidLag: 3, ReorgEvery: 2, ReorgDepth: 3})
	solid := map[int64]string{}
	for range 12 {
		s.Mine(1)
		for n, id := range solid {
			b, _, err := s.Block(n)
			require.NoError(t, err)
			require.Equal(t, id, b.BlockID, "solidified block %d replaced", n)
		}
		for n := s.First(); n <= s.Solid(); n++ {
			b, _, err := s.Block(n)
			require.NoError(t, err)
			solid[n] = b.BlockID
		}
	}
	require.Equal(t, 6, s.Status().Reorgs, "each one clamped, none skipped")
	require.Len(t, solid, 10)
}
