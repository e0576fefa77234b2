package chaos_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/devstack/internal/chaos"
)

// Link cuts. Edge-1 keeps the default broker grace (5 s) and has its
// link to NATS cut for 3 s, within it; edge-2 runs with a grace of 2 s
// and has its link cut for 30 s, far past it.
const (
	shortCut   = 3 * time.Second
	longCut    = 30 * time.Second
	shortGrace = 2 * time.Second
)

// TestChaos_EdgeLinkCut cuts the links between one edge and every NATS
// node. Within the broker grace the edge's streams stay open and their
// clients get every event, the missed ones filled from history; past it
// the streams close with 1012 and their clients, resuming with their
// cursor on the other edge or (sticky ones) on the same edge once it is
// back, end with no gap either.
func TestChaos_EdgeLinkCut(t *testing.T) {
	t.Parallel()
	s := newScenario(t, chaos.Config{BrokerGrace: []time.Duration{0, shortGrace}}, []string{chaos.SubTRX, chaos.SubStaking})
	h := s.h

	subs := []string{chaos.SubTRX, chaos.SubStaking}
	var onEdge [2][]*chaos.Client
	var sticky []*chaos.Client
	for i := range 16 {
		edge := i % 2
		c := s.client(fmt.Sprintf("e%d-%02d", edge+1, i), subs[(i/2)%2], edge, func(c *chaos.ClientConfig) {
			// Three of edge-2's clients come back to it rather
			// than move to edge-1.
			if edge == 1 && i >= 10 {
				c.Sticky = true
				c.Backoff = time.Second
				c.Name += "-sticky"
			}
		})
		onEdge[edge] = append(onEdge[edge], c)
		if edge == 1 && i >= 10 {
			sticky = append(sticky, c)
		}
	}
	s.flow(t, "start", 5, 60*time.Second)

	// A cut within the grace: edge-1's streams stay open.
	ends := s.f.ends()
	reconnects := edgeCounter(t, h, 0, "mongotron_edge_stream_nats_reconnects_total")
	h.CutLink(0, shortCut)
	began := time.Now()
	testenv.WaitFor(t, shortCut+20*time.Second, func() bool {
		return edgeCounter(t, h, 0, "mongotron_edge_stream_nats_reconnects_total") > reconnects
	}, "edge-1 reconnects to NATS after the %s cut", shortCut)
	t.Logf("edge-1 back on NATS %s after the cut began", time.Since(began).Round(time.Millisecond))
	s.flow(t, "after the short cut", 8, 60*time.Second)
	for i, c := range s.f.clients {
		require.Len(t, c.Ends(), ends[i], "%s: no stream ends during a cut within the grace; its streams: %v", c.Name(), c.Sessions())
	}
	for _, c := range onEdge[0] {
		edge, live := c.Live()
		require.True(t, live && edge == 0, "%s still streams from edge-1", c.Name())
	}
	require.Positive(t, edgeCounter(t, h, 0, "mongotron_edge_stream_nats_disconnects_total"), "the cut reached edge-1")
	logCounters(t, h)

	// A cut past the grace: edge-2's streams close with 1012.
	ends = s.f.ends()
	h.CutLink(1, longCut)
	began = time.Now()
	testenv.WaitFor(t, shortGrace+15*time.Second, func() bool {
		for i, c := range s.f.clients {
			if c.Sessions()[0].Edge == 1 && len(c.Ends()) == ends[i] {
				return false
			}
		}
		return true
	}, "every stream of edge-2 closes once the grace has passed")
	t.Logf("edge-2's streams closed within %s of the cut", time.Since(began).Round(time.Millisecond))
	for i, c := range s.f.clients {
		if c.Sessions()[0].Edge != 1 {
			require.Len(t, c.Ends(), ends[i], "%s on edge-1 is not disturbed: %v", c.Name(), c.Sessions())
			continue
		}
		end := c.Ends()[ends[i]]
		require.Equal(t, 1012, end.Code, "%s: the stream of an edge cut off from NATS past the grace closes with 1012: %+v", c.Name(), end)
		require.GreaterOrEqual(t, end.End.Sub(began), shortGrace-200*time.Millisecond, "%s: not before the grace", c.Name())
	}
	// The others resume on edge-1 at once, with their cursors.
	moved := &fleet{}
	for _, c := range s.f.clients {
		if !slices.Contains(sticky, c) {
			moved.clients = append(moved.clients, c)
		}
	}
	s.flowOf(t, moved, "non-sticky clients during the long cut", 5, 20*time.Second)
	for _, c := range moved.clients {
		edge, live := c.Live()
		require.True(t, live && edge == 0, "%s streams from edge-1", c.Name())
	}

	// The sticky ones resume on edge-2 once its link is back.
	testenv.WaitFor(t, longCut+30*time.Second, func() bool {
		for _, c := range sticky {
			if edge, live := c.Live(); !live || edge != 1 {
				return false
			}
		}
		return true
	}, "the sticky clients stream from edge-2 again after the cut")
	t.Logf("sticky clients back on edge-2 %s after the cut began", time.Since(began).Round(time.Millisecond))
	require.GreaterOrEqual(t, time.Since(began), longCut-time.Second, "edge-2 refuses streams while its link is cut")
	s.flow(t, "after the long cut", 5, 60*time.Second)
	logCounters(t, h)
	require.GreaterOrEqual(t, edgeCounter(t, h, 1, "mongotron_edge_stream_broker_loss_closes_total"), float64(len(onEdge[1])))
	checkAll(t, s.h, s.f, s.rcv, s.hooks)
}
