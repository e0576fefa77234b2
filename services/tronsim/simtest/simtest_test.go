package simtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func nowBlock(t testing.TB, url string) tron.Block {
	t.Helper()
	resp, err := http.Post(url+"/wallet/getnowblock", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var b tron.Block
	require.NoError(t, json.Unmarshal(body, &b))
	return b
}

func TestStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  sim.Config
	}{
		{"instant", sim.Config{Seed: 1, TxsPerBlock: 10, Instant: true, InitialBlocks: 5}},
		{"producing", sim.Config{Seed: 1, TxsPerBlock: 10, BlockInterval: 10 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, url := simtest.Start(t, tc.cfg)
			require.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), url)
			b := nowBlock(t, url)
			require.NoError(t, tron.VerifyBlockID(&b))
			if tc.cfg.Instant {
				head, id := s.Head()
				require.Equal(t, head, b.BlockHeader.RawData.Number)
				require.Equal(t, id, b.BlockID)
				return
			}
			require.Eventually(t, func() bool {
				return nowBlock(t, url).BlockHeader.RawData.Number > b.BlockHeader.RawData.Number
			}, 10*time.Second, 10*time.Millisecond)
		})
	}
}

// TestStartNodes: the nodes serve one chain, each on its own port, and a
// fault set on one is seen on that one only.
func TestStartNodes(t *testing.T) {
	t.Parallel()
	s, nodes := simtest.StartNodes(t, sim.Config{Seed: 2, TxsPerBlock: 5, Instant: true, InitialBlocks: 30}, 3)
	require.Len(t, nodes, 3)
	head, headID := s.Head()
	seen := map[string]bool{}
	for i, n := range nodes {
		require.True(t, strings.HasPrefix(n.HTTP, "http://127.0.0.1:"), n.HTTP)
		require.False(t, seen[n.HTTP], "node %d shares a port", i)
		seen[n.HTTP] = true
		require.NotNil(t, n.Endpoint)
		require.Same(t, s, n.Endpoint.Sim())
		b := nowBlock(t, n.HTTP)
		require.Equal(t, headID, b.BlockID, "node %d", i)
	}
	require.Same(t, s.Endpoint(), nodes[0].Endpoint)

	nodes[1].Endpoint.SetFaults(sim.Faults{Lag: 20})
	require.Equal(t, head-20, nowBlock(t, nodes[1].HTTP).BlockHeader.RawData.Number)
	require.Equal(t, head, nowBlock(t, nodes[0].HTTP).BlockHeader.RawData.Number)
	require.Equal(t, head, nowBlock(t, nodes[2].HTTP).BlockHeader.RawData.Number)
}
