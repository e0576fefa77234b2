package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/cursor"
)

// testEvent is the JSON of a test event as the ingest would publish it,
// with the publish time (unix ns) for latency measurements.
func testEvent(sub, cur string, seq int, ts int64) []byte {
	return fmt.Appendf(nil, `{"type":"event","cursor":%q,"id":"tx%d:0","subscription_id":%q,"kind":"trx_transfer","ts":%d}`, cur, seq, sub, ts)
}

func testCursor(step, pos uint64) string { return cursor.Cursor{Step: step, Pos: pos}.String() }

func TestMessageCursor(t *testing.T) {
	t.Parallel()
	c := testCursor(7, 9)
	tests := []struct {
		name string
		msg  string
		want string
	}{
		{"event", string(testEvent("sub_a", c, 1, 0)), c},
		{"no cursor", `{"type":"heartbeat"}`, ""},
		{"short", `{"cursor":"abc"}`, ""},
		{"truncated", `{"cursor":"` + c, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, messageCursor([]byte(tt.msg)))
		})
	}
}

func TestDisconnect_Frame(t *testing.T) {
	t.Parallel()
	for _, d := range []Disconnect{
		DisconnectNormal, DisconnectGoingAway, DisconnectPongTimeout, DisconnectConnectionLost,
		DisconnectKeyRevoked, DisconnectMessageTooBig, DisconnectInternal, DisconnectServiceRestart,
		DisconnectUnknownSubscription, DisconnectSlowConsumer, DisconnectTooManyConnections,
		DisconnectSubscriptionDeleted,
	} {
		require.Less(t, len(d.Reason), 123, d.Reason)
		require.LessOrEqual(t, len(d.frame()), 125)
		require.Contains(t, d.Error(), fmt.Sprint(d.Code))
	}
	long := Disconnect{Code: 4000, Reason: string(make([]byte, 300))}
	require.LessOrEqual(t, len(long.frame()), 125)
}

func TestConfig_Defaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	require.Equal(t, DefaultHeartbeatInterval, c.HeartbeatInterval)
	require.Equal(t, DefaultWriteTimeout, c.WriteTimeout)
	require.Equal(t, DefaultPingInterval, c.PingInterval)
	require.Equal(t, DefaultPongTimeout, c.PongTimeout)
	require.Equal(t, DefaultQueueMaxBytes, c.QueueMaxBytes)
	require.Equal(t, DefaultQueueMaxMessages, c.QueueMaxMessages)
	require.Equal(t, DefaultMaxConns, c.MaxConns)
	require.Equal(t, DefaultReplayBatch, c.ReplayBatch)
	require.NotNil(t, c.Logger)
	require.Equal(t, -1, Config{MaxConns: -1}.withDefaults().MaxConns)

	_, err := New(Config{})
	require.Error(t, err)
}

// fakeStream is one stream of a randomized round and what happened to it.
type fakeStream struct {
	ft      *fakeTransport
	req     Request
	refused bool
	after   int  // index of the cursor resumed after; -1 none
	stale   bool // after is older than retention
	// causes are the reasons the test asked for, in order; the first
	// synchronous one wins unless the client or the socket got there
	// first.
	causes       []Disconnect
	disconnected bool
}

// fakeRound drives one hub through a random interleaving of connects,
// client disconnects, publishes (fast and stalled readers), deletes,
// revocations and a shutdown, then checks every stream.
func fakeRound(t *testing.T, rng *rand.Rand) {
	broker, hist := newMemoryBroker(), newMemoryHistory()
	h, err := newHub(Config{
		QueueMaxMessages: 16,
		ReplayBatch:      4,
		MaxConns:         8,
	}, broker, hist)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- h.Run(ctx) }()
	<-h.running

	subs := []string{"sub_a", "sub_b", "sub_c"}
	keys := []string{"key_1", "key_2"}
	cursors := map[string][]string{}
	step := uint64(10)
	// lose is the chance (in eighths) that a published message never
	// reaches the hub, as on a NATS link that drops; every event is in
	// history all the same.
	lose := 0
	publish := func(sub string, n int) {
		for range n {
			step++
			c := testCursor(step, 0)
			msg := testEvent(sub, c, int(step), 0)
			hist.add(sub, Record{Cursor: c, JSON: msg})
			prev := ""
			if n := len(cursors[sub]); n > 0 {
				prev = cursors[sub][n-1]
			}
			cursors[sub] = append(cursors[sub], c)
			if rng.IntN(8) < lose {
				continue
			}
			m := Message{Data: msg, Prev: prev}
			broker.PublishMsg(bus.EventsSubject(sub), m)
			if rng.IntN(10) == 0 {
				// A step published again after an ingest's failure.
				broker.PublishMsg(bus.EventsSubject(sub), m)
			}
		}
	}
	for _, s := range subs {
		publish(s, rng.IntN(10))
	}
	var streams []*fakeStream
	shut := false
	control := func(subject string, v any) {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		broker.Publish(subject, b)
	}
	for range 10 + rng.IntN(30) {
		switch op := rng.IntN(100); {
		case op < 35: // connect
			sub := subs[rng.IntN(len(subs))]
			fs := &fakeStream{ft: newFakeTransport(rng.IntN(8) == 0), after: -1}
			fs.req = Request{SubscriptionID: sub, Tenant: "t", KeyID: keys[rng.IntN(len(keys))]}
			switch n := len(cursors[sub]); {
			case rng.IntN(3) == 0 && n > 0:
				fs.after = rng.IntN(n)
				fs.req.After = cursors[sub][fs.after]
			case rng.IntN(4) == 0:
				fs.stale = true
				fs.req.After = testCursor(1, 0)
			}
			fs.refused = h.serveTransport(fs.ft, fs.req) == nil
			if shut {
				require.True(t, fs.refused)
			}
			streams = append(streams, fs)
		case op < 50 && len(streams) > 0: // client goes away
			fs := streams[rng.IntN(len(streams))]
			fs.ft.disconnect()
			fs.disconnected = true
		case op < 70:
			publish(subs[rng.IntN(len(subs))], 1+rng.IntN(30))
		case op < 75:
			lose = 2
			publish(subs[rng.IntN(len(subs))], 1+rng.IntN(30))
			lose = 0
		case op < 80:
			// The broker connection drops and comes back: what was
			// published meanwhile never arrives.
			h.BrokerDisconnected(errors.New("test: link down"))
			lose = 8
			publish(subs[rng.IntN(len(subs))], 1+rng.IntN(30))
			lose = 0
			h.BrokerReconnected()
		case op < 88:
			sub := subs[rng.IntN(len(subs))]
			control(bus.SubscriptionsSubject, bus.SubscriptionChange{Op: bus.OpDelete, SubscriptionID: sub, Version: 2})
			for _, fs := range streams {
				if fs.req.SubscriptionID == sub && !shut {
					fs.causes = append(fs.causes, DisconnectSubscriptionDeleted)
				}
			}
		case op < 94:
			key := keys[rng.IntN(len(keys))]
			control(bus.KeysSubject, bus.KeyChange{Op: bus.OpRevoke, KeyID: key})
			for _, fs := range streams {
				if fs.req.KeyID == key && !shut {
					fs.causes = append(fs.causes, DisconnectKeyRevoked)
				}
			}
		default:
			if !shut {
				shut = true
				for _, fs := range streams {
					fs.causes = append(fs.causes, DisconnectServiceRestart)
				}
				h.closeAll(DisconnectServiceRestart) // Shutdown without the wait
			}
		}
	}
	for _, fs := range streams {
		if !shut {
			fs.causes = append(fs.causes, DisconnectServiceRestart)
		}
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	require.NoError(t, h.Shutdown(sctx))
	h.Close() // also waits for the refused streams' closers
	cancel()
	require.NoError(t, <-runDone)
	require.Zero(t, broker.subjects(), "every NATS subscription dropped")

	for i, fs := range streams {
		reason, closes, written := fs.ft.state()
		require.Equal(t, 1, closes, "stream %d closed once", i)
		if fs.refused {
			require.Contains(t, []int{4029, 1012}, reason.Code, "refused stream %d", i)
			require.Empty(t, written)
			continue
		}
		allowed := []int{fs.causes[0].Code, DisconnectSlowConsumer.Code}
		if fs.disconnected {
			allowed = append(allowed, DisconnectNormal.Code)
		}
		if fs.ft.stall {
			allowed = append(allowed, DisconnectConnectionLost.Code)
		}
		require.Contains(t, allowed, reason.Code, "stream %d: %+v causes %v", i, reason, fs.causes)
		checkStream(t, written, fs, cursors[fs.req.SubscriptionID])
	}
}

// checkStream checks that a stream is a hello followed by a contiguous run
// of its subscription's events: no gap, no duplicate, in order, starting
// right after the resumed cursor.
func checkStream(t *testing.T, written [][]byte, fs *fakeStream, all []string) {
	t.Helper()
	if len(written) == 0 {
		return
	}
	var hello struct {
		Type    string `json:"type"`
		Resumed bool   `json:"resumed"`
	}
	require.NoError(t, json.Unmarshal(written[0], &hello))
	require.Equal(t, "hello", hello.Type)
	require.Equal(t, fs.after >= 0, hello.Resumed)
	prev := -2
	var idxs []int
	for _, m := range written[1:] {
		idxs = append(idxs, slices.Index(all, messageCursor(m)))
	}
	t.Logf("stream after=%d stale=%v causes=%v disconnected=%v stall=%v: %v", fs.after, fs.stale, fs.causes, fs.disconnected, fs.ft.stall, idxs)
	for k, m := range written[1:] {
		c := messageCursor(m)
		idx := slices.Index(all, c)
		require.GreaterOrEqual(t, idx, 0, "unknown cursor %s", c)
		switch {
		case k > 0:
			require.Equal(t, prev+1, idx, "gap or duplicate")
		case fs.after >= 0:
			require.Equal(t, fs.after+1, idx, "first event after the resumed cursor")
		case fs.stale:
			require.Equal(t, 0, idx, "stale cursor replays from the oldest")
		}
		prev = idx
	}
}

func TestHub_RandomInterleavingsFake(t *testing.T) {
	t.Parallel()
	rounds := 1000
	if testing.Short() {
		rounds = 100
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for r := range rounds {
		fakeRound(t, rand.New(rand.NewPCG(seed, uint64(r))))
		if t.Failed() {
			t.Fatalf("round %d (seed %d) failed", r, seed)
		}
	}
}
