package nodes

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/tron"
)

// step is one moment of a selection scenario: faults change, blocks are
// mined, the clock moves and the pool polls; then the selection and
// states are checked.
type step struct {
	do     func(b *bed)
	mine   int
	rounds int
	// want is the selected node after the step; states, if set, every
	// node's state.
	want   int
	states []State
}

func TestPool_selection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		nodes int
		steps []step
	}{
		{
			name: "stays on the first node while every node is fine", nodes: 3,
			steps: []step{
				{rounds: 1, want: 0, states: []State{StateSelected, StateOK, StateOK}},
				{mine: 2, rounds: 3, want: 0, states: []State{StateSelected, StateOK, StateOK}},
			},
		},
		{
			name: "a node 20 blocks behind is never selected", nodes: 3,
			steps: []step{
				{do: func(b *bed) { b.fakes[0].set(func(f *fakeNode) { f.lag = 20 }) }, rounds: 1, want: 1,
					states: []State{StateLagging, StateSelected, StateOK}},
				{mine: 3, rounds: 5, want: 1, states: []State{StateLagging, StateSelected, StateOK}},
			},
		},
		{
			name: "a node within the near lag is not left", nodes: 2,
			steps: []step{
				{do: func(b *bed) { b.fakes[0].set(func(f *fakeNode) { f.lag = 2 }) }, rounds: 2, want: 0},
				{do: func(b *bed) { b.fakes[0].set(func(f *fakeNode) { f.lag = 3 }) }, rounds: 1, want: 1,
					states: []State{StateBehind, StateSelected}},
			},
		},
		{
			name: "a stalled node is left once it falls behind, and is stalled after the stall time", nodes: 2,
			steps: []step{
				{rounds: 1, want: 0},
				{do: func(b *bed) { b.fakes[0].set(func(f *fakeNode) { f.stallAt, _ = f.s.Head() }) }, mine: 1, rounds: 1, want: 0},
				{mine: 2, rounds: 1, want: 1, states: []State{StateBehind, StateSelected}},
				{rounds: 9, want: 1, states: []State{StateStalled, StateSelected}},
			},
		},
		{
			name: "a failing node is left at once and taken back only after recovering", nodes: 2,
			steps: []step{
				{do: func(b *bed) { b.fakes[0].set(func(f *fakeNode) { f.err = errDown }) }, rounds: 1, want: 1,
					states: []State{StateFailing, StateSelected}},
				{do: func(b *bed) { b.fakes[0].set(func(f *fakeNode) { f.err = nil }) }, rounds: 1, want: 1,
					states: []State{StateRecovering, StateSelected}},
				// The selected node fails too: the recovering one is
				// better than a failing one.
				{do: func(b *bed) { b.fakes[1].set(func(f *fakeNode) { f.err = errDown }) }, rounds: 1, want: 0,
					states: []State{StateRecovering, StateFailing}},
				{rounds: 1, want: 0, states: []State{StateSelected, StateFailing}},
			},
		},
		{
			name: "a recovered node does not take the reads back from a good one", nodes: 2,
			steps: []step{
				{do: func(b *bed) { b.fakes[0].set(func(f *fakeNode) { f.err = errDown }) }, rounds: 1, want: 1},
				{do: func(b *bed) { b.fakes[0].set(func(f *fakeNode) { f.err = nil }) }, rounds: 5, want: 1,
					states: []State{StateOK, StateSelected}},
			},
		},
		{
			name: "flapping heads do not flap the selection", nodes: 3,
			steps: []step{
				{do: func(b *bed) { b.fakes[0].set(func(f *fakeNode) { f.lag = 1 }) }, rounds: 1, want: 0},
				{do: func(b *bed) {
					b.fakes[0].set(func(f *fakeNode) { f.lag = 0 })
					b.fakes[1].set(func(f *fakeNode) { f.lag = 2 })
				}, rounds: 1, want: 0},
				{do: func(b *bed) {
					b.fakes[0].set(func(f *fakeNode) { f.lag = 2 })
					b.fakes[1].set(func(f *fakeNode) { f.lag = 0 })
				}, rounds: 1, want: 0},
			},
		},
		{
			name: "when every node fails the least bad one stays selected", nodes: 2,
			// The other node fails first: the polls of one round run
			// concurrently, so failing both in one round would let the
			// reads move to a node not yet polled, which is right too.
			steps: []step{
				{do: func(b *bed) { b.fakes[1].set(func(f *fakeNode) { f.err = errDown }) }, rounds: 1, want: 0,
					states: []State{StateSelected, StateFailing}},
				{do: func(b *bed) { b.fakes[0].set(func(f *fakeNode) { f.err = errDown }) }, rounds: 2, want: 0,
					states: []State{StateFailing, StateFailing}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := testChain(t)
			b := newBed(t, s, tc.nodes, nil)
			for i, st := range tc.steps {
				if st.do != nil {
					st.do(b)
				}
				s.Mine(st.mine)
				b.rounds(t, st.rounds)
				require.Equal(t, st.want, b.selected(), "step %d: selected; states %v", i, b.states())
				if st.states != nil {
					require.Equal(t, st.states, b.states(), "step %d", i)
				}
			}
		})
	}
}

func TestPool_failoverRetriesTheCallOnTheNextNode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		// reason is the errors_total label the failure counts under.
		reason string
	}{
		{"5xx", errDown, "unavailable"},
		{"rate limited", &tron.RateLimitError{RetryAfter: 5 * time.Second, HTTP: &tron.HTTPError{StatusCode: 429}}, "rate_limited"},
		{"timeout", context.DeadlineExceeded, "timeout"},
		{"bad response", tron.ErrBadResponse, "bad_response"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := testChain(t)
			b := newBed(t, s, 2, nil)
			b.fakes[0].set(func(f *fakeNode) { f.err = tc.err })
			head, _ := s.Head()
			blk, err := b.p.BlockByNum(t.Context(), head)
			require.NoError(t, err)
			require.Equal(t, head, blk.BlockHeader.RawData.Number)
			require.Equal(t, 1, b.fakes[1].count("block"), "answered by the second node")
			require.Equal(t, 1, b.selected(), "and reads moved there")
			require.InDelta(t, 1, testutil.ToFloat64(b.p.m.errors.WithLabelValues(b.p.nodes[0].label, tc.reason)), 0)
			require.Equal(t, StateFailing, b.p.Status()[0].State)
		})
	}
}

func TestPool_rateLimitedNodeIsLeftAloneUntilRetryAfter(t *testing.T) {
	t.Parallel()
	s := testChain(t)
	b := newBed(t, s, 2, nil)
	b.fakes[0].set(func(f *fakeNode) {
		f.err = &tron.RateLimitError{RetryAfter: 5 * time.Second, HTTP: &tron.HTTPError{StatusCode: 429}}
	})
	b.round(t)
	require.Equal(t, 1, b.selected())
	polls := b.fakes[0].count("now")
	b.rounds(t, 3)
	require.Equal(t, polls, b.fakes[0].count("now"), "not polled before its Retry-After")
	b.rounds(t, 3)
	require.Greater(t, b.fakes[0].count("now"), polls, "polled again after it")
}

func TestPool_everyNodeFailing(t *testing.T) {
	t.Parallel()
	s := testChain(t)
	b := newBed(t, s, 2, nil)
	b.fakes[0].set(func(f *fakeNode) { f.err = errDown })
	b.fakes[1].set(func(f *fakeNode) {
		f.err = &tron.RateLimitError{RetryAfter: time.Second, HTTP: &tron.HTTPError{StatusCode: 429}}
	})
	_, err := b.p.NowBlock(t.Context())
	require.Error(t, err)
	var he *tron.HTTPError
	require.ErrorAs(t, err, &he)
	_, ok := errors.AsType[*tron.RateLimitError](err)
	require.True(t, ok, "the follower still sees the Retry-After")
	require.False(t, b.p.Usable())

	// A block no node has is not found; one a failing node might have is
	// an error.
	b.fakes[1].set(func(f *fakeNode) { f.err = nil })
	_, err = b.p.BlockByNum(t.Context(), 1<<40)
	require.ErrorIs(t, err, errDown)
	require.NotErrorIs(t, err, tron.ErrNotFound)
	b.fakes[0].set(func(f *fakeNode) { f.err = nil })
	_, err = b.p.BlockByNum(t.Context(), 1<<40)
	require.ErrorIs(t, err, tron.ErrNotFound)
}

func TestPool_notFoundOnOneNodeIsAskedOfTheNext(t *testing.T) {
	t.Parallel()
	s := testChain(t)
	b := newBed(t, s, 2, nil)
	b.fakes[0].set(func(f *fakeNode) { f.lag = 1 })
	head, _ := s.Head()
	blk, err := b.p.BlockByNum(t.Context(), head)
	require.NoError(t, err)
	require.Equal(t, head, blk.BlockHeader.RawData.Number)
	require.Equal(t, StateSelected, b.p.Status()[0].State, "a node without the block is not failing")
}

func TestPool_verification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		corrupt string
		call    func(ctx context.Context, p *Pool, head int64) error
	}{
		{"block id", "block", func(ctx context.Context, p *Pool, head int64) error { _, err := p.BlockByNum(ctx, head-3); return err }},
		{"transaction id", "tx", func(ctx context.Context, p *Pool, head int64) error { _, err := p.BlockByNum(ctx, head-3); return err }},
		{"head block", "block", func(ctx context.Context, p *Pool, _ int64) error { _, err := p.NowBlock(ctx); return err }},
		{"range", "tx", func(ctx context.Context, p *Pool, head int64) error {
			bs, err := p.BlocksByRange(ctx, head-10, head)
			if err == nil && len(bs) != 10 {
				return errors.New("short range")
			}
			return err
		}},
		{"range links", "link", func(ctx context.Context, p *Pool, head int64) error {
			_, err := p.BlocksByRange(ctx, head-10, head)
			return err
		}},
		{"infos", "infos", func(ctx context.Context, p *Pool, head int64) error {
			_, err := p.TxInfosByBlockNum(ctx, head-3)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := testChain(t)
			b := newBed(t, s, 2, nil)
			b.fakes[0].set(func(f *fakeNode) { f.corrupt = tc.corrupt })
			head, _ := s.Head()
			require.NoError(t, tc.call(t.Context(), b.p, head), "answered by the honest node")
			require.Equal(t, StateBad, b.p.Status()[0].State)
			require.Equal(t, 1, b.selected())
			require.InDelta(t, 1, testutil.ToFloat64(b.p.m.bad.WithLabelValues(b.p.nodes[0].label)), 0)
			require.InDelta(t, 1, testutil.ToFloat64(b.p.m.errors.WithLabelValues(b.p.nodes[0].label, "integrity")), 0)

			// Alone, the node's data is refused, never returned.
			s1 := testChain(t)
			one := newBed(t, s1, 1, nil)
			one.fakes[0].set(func(f *fakeNode) { f.corrupt = tc.corrupt })
			err := tc.call(t.Context(), one.p, head)
			require.Error(t, err)
			require.True(t, errors.Is(err, tron.ErrIntegrity) || errors.Is(err, ErrMismatch), "%v", err)
		})
	}
}

func TestPool_badNodeIsSetAsideForBadFor(t *testing.T) {
	t.Parallel()
	s := testChain(t)
	b := newBed(t, s, 2, func(c *Config) { c.BadFor = 10 * time.Second })
	b.fakes[0].set(func(f *fakeNode) { f.corrupt = "block" })
	b.round(t)
	require.Equal(t, []State{StateBad, StateSelected}, b.states())
	b.fakes[0].set(func(f *fakeNode) { f.corrupt = "" })
	b.rounds(t, 9)
	require.Equal(t, StateBad, b.states()[0], "still within BadFor")
	b.rounds(t, 2)
	require.Equal(t, StateRecovering, b.states()[0], "then it must recover like a failing node")
	b.rounds(t, 3)
	require.Equal(t, StateOK, b.states()[0])
}

func TestPool_infosAreCheckedAgainstTheBlockTheNodeServed(t *testing.T) {
	t.Parallel()
	s := testChain(t)
	b := newBed(t, s, 1, nil)
	f := b.fakes[0]
	head, _ := s.Head()
	_, err := b.p.BlocksByRange(t.Context(), head-5, head)
	require.NoError(t, err)
	for n := head - 5; n < head; n++ {
		_, err := b.p.TxInfosByBlockNum(t.Context(), n)
		require.NoError(t, err)
	}
	require.Equal(t, 0, f.count("block"), "the blocks served were remembered")

	// Not served yet: the block is fetched to check against.
	_, err = b.p.TxInfosByBlockNum(t.Context(), head)
	require.NoError(t, err)
	require.Equal(t, 1, f.count("block"))
}

func TestPool_infosWaitForTheRangeInFlight(t *testing.T) {
	t.Parallel()
	s := testChain(t)
	b := newBed(t, s, 1, nil)
	f := b.fakes[0]
	gate := make(chan struct{})
	f.set(func(f *fakeNode) { f.gate = gate })
	head, _ := s.Head()
	rangeDone := make(chan error, 1)
	go func() {
		_, err := b.p.BlocksByRange(t.Context(), head-5, head)
		rangeDone <- err
	}()
	require.Eventually(t, func() bool { return f.count("range") == 1 }, 5*time.Second, time.Millisecond)
	infosDone := make(chan error, 1)
	go func() {
		_, err := b.p.TxInfosByBlockNum(t.Context(), head-2)
		infosDone <- err
	}()
	require.Eventually(t, func() bool { return f.count("infos") == 1 }, 5*time.Second, time.Millisecond)
	close(gate)
	require.NoError(t, <-rangeDone)
	require.NoError(t, <-infosDone)
	require.Equal(t, 0, f.count("block"), "the infos waited for the range instead of fetching the block again")
}

func TestPool_reorgBetweenBlockAndInfosIsNotABadNode(t *testing.T) {
	t.Parallel()
	s := testChain(t)
	b := newBed(t, s, 2, nil)
	head, _ := s.Head()
	old, err := b.p.BlockByNum(t.Context(), head)
	require.NoError(t, err)
	require.NoError(t, s.Reorg(1))
	infos, err := b.p.TxInfosByBlockNum(t.Context(), head)
	require.NoError(t, err)
	nb, _, err := s.Block(head)
	require.NoError(t, err)
	require.NotEqual(t, old.BlockID, nb.BlockID)
	require.Len(t, infos, len(nb.Transactions))
	require.Equal(t, StateSelected, b.p.Status()[0].State, "node 0 is not bad")
	require.Equal(t, 0, b.fakes[1].count("infos"), "and was believed")
}

func TestPool_anEmptyInfoListIsNotYetRatherThanBad(t *testing.T) {
	t.Parallel()
	s := testChain(t)
	b := newBed(t, s, 2, nil)
	b.fakes[0].set(func(f *fakeNode) { f.corrupt = "noinfos" })
	head, _ := s.Head()
	_, want, err := s.Block(head)
	require.NoError(t, err)
	require.NotEmpty(t, want)
	infos, err := b.p.TxInfosByBlockNum(t.Context(), head)
	require.NoError(t, err)
	require.Len(t, infos, len(want), "read from the node that has them")
	require.Equal(t, StateSelected, b.p.Status()[0].State, "a node a block behind on its infos is neither bad nor failing")

	one := newBed(t, s, 1, nil)
	one.fakes[0].set(func(f *fakeNode) { f.corrupt = "noinfos" })
	_, err = one.p.TxInfosByBlockNum(t.Context(), head)
	require.Error(t, err, "never an empty list for a block with transactions")
}

func TestPool_RunPollsNothingWithOneNode(t *testing.T) {
	t.Parallel()
	s := testChain(t)
	b := newBed(t, s, 1, func(c *Config) { c.Now = nil; c.HealthInterval = time.Millisecond })
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.NoError(t, b.p.Run(ctx))
	require.Zero(t, b.fakes[0].count("now"))
}

func TestPool_theNodeReadFromIsNotPolledOnTopOfTheReads(t *testing.T) {
	t.Parallel()
	s := testChain(t)
	b := newBed(t, s, 2, nil)
	read, other := b.fakes[0], b.fakes[1]
	// What the follower does at the head, once per poll interval: the
	// head block, then its infos. The health round finds the node read
	// from fresh, and polls only the other.
	for range 5 {
		blk, err := b.p.NowBlock(t.Context())
		require.NoError(t, err)
		_, err = b.p.TxInfosByBlockNum(t.Context(), blk.BlockHeader.RawData.Number)
		require.NoError(t, err)
		b.round(t)
		s.Mine(1)
	}
	require.Equal(t, 5, read.count("now"))
	require.Equal(t, 5, read.count("infos"))
	require.Equal(t, 0, read.count("block"), "the infos were checked against the head block read")
	require.Equal(t, 5, other.count("now"))
}

func TestPool_triggerConstantRevertIsAnAnswer(t *testing.T) {
	t.Parallel()
	s := testChain(t)
	b := newBed(t, s, 2, nil)
	revert := &tron.CallError{Code: "REVERT"}
	b.fakes[0].set(func(f *fakeNode) { f.err = revert })
	_, err := b.p.TriggerConstant(t.Context(), tron.Address{}, tron.Address{}, "decimals()", nil)
	require.ErrorIs(t, err, tron.ErrCallFailed)
	require.Equal(t, 0, b.fakes[1].count("trigger"))
	require.Equal(t, 0, b.selected())

	b.fakes[0].set(func(f *fakeNode) { f.err = errDown })
	out, err := b.p.TriggerConstant(t.Context(), tron.Address{}, tron.Address{}, "decimals()", nil)
	require.NoError(t, err)
	require.Equal(t, []byte{1}, out)
}

func TestPool_solidHeightNeverGoesBack(t *testing.T) {
	t.Parallel()
	s := testChain(t)
	b := newBed(t, s, 2, nil)
	b.fakes[0].set(func(f *fakeNode) { f.solid = 100 })
	b.fakes[1].set(func(f *fakeNode) { f.solid = 97 })
	h, err := b.p.SolidHeight(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(100), h)
	b.fakes[0].set(func(f *fakeNode) { f.err = errDown })
	h, err = b.p.SolidHeight(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(100), h, "a failover to a node a little behind does not take it back")
}

func TestPool_lanesHaveClientsOfTheirOwn(t *testing.T) {
	t.Parallel()
	made := 0
	p, err := New(Config{URLs: []string{"http://127.0.0.1:1", "grpc://127.0.0.1:2"}, NewClient: func(tron.ClientConfig) (Client, error) {
		made++
		return newFakeNode(nil), nil
	}})
	require.NoError(t, err)
	defer p.Close()
	require.Equal(t, 4, made, "the default and health lanes")
	l1, err := p.Lane("tokens")
	require.NoError(t, err)
	l2, err := p.Lane("tokens")
	require.NoError(t, err)
	require.Same(t, l1, l2)
	require.Equal(t, 6, made)
	require.NotSame(t, l1.clients[0], p.def.clients[0])
}

func TestPool_clientTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		urls        []string
		retries     int
		wantRetries int
	}{
		{"one node keeps the client's retries", []string{"http://a:1"}, 0, 0},
		{"several nodes retry on the next node instead", []string{"http://a:1", "http://b:1"}, 0, -1},
		{"an explicit budget is kept", []string{"http://a:1", "http://b:1"}, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []tron.ClientConfig
			p, err := New(Config{URLs: tc.urls, Client: tron.ClientConfig{APIKey: "k", MaxRetries: tc.retries}, NewClient: func(cc tron.ClientConfig) (Client, error) {
				got = append(got, cc)
				return newFakeNode(nil), nil
			}})
			require.NoError(t, err)
			defer p.Close()
			for i, cc := range got {
				require.Equal(t, tc.urls[i%len(tc.urls)], cc.BaseURL)
				require.Equal(t, "k", cc.APIKey)
				require.Equal(t, tc.wantRetries, cc.MaxRetries)
			}
		})
	}
}

func TestPool_statusAndMetricsNameNodesWithoutCredentials(t *testing.T) {
	t.Parallel()
	p, err := New(Config{URLs: []string{"https://user:secret@node.example:8090/?apikey=x", "grpcs://node.example:50051"},
		NewClient: func(tron.ClientConfig) (Client, error) { return newFakeNode(nil), nil }})
	require.NoError(t, err)
	defer p.Close()
	st := p.Status()
	require.Equal(t, "https://node.example:8090", st[0].URL)
	require.Equal(t, "grpcs://node.example:50051", st[1].URL)
	for _, s := range st {
		require.NotContains(t, s.URL, "secret")
		require.NotContains(t, s.URL, "apikey")
	}
}

func TestPool_Run(t *testing.T) {
	t.Parallel()
	s := testChain(t)
	b := newBed(t, s, 2, func(c *Config) { c.Now = nil; c.HealthInterval = 5 * time.Millisecond })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.p.Run(ctx) }()
	b.fakes[0].set(func(f *fakeNode) { f.err = errDown })
	require.Eventually(t, func() bool { return b.selected() == 1 }, 5*time.Second, time.Millisecond)
	require.Error(t, b.p.Run(ctx), "a second Run at once is refused")
	cancel()
	require.NoError(t, <-done)
	require.True(t, strings.HasPrefix(b.p.Status()[0].LastError, "tron:"), b.p.Status()[0].LastError)
}
