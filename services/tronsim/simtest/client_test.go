package simtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

// TestClient_AgainstFaultySimulator drives the real node client through the
// simulator's faults (errors, latency, 429 with Retry-After): every block
// and info it returns equals what the simulator holds, and a block past the
// head is "not found", never an empty block.
func TestClient_AgainstFaultySimulator(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  sim.Config
	}{
		{"clean", sim.Config{Seed: 7, TxsPerBlock: 40, InitialBlocks: 30, Instant: true}},
		{"errors and latency", sim.Config{Seed: 8, TxsPerBlock: 40, InitialBlocks: 30, Instant: true, ErrorRate: 0.3, Latency: 2 * time.Millisecond}},
		{"rate limited", sim.Config{Seed: 9, TxsPerBlock: 40, InitialBlocks: 30, Instant: true, RateLimit: 40}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, url := simtest.Start(t, c.cfg)
			cl, err := tron.NewClient(tron.ClientConfig{
				BaseURL: url, APIKey: "test-key", MaxRetries: 30,
				MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxRetryAfter: 2 * time.Second,
			})
			require.NoError(t, err)
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			head, headID := s.Head()
			now, err := cl.NowBlock(ctx)
			require.NoError(t, err)
			require.Equal(t, head, now.BlockHeader.RawData.Number)
			require.Equal(t, headID, now.BlockID)

			first := s.First()
			blocks, err := cl.BlocksByRange(ctx, first, head+1)
			require.NoError(t, err)
			require.Len(t, blocks, int(head-first+1))
			d := decode.NewDecoder(decode.DecoderConfig{})
			for i := range blocks {
				n := first + int64(i)
				want, wantInfos, err := s.Block(n)
				require.NoError(t, err)
				require.Equal(t, want.BlockID, blocks[i].BlockID)
				infos, err := cl.TxInfosByBlockNum(ctx, n)
				require.NoError(t, err)
				require.Len(t, infos, len(wantInfos))
				evs, err := d.DecodeBlock(&blocks[i], infos)
				require.NoError(t, err, "block %d verifies and decodes", n)
				require.NotEmpty(t, evs)
			}

			_, err = cl.BlockByNum(ctx, head+5)
			require.ErrorIs(t, err, tron.ErrNotFound, "past the head: %v", err)
		})
	}
}
