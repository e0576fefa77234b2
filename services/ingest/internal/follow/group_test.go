package follow_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

// reorgingNode reorganises its sim's chain once, when the range starting
// at block at is asked for: the follower has by then fetched old-branch
// blocks below at, and gets new-branch ones from at on, so the reorg shows
// in the middle of a catch-up rather than at the head.
type reorgingNode struct {
	follow.Node
	s     *sim.Sim
	at    int64
	depth int
	once  sync.Once
	err   error
}

func (n *reorgingNode) BlocksByRange(ctx context.Context, start, end int64) ([]tron.Block, error) {
	if start == n.at {
		n.once.Do(func() { n.err = n.s.Reorg(n.depth) })
	}
	return n.Node.BlocksByRange(ctx, start, end)
}

// countingPublisher counts the persists (one Publish call each).
type countingPublisher struct {
	follow.Publisher
	calls atomic.Int64
}

func (c *countingPublisher) Publish(ctx context.Context, msgs []follow.Msg) error {
	c.calls.Add(1)
	return c.Publisher.Publish(ctx, msgs)
}

// TestFollower_groupCommit catches up once block by block and once in
// groups, on two identical chains, and requires bit-identical histories:
// grouping must change how many round trips a block costs, never what is
// delivered, with which cursor, at which confirmation level.
func TestFollower_groupCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reorg bool
	}{
		{name: "straight"},
		{name: "reorg mid-catch-up", reorg: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := sim.Config{Seed: 31, Instant: true, InitialBlocks: 24, TxsPerBlock: 15, Addresses: 100}
			m := testenv.RunMongo(t)
			type side struct {
				e     *env
				s     *sim.Sim
				node  *reorgingNode
				pub   *countingPublisher
				m     *follow.Metrics
				subs  []testSub
				start int64
				head  int64
			}
			runs := map[string]*side{}
			for _, mode := range []string{"one", "grouped"} {
				s, url := simtest.Start(t, cfg)
				n := testenv.RunNATS(t)
				e := newEnv(t, m.URI(), "group_"+mode, n.URL())
				r := &side{e: e, s: s, subs: pickSubs(t, s, e.db), start: s.First() + 1}
				r.head, _ = s.Head()
				r.node = &reorgingNode{Node: newClient(t, url), s: s, at: -1, depth: 11}
				if tt.reorg {
					// Chunks of 5 from start: block start+15 opens one.
					// The reorg replaces the four blocks below it too.
					r.node.at = r.start + 15
					r.node.depth = int(r.head - (r.node.at - 4) + 1)
				}
				require.NoError(t, e.mgr.Resync(t.Context()))
				c := e.config(r.node, r.start, false)
				// One range in flight at a time, so that the reorg
				// falls exactly between two ranges.
				c.Concurrency = 1
				r.pub = &countingPublisher{Publisher: e.pub}
				r.m = follow.NewMetrics(nil)
				c.Publisher, c.Metrics = r.pub, r.m
				if mode == "one" {
					c.GroupBlocks = 1
				}
				f, err := follow.New(c)
				require.NoError(t, err)
				stop := run(t, f)
				testenv.WaitFor(t, 60*time.Second, func() bool {
					h, _ := s.Head()
					return f.Committed() == h && (!tt.reorg || testutil.ToFloat64(r.m.Reorgs) > 0)
				}, mode+" catches up")
				stop()
				require.NoError(t, r.node.err)
				r.head, _ = s.Head()
				runs[mode] = r
			}

			one, grouped := runs["one"], runs["grouped"]
			require.Less(t, grouped.pub.calls.Load(), one.pub.calls.Load(), "no group formed: the test proves little")
			want, got := history(t, one.e.db), history(t, grouped.e.db)
			require.Len(t, got, len(want))
			requirePages(t, one.e.db, want)
			requirePages(t, grouped.e.db, got)
			removed := 0
			for _, sub := range one.subs {
				require.NotEmpty(t, want[sub.id], sub.id)
				require.Len(t, got[sub.id], len(want[sub.id]), sub.id)
				for i := range want[sub.id] {
					w, g := want[sub.id][i], got[sub.id][i]
					require.Equal(t, w.ID, g.ID)
					require.Equal(t, w.Cursor, g.Cursor)
					require.Equal(t, w.Removed, g.Removed)
					sameJSON(t, w.JSON, g.JSON)
					if g.Removed {
						removed++
					}
				}
				// What stands is the final chain's events, each at the
				// subscription's confirmation level.
				standing := map[string]bool{}
				for _, d := range got[sub.id] {
					standing[d.EventID] = !d.Removed
				}
				var live []string
				for _, d := range got[sub.id] {
					if !d.Removed && standing[d.EventID] {
						live = append(live, d.EventID)
					}
				}
				require.Equal(t, expected(t, grouped.s, []testSub{sub}, grouped.start, grouped.head)[sub.id], live, sub.id)
			}
			if tt.reorg {
				require.Positive(t, removed, "the reorg retracted nothing: the test proves little")
			}
			require.Equal(t, countDocs(got), streamMsgs(t, grouped.e.js), "each stored event published exactly once")
		})
	}
}

func TestNATSPublisher_Publish(t *testing.T) {
	t.Parallel()
	nc, err := nats.Connect(testenv.RunNATS(t).URL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	pub, err := follow.NewNATSPublisher(nc)
	require.NoError(t, err)
	require.NoError(t, follow.EnsureStream(t.Context(), pub.JetStream(), 0, 1))
	tests := []struct {
		name string
		msgs int
	}{
		{name: "none", msgs: 0},
		{name: "one", msgs: 1},
		{name: "past the window", msgs: 5000},
	}
	var total uint64
	for _, tt := range tests {
		msgs := make([]follow.Msg, tt.msgs)
		for i := range msgs {
			msgs[i] = follow.Msg{Subject: bus.EventsSubject("sub_p"), ID: fmt.Sprintf("%s-%d", tt.name, i), Data: []byte(`{}`)}
		}
		require.NoError(t, pub.Publish(t.Context(), msgs), tt.name)
		// Again: every message is a duplicate the stream drops.
		require.NoError(t, pub.Publish(t.Context(), msgs), tt.name)
		total += uint64(tt.msgs)
		require.Equal(t, total, streamMsgs(t, pub.JetStream()), tt.name)
	}
}
