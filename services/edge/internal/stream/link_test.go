package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/store"
)

// linkedEvent is an event as the ingest writes it today: its link is its
// own prev_cursor field.
func linkedEvent(sub, cur, prev string) []byte {
	return fmt.Appendf(nil, `{"type":"event","cursor":%q,"prev_cursor":%q,"id":"tx%s:0","subscription_id":%q,"kind":"trx_transfer"}`, cur, prev, cur, sub)
}

func TestMessageLink(t *testing.T) {
	t.Parallel()
	a, b := testCursor(3, 1), testCursor(2, 9)
	tests := []struct {
		name, msg, header, want string
	}{
		{"the field", string(linkedEvent("sub_a", a, b)), "", b},
		{"the field over the header", string(linkedEvent("sub_a", a, b)), testCursor(1, 1), b},
		{"a first event", string(linkedEvent("sub_a", a, "")), "", ""},
		{"a first event with a header", string(linkedEvent("sub_a", a, "")), b, ""},
		{"no field: the header", string(testEvent("sub_a", a, 1, 0)), b, b},
		{"no field, no header", string(testEvent("sub_a", a, 1, 0)), "", ""},
		{"a malformed field: the header", `{"cursor":"` + a + `","prev_cursor":"abc"}`, b, b},
		{"a truncated field: the header", `{"prev_cursor":"` + b[:10], b, b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, messageLink([]byte(tt.msg), tt.header))
		})
	}
}

// publishLinked stores n events linked by their prev_cursor field and
// hands them to the hub without a header, the i-th of them deliver(i)
// times.
func (r *liveRig) publishLinked(n int, deliver func(i int) int) {
	for i := range n {
		r.step++
		c := testCursor(r.step, 0)
		prev := ""
		if len(r.all) > 0 {
			prev = r.all[len(r.all)-1]
		}
		msg := linkedEvent(r.sub, c, prev)
		r.hist.History.(*memoryHistory).add(r.sub, Record{Cursor: c, JSON: msg})
		r.all = append(r.all, c)
		for range deliver(i) {
			r.broker.PublishMsg(bus.EventsSubject(r.sub), Message{Data: msg})
		}
	}
}

// requireChained requires the events ft was sent to name each other:
// each one's prev_cursor is the cursor of the one before it, from first.
func requireChained(t *testing.T, ft *fakeTransport, first string) {
	t.Helper()
	_, _, written := ft.state()
	prev := first
	n := 0
	for _, m := range written {
		var ev struct {
			Type       string `json:"type"`
			Cursor     string `json:"cursor"`
			PrevCursor string `json:"prev_cursor"`
		}
		require.NoError(t, json.Unmarshal(m, &ev))
		if ev.Type != "event" {
			continue
		}
		require.Equal(t, prev, ev.PrevCursor, "the link of %s", ev.Cursor)
		prev = ev.Cursor
		n++
	}
	require.Positive(t, n)
}

// rawEvents reads n event frames as sent, skipping the other frames.
func rawEvents(tb testing.TB, c *client, n int) [][]byte {
	tb.Helper()
	var out [][]byte
	for len(out) < n {
		_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ws.ReadMessage()
		require.NoError(tb, err, "after %d of %d events", len(out), n)
		if bytes.HasPrefix(b, []byte(`{"type":"event"`)) {
			out = append(out, b)
		}
	}
	return out
}

// TestHub_liveEventsLinkedByTheirField: events whose link is their own
// prev_cursor, with no header, go out live without a fill; a lost one is
// filled from history all the same.
func TestHub_liveEventsLinkedByTheirField(t *testing.T) {
	t.Parallel()
	r := newLiveRig(t, Config{ReplayBatch: 3})
	r.publishLinked(1, once)
	live := r.open("")
	r.publishLinked(10, once)
	r.waitEvents(live, r.all[1:])
	require.Zero(t, testutil.ToFloat64(r.hub.metrics.gaps.WithLabelValues(gapLink)), "the field links them: no gap")

	r.publishLinked(10, func(i int) int { return map[bool]int{true: 0, false: 1}[i == 4] })
	r.waitEvents(live, r.all[1:])
	require.InDelta(t, 1.0, testutil.ToFloat64(r.hub.metrics.gaps.WithLabelValues(gapLink)), 0)
	requireChained(t, live, r.all[0])
}

// TestHub_replayCarriesLinks: a resume is served from the events stream
// when the events are linked by their field alone (no header), and from
// MongoDB when the stream cannot vouch for them; either way each event the
// client gets names the one it got before, the resume's cursor first.
func TestHub_replayCarriesLinks(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		// purge drops the subscription's oldest messages from the events
		// stream, as MaxAge would.
		purge      bool
		wantSource string
	}{
		{"from the events stream", false, sourceJetStream},
		{"from MongoDB", true, sourceMongoDB},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			c := newChain(t, e)
			var all []string
			prev := ""
			for range 20 {
				cur := c.next()
				data := linkedEvent(c.sub, cur, prev)
				require.NoError(t, store.AppendEvents(context.Background(), e.db, store.EventDoc{
					ID: store.EventDocID(c.sub, cur), SubscriptionID: c.sub, Cursor: cur,
					EventID: "tx" + cur + ":0", Kind: "trx_transfer", CreatedAt: time.Now(), JSON: data,
				}))
				_, err := c.js.PublishMsg(context.Background(), &nats.Msg{Subject: bus.EventsSubject(c.sub), Data: data})
				require.NoError(t, err)
				all = append(all, cur)
				prev = cur
			}
			if tt.purge {
				s, err := c.js.Stream(context.Background(), bus.EventsStream)
				require.NoError(t, err)
				require.NoError(t, s.Purge(context.Background(), jetstream.WithPurgeSubject(bus.EventsSubject(c.sub)), jetstream.WithPurgeKeep(5)))
			}
			s := startHub(t, e, Config{ReplayBatch: 4})
			cl := s.dial(t, c.sub, "k", all[3])
			require.True(t, cl.hello(t).Resumed)
			got := rawEvents(t, cl, 16)
			requireEventually(t, func() bool {
				return testutil.ToFloat64(s.hub.metrics.replays.WithLabelValues(tt.wantSource)) == 1
			})
			prev = all[3]
			for i, m := range got {
				var ev struct {
					Cursor     string `json:"cursor"`
					PrevCursor string `json:"prev_cursor"`
				}
				require.NoError(t, json.Unmarshal(m, &ev))
				require.Equal(t, all[4+i], ev.Cursor)
				require.Equal(t, prev, ev.PrevCursor, "the link of %s", ev.Cursor)
				prev = ev.Cursor
			}
		})
	}
}
