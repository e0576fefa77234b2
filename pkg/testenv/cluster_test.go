package testenv_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/testenv"
)

func TestStartNATSCluster_zeroConfigIsThreeNodes(t *testing.T) {
	t.Parallel()
	c, err := testenv.StartNATSCluster(testenv.NATSClusterConfig{})
	require.NoError(t, err)
	defer c.Shutdown()
	urls := c.URLs()
	require.Len(t, urls, 3)
	require.Equal(t, strings.Join(urls, ","), c.URL())
	for i, u := range urls {
		require.True(t, strings.HasPrefix(u, "nats://127.0.0.1:"), u)
		require.Equal(t, u, c.Node(i).ClientURL())
		require.Equal(t, i, c.Index(c.Node(i).Name()))
		require.Equal(t, 2, c.Node(i).NumRemotes())
	}
	require.Equal(t, -1, c.Index("nope"))
}

// TestNATSCluster_KillAndRestart pins what failover tests rely on: an R3
// stream keeps taking publishes and serving reads while any one node is
// down, the stream's leader included, and the node rejoins on its old
// ports with its data.
func TestNATSCluster_KillAndRestart(t *testing.T) {
	t.Parallel()
	c := testenv.RunNATSCluster(t, 3)
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	// Created right after the start, with no wait: the cluster is ready
	// for an R3 stream when StartNATSCluster returns.
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "K", Subjects: []string{"k.>"}, Replicas: 3})
	require.NoError(t, err)

	streamLeader := func() int {
		info, err := js.Stream(ctx, "K")
		require.NoError(t, err)
		i := c.Index(info.CachedInfo().Cluster.Leader)
		require.GreaterOrEqual(t, i, 0, "leader %q", info.CachedInfo().Cluster.Leader)
		return i
	}
	sent := 0
	publish := func(n int) {
		t.Helper()
		for range n {
			sent++
			id := strconv.Itoa(sent)
			// Retried, as a producer would: the publish that meets
			// the failover may time out, and the message ID makes the
			// retry safe.
			require.Eventually(t, func() bool {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				_, err := js.Publish(pctx, "k.x", []byte(id), jetstream.WithMsgID(id))
				return err == nil
			}, 20*time.Second, 10*time.Millisecond, "publish %s", id)
		}
	}
	readAll := func() {
		t.Helper()
		var msgs []*jetstream.RawStreamMsg
		require.Eventually(t, func() bool {
			msgs = testenv.SubjectMessages(t, js, "K", "k.x")
			return len(msgs) == sent
		}, 20*time.Second, 50*time.Millisecond, "want %d messages", sent)
		for i, m := range msgs {
			require.Equal(t, strconv.Itoa(i+1), string(m.Data))
		}
	}
	publish(5)
	readAll()

	for _, tc := range []struct {
		name string
		pick func() int
	}{
		{"stream leader", streamLeader},
		{"stream follower", func() int { return (streamLeader() + 1) % 3 }},
		{"meta leader", func() int {
			for i := range 3 {
				if c.Node(i).JetStreamIsLeader() {
					return i
				}
			}
			t.Fatal("no meta leader")
			return -1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := tc.pick()
			old := c.Node(i)
			require.NoError(t, c.Kill(i))
			require.False(t, c.Node(i).Running())
			require.NoError(t, c.Kill(i), "a second kill does nothing")
			publish(5)
			readAll()
			if tc.name == "stream leader" {
				require.NotEqual(t, i, streamLeader(), "leadership moved")
			}

			require.NoError(t, c.Restart(i))
			s := c.Node(i)
			require.NotSame(t, old, s)
			require.True(t, s.Running())
			require.Equal(t, c.URLs()[i], s.ClientURL(), "same client port")
			require.Equal(t, 2, s.NumRemotes())
			require.True(t, s.JetStreamIsCurrent())
			// The replica catches up from the others: the node holds
			// the messages it missed.
			require.Eventually(t, func() bool {
				return s.JetStreamIsStreamCurrent("$G", "K")
			}, 20*time.Second, 50*time.Millisecond)
			publish(5)
			readAll()
		})
	}

	info, err := js.Stream(ctx, "K")
	require.NoError(t, err)
	require.Len(t, info.CachedInfo().Cluster.Replicas, 2, "%+v", info.CachedInfo().Cluster)
}

func TestNATSCluster_RestartRunningNodeBouncesIt(t *testing.T) {
	t.Parallel()
	c := testenv.RunNATSCluster(t, 0)
	old := c.Node(1)
	require.NoError(t, c.Restart(1))
	require.False(t, old.Running())
	require.True(t, c.Node(1).Running())
	require.Equal(t, 2, c.Node(1).NumRemotes())
}

// TestNATSCluster_RestartRestoresQuorum: with two of three nodes down the
// cluster has no meta leader; Restart of one returns only once a leader
// is elected again, which takes an election timeout (several seconds).
func TestNATSCluster_RestartRestoresQuorum(t *testing.T) {
	t.Parallel()
	c := testenv.RunNATSCluster(t, 3)
	require.NoError(t, c.Kill(0))
	require.NoError(t, c.Kill(1))
	require.NoError(t, c.Restart(1))
	leaders := 0
	for _, i := range []int{1, 2} {
		if c.Node(i).JetStreamIsLeader() {
			leaders++
		}
	}
	require.Equal(t, 1, leaders)
	require.NoError(t, c.Restart(0))

	nc, err := nats.Connect(c.URL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "Q", Subjects: []string{"q"}, Replicas: 3})
	require.NoError(t, err, "all three nodes count as peers again")
}
