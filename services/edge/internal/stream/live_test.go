package stream

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/store"
)

// flakyHistory is a [History] that fails while down is set, as MongoDB
// and the events stream do in an outage.
type flakyHistory struct {
	History
	down atomic.Bool
}

var errHistoryDown = errors.New("test: history down")

func (f *flakyHistory) Scan(ctx context.Context, sub, after string, batch int, fn func([]Record) error) error {
	if f.down.Load() {
		return errHistoryDown
	}
	return f.History.Scan(ctx, sub, after, batch, fn)
}

func (f *flakyHistory) Newest(ctx context.Context, sub, atLeast string) (string, error) {
	if f.down.Load() {
		return "", errHistoryDown
	}
	return f.History.Newest(ctx, sub, atLeast)
}

// liveRig is a hub on the memory broker and a flaky memory history, with
// a publisher that stores every event and decides which reach the hub.
type liveRig struct {
	t      *testing.T
	hub    *Hub
	broker *memoryBroker
	hist   *flakyHistory
	reg    *prometheus.Registry
	sub    string
	all    []string // cursors of every event stored, in order
	step   uint64
}

func newLiveRig(t *testing.T, cfg Config) *liveRig {
	t.Helper()
	r := &liveRig{t: t, broker: newMemoryBroker(), hist: &flakyHistory{History: newMemoryHistory()}, reg: prometheus.NewRegistry(), sub: "sub_live", step: 100}
	cfg.Registerer = r.reg
	h, err := newHub(cfg, r.broker, r.hist)
	require.NoError(t, err)
	r.hub = h
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	<-h.running
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		require.NoError(t, h.Shutdown(sctx))
		h.Close()
		cancel()
		require.NoError(t, <-done)
	})
	return r
}

// publish stores n events; deliver(i) says whether the i-th of them (0
// based) reaches the hub, and how many times.
func (r *liveRig) publish(n int, deliver func(i int) int) {
	for i := range n {
		r.step++
		c := testCursor(r.step, 0)
		prev := ""
		if len(r.all) > 0 {
			prev = r.all[len(r.all)-1]
		}
		msg := testEvent(r.sub, c, int(r.step), 0)
		r.hist.History.(*memoryHistory).add(r.sub, Record{Cursor: c, JSON: msg})
		r.all = append(r.all, c)
		for range deliver(i) {
			r.broker.PublishMsg(bus.EventsSubject(r.sub), Message{Data: msg, Prev: prev})
		}
	}
}

// open starts a stream and waits for its hello: a live-only stream is live
// from then on.
func (r *liveRig) open(after string) *fakeTransport {
	r.t.Helper()
	ft := newFakeTransport(false)
	require.NotNil(r.t, r.hub.serveTransport(ft, Request{SubscriptionID: r.sub, Tenant: "t", KeyID: "k", After: after}))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, written := ft.state(); len(written) > 0 {
			return ft
		}
		require.True(r.t, time.Now().Before(deadline), "no hello within 10s")
		time.Sleep(time.Millisecond)
	}
}

// events returns the cursors of the events ft was sent.
func events(ft *fakeTransport) []string {
	_, _, written := ft.state()
	var out []string
	for _, m := range written {
		if c := messageCursor(m); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// waitEvents waits until ft was sent want (or more, which fails).
func (r *liveRig) waitEvents(ft *fakeTransport, want []string) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(events(ft)) < len(want) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	require.Equal(r.t, want, events(ft))
}

// waitClosed waits until ft is closed and returns its close reason.
func waitClosed(t *testing.T, ft *fakeTransport) Disconnect {
	t.Helper()
	select {
	case <-ft.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("stream not closed within 10s")
	}
	d, _, _ := ft.state()
	return d
}

func once(int) int { return 1 }

func TestHub_liveGapsAreFilledInOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		deliver func(i int) int
		// after runs once the events are published: what tells the hub
		// to look, when no later message shows the gap.
		after    func(r *liveRig)
		wantGaps map[string]float64
	}{
		{
			name:     "one message lost mid-stream",
			deliver:  func(i int) int { return map[bool]int{true: 0, false: 1}[i == 7] },
			wantGaps: map[string]float64{gapLink: 1},
		},
		{
			name:     "every third message lost",
			deliver:  func(i int) int { return map[bool]int{true: 0, false: 1}[i%3 == 1 && i < 19] },
			wantGaps: map[string]float64{gapLink: 1},
		},
		{
			name:     "a run of messages lost",
			deliver:  func(i int) int { return map[bool]int{true: 0, false: 1}[i >= 5 && i < 15] },
			wantGaps: map[string]float64{gapLink: 1},
		},
		{
			name:     "every message repeated",
			deliver:  func(int) int { return 2 },
			wantGaps: map[string]float64{},
		},
		{
			name:     "the last messages lost, found after a reconnect",
			deliver:  func(i int) int { return map[bool]int{true: 0, false: 1}[i >= 17] },
			after:    func(r *liveRig) { r.hub.BrokerDisconnected(errors.New("test")); r.hub.BrokerReconnected() },
			wantGaps: map[string]float64{gapReconnect: 1},
		},
		{
			name:     "the last message dropped by the client, found on its notice",
			deliver:  func(i int) int { return map[bool]int{true: 0, false: 1}[i == 19] },
			after:    func(r *liveRig) { r.hub.BrokerDropped(bus.EventsSubject(r.sub)) },
			wantGaps: map[string]float64{gapDropped: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newLiveRig(t, Config{ReplayBatch: 3})
			r.publish(10, once)
			live := r.open("")
			resumed := r.open(r.all[4])
			stale := r.open(testCursor(1, 0))
			r.waitEvents(resumed, r.all[5:10])
			r.waitEvents(stale, r.all[:10])
			require.Empty(t, events(live))

			r.publish(20, tt.deliver)
			if tt.after != nil {
				tt.after(r)
			}
			r.waitEvents(live, r.all[10:])
			r.waitEvents(resumed, r.all[5:])
			r.waitEvents(stale, r.all)
			// A stream opened now resumes across the mended stretch.
			late := r.open(r.all[12])
			r.waitEvents(late, r.all[13:])
			// Gaps found while a fill runs join it, so several losses
			// may count as one.
			for _, cause := range []string{gapLink, gapReconnect, gapDropped} {
				got := testutil.ToFloat64(r.hub.metrics.gaps.WithLabelValues(cause))
				if tt.wantGaps[cause] == 0 {
					require.Zero(t, got, cause)
				} else {
					require.GreaterOrEqual(t, got, tt.wantGaps[cause], cause)
				}
			}
		})
	}
}

func TestHub_brokerOutage(t *testing.T) {
	t.Parallel()
	t.Run("within the grace streams stay open and get what was missed", func(t *testing.T) {
		t.Parallel()
		r := newLiveRig(t, Config{BrokerGrace: time.Minute})
		r.publish(3, once)
		live := r.open("")
		resumed := r.open(r.all[0])
		r.waitEvents(resumed, r.all[1:])
		r.hub.BrokerDisconnected(errors.New("test: link down"))
		r.publish(5, func(int) int { return 0 })
		refused := newFakeTransport(false)
		require.Nil(t, r.hub.serveTransport(refused, Request{SubscriptionID: r.sub, KeyID: "k"}))
		require.Equal(t, DisconnectBrokerLost, waitClosed(t, refused), "a new stream is refused while NATS is down")
		r.hub.BrokerReconnected()
		r.publish(2, once)
		r.waitEvents(live, r.all[3:])
		r.waitEvents(resumed, r.all[1:])
		require.InDelta(t, 1.0, testutil.ToFloat64(r.hub.metrics.brokerDisconnects), 0)
		require.InDelta(t, 1.0, testutil.ToFloat64(r.hub.metrics.brokerReconnects), 0)
		require.Zero(t, testutil.ToFloat64(r.hub.metrics.brokerCloses))
	})
	t.Run("past the grace streams close with 1012 and resume without a gap", func(t *testing.T) {
		t.Parallel()
		r := newLiveRig(t, Config{BrokerGrace: 50 * time.Millisecond})
		r.publish(3, once)
		live := r.open("")
		r.publish(2, once)
		r.waitEvents(live, r.all[3:])
		r.hub.BrokerDisconnected(errors.New("test: link down"))
		r.publish(4, func(int) int { return 0 })
		require.Equal(t, DisconnectBrokerLost, waitClosed(t, live))
		require.Equal(t, 1012, DisconnectBrokerLost.Code)
		r.hub.BrokerReconnected()
		got := events(live)
		again := r.open(got[len(got)-1])
		r.publish(2, once)
		r.waitEvents(again, r.all[5:])
		require.InDelta(t, 1.0, testutil.ToFloat64(r.hub.metrics.brokerCloses), 0)
	})
}

func TestHub_gapWithHistoryDown(t *testing.T) {
	t.Parallel()
	t.Run("history back within the fill timeout: filled", func(t *testing.T) {
		t.Parallel()
		r := newLiveRig(t, Config{FillTimeout: time.Minute})
		r.publish(2, once)
		live := r.open("")
		r.hist.down.Store(true)
		r.publish(6, func(i int) int { return map[bool]int{true: 0, false: 1}[i == 1] })
		time.Sleep(100 * time.Millisecond)
		require.Equal(t, r.all[2:3], events(live), "nothing after the gap goes out before it is filled")
		r.hist.down.Store(false)
		r.waitEvents(live, r.all[2:])
	})
	t.Run("history down past the fill timeout: streams close with 1012", func(t *testing.T) {
		t.Parallel()
		r := newLiveRig(t, Config{FillTimeout: 100 * time.Millisecond})
		r.publish(2, once)
		live := r.open("")
		r.hist.down.Store(true)
		r.publish(6, func(i int) int { return map[bool]int{true: 0, false: 1}[i == 1] })
		require.Equal(t, DisconnectUnmendable, waitClosed(t, live))
		require.Equal(t, r.all[2:3], events(live), "a prefix without a gap")
		r.hist.down.Store(false)
		again := r.open(r.all[2])
		r.publish(1, once)
		r.waitEvents(again, r.all[3:])
	})
}

// lossyBroker passes a broker's messages to the hub through pass, which
// may drop them (a link that loses messages) or slow them down (a process
// that stalls, so the NATS client's pending limit is passed).
type lossyBroker struct {
	Broker
	pass func(subject string, m Message) bool
}

func (b lossyBroker) Subscribe(subject string, handler func(Message)) (Subscription, error) {
	return b.Broker.Subscribe(subject, func(m Message) {
		if b.pass(subject, m) {
			handler(m)
		}
	})
}

// slowWithTinyPending gives the NATS subscriptions of events a pending
// limit of 3 messages and a handler that takes 2 ms each, so the client
// drops most of a burst.
func slowWithTinyPending(b Broker) Broker {
	nb := b.(natsBroker)
	nb.pendingMsgs = 3
	return lossyBroker{Broker: nb, pass: func(subject string, _ Message) bool {
		if bus.SubscriptionFromSubject(subject) != "" {
			time.Sleep(2 * time.Millisecond)
		}
		return true
	}}
}

func TestHub_liveLossOnNATSIsFilled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// wrap puts the fault between NATS and the hub; wire connects
		// the NATS client's error handler to the hub (nil: none).
		wrap  func(b Broker) Broker
		wire  bool
		cause string
	}{
		{
			name: "messages removed between publish and delivery",
			wrap: func(b Broker) Broker {
				var n atomic.Int64
				return lossyBroker{Broker: b, pass: func(subject string, _ Message) bool {
					return bus.SubscriptionFromSubject(subject) == "" || n.Add(1)%7 != 0
				}}
			},
			cause: gapLink,
		},
		{
			name:  "a tiny pending limit makes the NATS client drop",
			wrap:  slowWithTinyPending,
			wire:  true,
			cause: "", // a link or a slow-consumer notice, whichever comes first
		},
		{
			// The hub's own look at the subscription's dropped count
			// finds the drops with no error handler wired.
			name: "a tiny pending limit with no error handler",
			wrap: slowWithTinyPending,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			c := newChain(t, e)
			s := startHubWith(t, e, Config{}, 0, tt.wrap)
			if tt.wire {
				e.nc.SetErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
					if errors.Is(err, nats.ErrSlowConsumer) && sub != nil {
						s.hub.BrokerDropped(sub.Subject)
					}
				})
			}
			first := c.add("", 10)
			live := make([]*client, 8)
			for i := range live {
				live[i] = s.dial(t, c.sub, "k", "")
				live[i].hello(t)
			}
			resumed := s.dial(t, c.sub, "k", first[3])
			resumed.hello(t)
			more := c.burst(first[len(first)-1], 300)
			for i, cl := range live {
				require.Equal(t, more, cl.events(t, len(more)), "live stream %d", i)
			}
			require.Equal(t, append(first[4:], more...), resumed.events(t, len(first)-4+len(more)))
			gaps := 0.0
			for _, cause := range []string{gapLink, gapDropped} {
				gaps += testutil.ToFloat64(s.hub.metrics.gaps.WithLabelValues(cause))
			}
			if tt.cause != "" {
				gaps = testutil.ToFloat64(s.hub.metrics.gaps.WithLabelValues(tt.cause))
			}
			require.Positive(t, gaps, "the loss was seen")
			require.Positive(t, testutil.ToFloat64(s.hub.metrics.filled), "and filled from history")
		})
	}
}

// burst stores n linked events in one write, then publishes them all at
// once: faster than the hub's handler when it is slowed down.
func (c *chain) burst(prev string, n int) []string {
	c.tb.Helper()
	out := make([]string, n)
	docs := make([]store.EventDoc, n)
	for i := range out {
		out[i] = c.next()
		docs[i] = store.EventDoc{
			ID: store.EventDocID(c.sub, out[i]), SubscriptionID: c.sub, Cursor: out[i],
			EventID: "tx" + out[i] + ":0", Kind: "trx_transfer", CreatedAt: time.Now(), JSON: testEvent(c.sub, out[i], 0, 0),
		}
	}
	require.NoError(c.tb, store.AppendEvents(context.Background(), c.e.db, docs...))
	futs := make([]jetstream.PubAckFuture, n)
	for i, cur := range out {
		m := &nats.Msg{Subject: bus.EventsSubject(c.sub), Data: testEvent(c.sub, cur, 0, 0), Header: nats.Header{}}
		if prev != "" {
			m.Header.Set(bus.PrevCursorHeader, prev)
		}
		var err error
		futs[i], err = c.js.PublishMsgAsync(m)
		require.NoError(c.tb, err)
		prev = cur
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			c.tb.Fatal(err)
		}
	}
	return out
}

func TestHub_resumeWithHistoryDown(t *testing.T) {
	t.Parallel()
	t.Run("history back within the fill timeout: the replay goes on", func(t *testing.T) {
		t.Parallel()
		r := newLiveRig(t, Config{FillTimeout: time.Minute})
		r.publish(5, once)
		r.hist.down.Store(true)
		ft := newFakeTransport(false)
		require.NotNil(t, r.hub.serveTransport(ft, Request{SubscriptionID: r.sub, Tenant: "t", KeyID: "k", After: r.all[1]}))
		time.Sleep(100 * time.Millisecond)
		require.Empty(t, events(ft), "nothing replayed while history is down")
		r.hist.down.Store(false)
		r.waitEvents(ft, r.all[2:])
		r.publish(1, once)
		r.waitEvents(ft, r.all[2:])
	})
	t.Run("history down past the fill timeout: 1012, not 1011", func(t *testing.T) {
		t.Parallel()
		r := newLiveRig(t, Config{FillTimeout: 100 * time.Millisecond})
		r.publish(5, once)
		r.hist.down.Store(true)
		ft := newFakeTransport(false)
		require.NotNil(t, r.hub.serveTransport(ft, Request{SubscriptionID: r.sub, Tenant: "t", KeyID: "k", After: r.all[1]}))
		require.Equal(t, DisconnectUnmendable, waitClosed(t, ft))
	})
}
