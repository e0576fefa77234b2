package stream

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/store"
)

// chain writes one subscription's events the ways the ingest can: stored
// in MongoDB, then published on the events stream linked to the previous
// event — or, to make the cases the stream must not be trusted with, not
// published, published unlinked, repeated, or out of order.
type chain struct {
	tb   testing.TB
	e    *env
	js   jetstream.JetStream
	sub  string
	step uint64
}

func newChain(tb testing.TB, e *env) *chain {
	tb.Helper()
	js, err := jetstream.New(e.nc)
	require.NoError(tb, err)
	// The ingest's stream. Other tests' events are captured too once it
	// exists; they carry no links, so their replays read MongoDB.
	_, err = js.CreateOrUpdateStream(context.Background(), bus.EventsStreamConfig(0, 1))
	require.NoError(tb, err)
	return &chain{tb: tb, e: e, js: js, sub: randomID("sub_")}
}

// next returns the cursor of a new event.
func (c *chain) next() string {
	c.step++
	return testCursor(c.step, 0)
}

func (c *chain) store(cur string) {
	c.tb.Helper()
	require.NoError(c.tb, store.AppendEvents(context.Background(), c.e.db, store.EventDoc{
		ID: store.EventDocID(c.sub, cur), SubscriptionID: c.sub, Cursor: cur,
		EventID: "tx" + cur + ":0", Kind: "trx_transfer", CreatedAt: time.Now(), JSON: testEvent(c.sub, cur, 0, 0),
	}))
}

// publish puts cur on the stream, linked to prev unless prev is "".
func (c *chain) publish(cur, prev string) {
	c.tb.Helper()
	m := &nats.Msg{Subject: bus.EventsSubject(c.sub), Data: testEvent(c.sub, cur, 0, 0), Header: nats.Header{}}
	if prev != "" {
		m.Header.Set(bus.PrevCursorHeader, prev)
	}
	_, err := c.js.PublishMsg(context.Background(), m)
	require.NoError(c.tb, err)
}

// add stores and publishes n linked events, returning their cursors.
func (c *chain) add(prev string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = c.next()
		c.store(out[i])
		c.publish(out[i], prev)
		prev = out[i]
	}
	return out
}

func TestHub_resumeFromTheEventsStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// build writes the events and returns the cursor to resume
		// after and the events the replay must send.
		build      func(c *chain) (after string, want []string)
		wantSource string
	}{
		{"linked events are served by the stream", func(c *chain) (string, []string) {
			evs := c.add("", 30)
			return evs[9], evs[10:]
		}, sourceJetStream},
		{"a cursor at the end of the stream replays nothing, without MongoDB", func(c *chain) (string, []string) {
			evs := c.add("", 5)
			return evs[4], nil
		}, sourceJetStream},
		{"a cursor older than the stream is served by MongoDB", func(c *chain) (string, []string) {
			var old []string
			for range 10 {
				cur := c.next()
				c.store(cur) // published before the stream's window
				old = append(old, cur)
			}
			evs := c.add(old[9], 10)
			return old[4], append(old[5:], evs...)
		}, sourceMongoDB},
		{"an unlinked event hands over to MongoDB after it", func(c *chain) (string, []string) {
			a := c.add("", 10)
			gap := c.next()
			c.store(gap)
			c.publish(gap, "") // an ingest that did not know the link
			b := c.add(gap, 10)
			return a[2], append(append(a[3:], gap), b...)
		}, sourceBoth},
		{"repeated events are sent once", func(c *chain) (string, []string) {
			a := c.add("", 10)
			for i := 5; i < 10; i++ { // a step published again
				c.publish(a[i], a[i-1])
			}
			b := c.add(a[9], 10)
			return a[3], append(a[4:], b...)
		}, sourceJetStream},
		{"an event published out of order hands over to MongoDB", func(c *chain) (string, []string) {
			a := c.add("", 5)
			x, y := c.next(), c.next()
			c.store(x)
			c.store(y)
			c.publish(y, x) // x's first publish failed…
			c.publish(x, a[4])
			c.publish(y, x) // …and the step was published again
			b := c.add(y, 5)
			return a[1], append(append(a[2:], x, y), b...)
		}, sourceBoth},
		{"events discarded by the stream's limits are read from MongoDB", func(c *chain) (string, []string) {
			a := c.add("", 20)
			// Drop the subscription's oldest messages, as MaxAge would.
			s, err := c.js.Stream(context.Background(), bus.EventsStream)
			require.NoError(c.tb, err)
			require.NoError(c.tb, s.Purge(context.Background(), jetstream.WithPurgeSubject(bus.EventsSubject(c.sub)), jetstream.WithPurgeKeep(10)))
			return a[3], a[4:]
		}, sourceMongoDB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			c := newChain(t, e)
			after, want := tt.build(c)
			s := startHub(t, e, Config{ReplayBatch: 4})
			cl := s.dial(t, c.sub, "k", after)
			require.True(t, cl.hello(t).Resumed)
			require.Equal(t, want, cl.events(t, len(want)), "replayed")
			// The hello goes out before the replay: wait for its end.
			requireEventually(t, func() bool {
				return testutil.ToFloat64(s.hub.metrics.replays.WithLabelValues(tt.wantSource)) == 1
			})
			// The seam: the next event arrives once, live.
			live := c.add(c.last(), 1)
			require.Equal(t, live, cl.events(t, 1), "live")
		})
	}
}

// last returns the cursor of the latest event.
func (c *chain) last() string { return testCursor(c.step, 0) }

func TestHub_resumeAcrossEdgesFromTheEventsStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newChain(t, e)
	edges := []*server{startHub(t, e, Config{ReplayBatch: 7}), startHub(t, e, Config{ReplayBatch: 7})}
	const total = 300
	all := make(chan []string, 1)
	first := edges[0].dial(t, c.sub, "k", "")
	first.hello(t)
	go func() {
		var evs []string
		prev := ""
		for range total / 10 {
			b := c.add(prev, 10)
			prev = b[9]
			evs = append(evs, b...)
			time.Sleep(time.Millisecond)
		}
		all <- evs
	}()
	var got []string
	for i := 0; len(got) < total; i++ {
		cl := first
		if i > 0 {
			cl = edges[i%2].dial(t, c.sub, "k", got[len(got)-1])
			require.True(t, cl.hello(t).Resumed)
		}
		got = append(got, cl.events(t, min(total-len(got), 13+i*17%50))...)
		_ = cl.ws.Close()
	}
	require.Equal(t, <-all, got, "the concatenation equals the uninterrupted stream")
}
