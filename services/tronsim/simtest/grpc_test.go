package simtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

func newClient(t testing.TB, url string) *tron.Client {
	t.Helper()
	c, err := tron.NewClient(tron.ClientConfig{
		BaseURL: url, APIKey: "test-key", MaxRetries: 30,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxRetryAfter: 2 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// TestClient_GRPCAgainstHTTP reads 1,000 synthetic blocks, traps included,
// through the node client over HTTP and over gRPC: the blocks and infos
// are deeply equal, and they decode to byte-identical event JSON.
func TestClient_GRPCAgainstHTTP(t *testing.T) {
	t.Parallel()
	const blocks = 1000
	s, nodes := simtest.StartNodes(t, sim.Config{Seed: 15, TxsPerBlock: 15, InitialBlocks: blocks, Instant: true, TrapRate: 0.2}, 1)
	overHTTP, overGRPC := newClient(t, nodes[0].HTTP), newClient(t, nodes[0].GRPC)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	first := s.First()
	head, _ := s.Head()
	require.Equal(t, int64(blocks), head-first+1)
	traps, err := s.Traps(first, head)
	require.NoError(t, err)
	kinds := map[sim.TrapKind]int{}
	for _, b := range traps.Blocks {
		for _, tr := range b.Traps {
			kinds[tr.Kind]++
		}
	}
	require.Len(t, kinds, len(sim.TrapKinds()), "every kind of trap is among the blocks: %v", kinds)

	d := decode.NewDecoder(decode.DecoderConfig{})
	events, txs := 0, 0
	for start := first; start <= head; start += tron.MaxBlocksPerRange {
		end := min(start+tron.MaxBlocksPerRange, head+1)
		hb, err := overHTTP.BlocksByRange(ctx, start, end)
		require.NoError(t, err)
		gb, err := overGRPC.BlocksByRange(ctx, start, end)
		require.NoError(t, err)
		require.Len(t, gb, len(hb))
		for i := range hb {
			n := start + int64(i)
			require.Equal(t, hb[i], gb[i], "block %d", n)
			hi, err := overHTTP.TxInfosByBlockNum(ctx, n)
			require.NoError(t, err)
			gi, err := overGRPC.TxInfosByBlockNum(ctx, n)
			require.NoError(t, err)
			require.Equal(t, hi, gi, "infos of block %d", n)

			he, err := d.DecodeBlock(&hb[i], hi)
			require.NoError(t, err, "block %d over HTTP", n)
			ge, err := d.DecodeBlock(&gb[i], gi)
			require.NoError(t, err, "block %d over gRPC", n)
			hj, err := json.Marshal(he)
			require.NoError(t, err)
			gj, err := json.Marshal(ge)
			require.NoError(t, err)
			require.Equal(t, string(hj), string(gj), "events of block %d", n)
			events += len(he)
			txs += len(hb[i].Transactions)
		}
	}
	require.Greater(t, txs, 10*blocks)
	require.Greater(t, events, txs/2)

	// The single-block calls, the solidified head and the node info agree
	// as well.
	for _, n := range []int64{first, head - 7, head} {
		hb, err := overHTTP.BlockByNum(ctx, n)
		require.NoError(t, err)
		gb, err := overGRPC.BlockByNum(ctx, n)
		require.NoError(t, err)
		require.Equal(t, hb, gb, "block %d", n)
	}
	hn, err := overHTTP.NowBlock(ctx)
	require.NoError(t, err)
	gn, err := overGRPC.NowBlock(ctx)
	require.NoError(t, err)
	require.Equal(t, hn, gn)
	hs, err := overHTTP.SolidNowBlock(ctx)
	require.NoError(t, err)
	gs, err := overGRPC.SolidNowBlock(ctx)
	require.NoError(t, err)
	require.Equal(t, hs, gs)
	require.Equal(t, s.Solid(), gs.BlockHeader.RawData.Number)
	hh, err := overHTTP.SolidHeight(ctx)
	require.NoError(t, err)
	gh, err := overGRPC.SolidHeight(ctx)
	require.NoError(t, err)
	require.Equal(t, hh, gh)
	_, err = overHTTP.BlockByNum(ctx, head+1)
	require.ErrorIs(t, err, tron.ErrNotFound)
	_, err = overGRPC.BlockByNum(ctx, head+1)
	require.ErrorIs(t, err, tron.ErrNotFound)

	usdt, err := tron.ParseAddress("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
	require.NoError(t, err)
	for _, sel := range []string{"symbol()", "decimals()", "name()"} {
		hr, err := overHTTP.TriggerConstant(ctx, tron.Address{}, usdt, sel, nil)
		require.NoError(t, err, sel)
		gr, err := overGRPC.TriggerConstant(ctx, tron.Address{}, usdt, sel, nil)
		require.NoError(t, err, sel)
		require.Equal(t, hr, gr, sel)
	}
}

// TestClient_AgainstFaultyNodes drives the node client over HTTP and gRPC
// through each node's faults (errors and latency on one, a rate limit on
// the other): every block and info list still arrives, as the simulator
// holds it.
func TestClient_AgainstFaultyNodes(t *testing.T) {
	t.Parallel()
	s, nodes := simtest.StartNodes(t, sim.Config{Seed: 16, TxsPerBlock: 20, InitialBlocks: 60, Instant: true}, 2)
	nodes[0].Endpoint.SetFaults(sim.Faults{ErrorRate: 0.3, Latency: time.Millisecond})
	nodes[1].Endpoint.SetFaults(sim.Faults{RateLimit: 40})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first := s.First()
	head, _ := s.Head()
	for _, n := range nodes {
		for _, url := range []string{n.HTTP, n.GRPC} {
			t.Run(url, func(t *testing.T) {
				c := newClient(t, url)
				got, err := c.BlocksByRange(ctx, first, head+1)
				require.NoError(t, err)
				require.Len(t, got, int(head-first+1))
				for i := range got {
					n := first + int64(i)
					want, wantInfos, err := s.Block(n)
					require.NoError(t, err)
					require.Equal(t, want.BlockID, got[i].BlockID)
					infos, err := c.TxInfosByBlockNum(ctx, n)
					require.NoError(t, err)
					require.Len(t, infos, len(wantInfos))
				}
			})
		}
	}
	require.Positive(t, nodes[0].Endpoint.Status().ErrorsInjected)
	// How many calls the rate limit refused depends on how fast the
	// machine makes them; package sim pins the refusals themselves.
	t.Logf("rate limited: %d of %d calls", nodes[1].Endpoint.Status().RateLimited, nodes[1].Endpoint.Status().Requests)
}

// BenchmarkCatchUp measures catching up on a node: blocks by range and
// each block's infos, over HTTP and over gRPC, of mainnet-sized synthetic
// blocks (300 transactions), already generated, so that the transport is
// what is measured.
func BenchmarkCatchUp(b *testing.B) {
	const blocks = 200
	s, nodes := simtest.StartNodes(b, sim.Config{Seed: 17, TxsPerBlock: 300, InitialBlocks: blocks, Instant: true, CacheBlocks: blocks}, 1)
	first := s.First()
	for _, tc := range []struct{ name, url string }{{"http", nodes[0].HTTP}, {"grpc", nodes[0].GRPC}} {
		b.Run(tc.name, func(b *testing.B) {
			c := newClient(b, tc.url)
			ctx := context.Background()
			// Warm the simulator's rendering of each block for this
			// transport, outside the measure.
			if err := catchUp(ctx, c, first, first+blocks); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if err := catchUp(ctx, c, first, first+blocks); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*blocks)/b.Elapsed().Seconds(), "blocks/s")
		})
	}
}

// catchUp reads blocks [start, end) and their infos as a follower
// catching up does.
func catchUp(ctx context.Context, c *tron.Client, start, end int64) error {
	for from := start; from < end; from += tron.MaxBlocksPerRange {
		bs, err := c.BlocksByRange(ctx, from, min(from+tron.MaxBlocksPerRange, end))
		if err != nil {
			return err
		}
		for i := range bs {
			infos, err := c.TxInfosByBlockNum(ctx, bs[i].BlockHeader.RawData.Number)
			if err != nil {
				return err
			}
			if len(infos) != len(bs[i].Transactions) {
				return fmt.Errorf("block %d: %d infos for %d transactions", bs[i].BlockHeader.RawData.Number, len(infos), len(bs[i].Transactions))
			}
		}
	}
	return nil
}
