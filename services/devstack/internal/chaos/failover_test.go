package chaos_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/devstack/internal/chaos"
)

// TestChaos_ClusterFailover kills the NATS node the edges are connected
// to while 50 clients stream from two edges and a webhook receiver takes
// deliveries, restarts it, then kills another: every client must end up
// with exactly the stored history over its range, and the receiver with
// every event of its subscription, in order.
func TestChaos_ClusterFailover(t *testing.T) {
	t.Parallel()
	s := newScenario(t, chaos.Config{}, []string{chaos.SubTRX, chaos.SubStaking, chaos.SubTRC10}, chaos.SubStaking)
	h := s.h

	// 40 live clients, spread over the subscriptions and the edges.
	subs := []string{chaos.SubTRX, chaos.SubTRX, chaos.SubStaking, chaos.SubTRC10}
	for i := range 40 {
		s.client(fmt.Sprintf("live-%02d", i), subs[i%len(subs)], i%2)
	}
	s.flow(t, "start", 5, 60*time.Second)

	// 10 more resume from a cursor some way back in the history: they
	// replay, then go live.
	for i := range 10 {
		sub := s.subs[subs[i%len(subs)]]
		hist, err := h.History(ctx(t, 30*time.Second), sub, "", "")
		require.NoError(t, err)
		require.NotEmpty(t, hist)
		after := hist[max(0, len(hist)-20-i)].Cursor
		s.client(fmt.Sprintf("resume-%02d", i), subs[i%len(subs)], (i+1)%2, func(c *chaos.ClientConfig) { c.After = after })
	}
	s.flow(t, "resumed clients live", 5, 60*time.Second)

	// First fault: the node edge-1 is connected to.
	first := h.NATSNodeOf(0)
	require.GreaterOrEqual(t, first, 0, "edge-1 holds a NATS connection")
	t.Logf("edges on nodes n%d and n%d; killing n%d", h.NATSNodeOf(0), h.NATSNodeOf(1), first)
	require.NoError(t, h.KillNATS(first))
	testenv.WaitFor(t, 30*time.Second, func() bool {
		n := h.NATSNodeOf(0)
		return n >= 0 && n != first
	}, "edge-1 reconnects to another node")
	s.flow(t, "after the first kill", 8, 90*time.Second)
	began := time.Now()
	require.NoError(t, h.RestartNATS(first))
	t.Logf("n%d restarted in %s", first, time.Since(began).Round(time.Millisecond))
	s.flow(t, "after the restart", 8, 90*time.Second)

	// Second fault: another node, one an edge is connected to if any.
	second := -1
	for _, n := range []int{h.NATSNodeOf(1), h.NATSNodeOf(0)} {
		if n >= 0 && n != first {
			second = n
			break
		}
	}
	if second < 0 {
		second = (first + 1) % 3
	}
	t.Logf("edges on nodes n%d and n%d; killing n%d", h.NATSNodeOf(0), h.NATSNodeOf(1), second)
	require.NoError(t, h.KillNATS(second))
	s.flow(t, "after the second kill", 8, 90*time.Second)
	began = time.Now()
	require.NoError(t, h.RestartNATS(second))
	t.Logf("n%d restarted in %s", second, time.Since(began).Round(time.Millisecond))
	s.flow(t, "after the second restart", 5, 90*time.Second)

	logCounters(t, h)
	require.Positive(t, edgeCounter(t, h, 0, "mongotron_edge_stream_nats_disconnects_total"), "edge-1 lost its NATS node")
	checkAll(t, s.h, s.f, s.rcv, s.hooks)
}
