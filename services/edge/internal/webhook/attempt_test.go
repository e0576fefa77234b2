package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/client"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
)

// What the deliverer signs is checked with the public verifier receivers
// use, so that the two cannot drift apart.
func TestDeliverer_Run_signaturePassesVerifyWebhook(t *testing.T) {
	t.Parallel()
	const secret = "whsec_verify"
	e := newEnv(t)
	rc := newReceiver(t, secret)
	start(t, testConfig(e, "c_"+randHex(4)))
	sub := e.createSub(rc.srv.URL, secret)
	e.publish(sub, 1, 1)
	testenv.WaitFor(t, 20*time.Second, func() bool { return len(rc.accepted()) == 1 }, "delivered")
	r := rc.requests()[0]
	require.True(t, r.sigOK, "VerifyWebhook refused the request as it arrived: %s", r.sigHeader)

	ts, sig, ok := strings.Cut(strings.TrimPrefix(r.sigHeader, "t="), ",")
	require.True(t, ok, r.sigHeader)
	unix, err := strconv.ParseInt(ts, 10, 64)
	require.NoError(t, err)
	sentAt := time.Unix(unix, 0)
	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"as sent", secret, r.sigHeader, r.body, sentAt, nil},
		{"tampered body", secret, r.sigHeader, append([]byte(" "), r.body...), sentAt, client.ErrWebhookSignature},
		{"tampered timestamp", secret, "t=" + strconv.FormatInt(unix+60, 10) + "," + sig, r.body, sentAt, client.ErrWebhookSignature},
		{"other secret", "whsec_other", r.sigHeader, r.body, sentAt, client.ErrWebhookSignature},
		{"replayed later", secret, r.sigHeader, r.body, sentAt.Add(10 * time.Minute), client.ErrWebhookTimestamp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := client.VerifyWebhook(tc.secret, tc.header, tc.body, 5*time.Minute, tc.now)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
		})
	}
}

// withPrevCursor returns doc with prev_cursor set in its JSON, as the
// ingest stores and publishes events since the field exists.
func withPrevCursor(tb testing.TB, doc store.EventDoc, prev string) store.EventDoc {
	tb.Helper()
	var ev map[string]any
	require.NoError(tb, json.Unmarshal(doc.JSON, &ev))
	ev["prev_cursor"] = prev
	b, err := json.Marshal(ev)
	require.NoError(tb, err)
	doc.JSON = b
	return doc
}

// Every POST names the event's predecessor in Mongotron-Prev-Cursor: sent
// straight from the inbox, as a retry read from the queue, and again by a
// replay. An event published before prev_cursor existed has the link only
// in its message's header, and keeps it once the message is settled.
func TestDeliverer_Run_prevCursorHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// inJSON: the events' JSON carries prev_cursor; otherwise only
		// their messages carry the link.
		inJSON bool
	}{
		{"prev_cursor in the event", true},
		{"link in the message only", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rc := newReceiver(t, "k")
			second := eventIDs(2, 1)[0]
			var failed atomic.Bool
			rc.setRespond(func(r *http.Request, _ int) int {
				if r.Header.Get(HeaderEventID) == second && failed.CompareAndSwap(false, true) {
					return http.StatusServiceUnavailable // retried from the queue
				}
				return http.StatusOK
			})
			d, _ := start(t, testConfig(e, "c_"+randHex(4)))
			sub := e.createSub(rc.srv.URL, "k")
			var (
				msgs []streamMsg
				docs []store.EventDoc
				prev = map[string]string{}
				last string
			)
			for i := 1; i <= 3; i++ {
				doc := eventDoc(t, sub, i)
				if tc.inJSON {
					doc = withPrevCursor(t, doc, last)
				}
				prev[doc.EventID] = last
				docs = append(docs, doc)
				msgs = append(msgs, streamMsg{doc: doc, prev: last})
				last = doc.Cursor
			}
			e.storeEvents(docs...)
			e.send(msgs...)
			testenv.WaitFor(t, 20*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 3 }, "delivered")
			res, err := d.Replay(context.Background(), sub, "")
			require.NoError(t, err)
			require.Equal(t, 3, res.Replayed)
			testenv.WaitFor(t, 20*time.Second, func() bool { return len(rc.requests()) == 7 }, "replayed")

			retried := 0
			for _, r := range rc.requests() {
				if r.attempt > 1 {
					retried++
				}
				want := prev[r.eventID]
				require.Equal(t, want != "", r.hasPrev, "%s attempt %d: header present", r.eventID, r.attempt)
				require.Equal(t, want, r.prev, "%s attempt %d", r.eventID, r.attempt)
			}
			require.Positive(t, retried, "a retry from the queue was sent")
		})
	}
}
