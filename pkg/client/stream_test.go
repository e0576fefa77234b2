package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/client"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/testenv"
)

// cur returns the cursor of the i-th test event.
func cur(i int) string { return cursor.Cursor{Step: uint64(i)}.String() }

func eventJSON(i int) string {
	return fmt.Sprintf(`{"type":"event","cursor":%q,"id":"%064x:0","subscription_id":"sub_1","kind":"trx_transfer","network":"mainnet",`+
		`"block":{"number":%d,"id":"00","timestamp":"2025-01-02T03:04:05Z"},"tx_id":"%064x","tx_index":0,"index":0,"success":true,`+
		`"confirmations":0,"removed":false,"from":"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t","amount":"%d","future_field":1}`, cur(i), i, 1000+i, i, i)
}

// session is what the fake edge does on one connection: it may refuse
// the handshake with an HTTP status, send messages, then close with a
// code (0: hang, saying nothing more, until the client leaves).
type session struct {
	status   int
	messages []string
	close    int
}

// fakeEdge serves a scripted WebSocket stream, one session per connection,
// and records what each connection asked for.
type fakeEdge struct {
	t        testing.TB
	srv      *httptest.Server
	mu       sync.Mutex
	sessions []session
	afters   []string
	auths    []string
	closes   []int // close codes the client sent
}

func newFakeEdge(t testing.TB, sessions ...session) *fakeEdge {
	t.Helper()
	f := &fakeEdge{t: t, sessions: sessions}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEdge) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	n := len(f.afters)
	f.afters = append(f.afters, r.URL.Query().Get("after"))
	f.auths = append(f.auths, r.Header.Get("Authorization"))
	s := session{close: client.CloseSubscriptionDeleted} // past the script: stop the client
	if n < len(f.sessions) {
		s = f.sessions[n]
	}
	f.mu.Unlock()
	if s.status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(s.status)
		fmt.Fprintf(w, `{"error":{"code":"refused","message":"status %d"}}`, s.status)
		return
	}
	ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	for _, m := range s.messages {
		if ws.WriteMessage(websocket.TextMessage, []byte(m)) != nil {
			return
		}
	}
	if s.close != 0 {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(s.close, "scripted"), time.Now().Add(time.Second))
	}
	// Read until the client leaves, recording its close code.
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				f.mu.Lock()
				f.closes = append(f.closes, ce.Code)
				f.mu.Unlock()
			}
			return
		}
	}
}

func (f *fakeEdge) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.afters)
}

func hello(resumed bool) string {
	return fmt.Sprintf(`{"type":"hello","subscription_id":"sub_1","resumed":%t,"heartbeat_s":15}`, resumed)
}

func events(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, eventJSON(i))
	}
	return out
}

func fastOpts(after string, states chan<- client.State) client.StreamOptions {
	o := client.StreamOptions{After: after, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	if states != nil {
		o.StateHandler = func(s client.State) {
			select {
			case states <- s:
			default:
			}
		}
	}
	return o
}

func newClient(tb testing.TB, url string) *client.Client {
	tb.Helper()
	c, err := client.New(url, client.APIKey("mtk_test"))
	require.NoError(tb, err)
	return c
}

// collect reads events until the stream stops, and returns their cursors
// and the final error.
func collect(tb testing.TB, s *client.Stream) ([]string, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []string
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			require.NoError(tb, ctx.Err(), "the stream did not stop in time")
			return got, err
		}
		got = append(got, ev.Cursor)
	}
}

func TestStream_resumesWithoutGapOrDuplicate(t *testing.T) {
	t.Parallel()
	f := newFakeEdge(t,
		session{messages: append([]string{hello(true)}, events(3, 5)...), close: client.CloseServiceRestart},
		// The edge replays from before the seam; the client drops what it
		// has already delivered.
		session{messages: append([]string{hello(true)}, events(4, 7)...), close: client.CloseSlowConsumer},
		session{messages: append([]string{hello(true), `{"type":"heartbeat","head_block":9,"time":"2025-01-02T03:04:05Z"}`, `{"type":"novelty"}`}, events(1, 9)...), close: client.CloseInternalError},
		session{status: http.StatusServiceUnavailable},
		session{messages: []string{hello(true), eventJSON(10)}, close: client.CloseGoingAway},
		session{messages: []string{hello(true)}, close: client.CloseNormal},
		session{messages: []string{hello(true), eventJSON(11)}, close: client.CloseSubscriptionDeleted},
	)
	states := make(chan client.State, 100)
	s := newClient(t, f.srv.URL).Stream(t.Context(), "sub_1", fastOpts(cur(2), states))
	defer s.Close()

	got, err := collect(t, s)
	var want []string
	for i := 3; i <= 11; i++ {
		want = append(want, cur(i))
	}
	require.Equal(t, want, got)
	require.ErrorIs(t, err, client.ErrSubscriptionDeleted)
	var ce *client.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, client.CloseSubscriptionDeleted, ce.Code)
	require.Equal(t, cur(11), s.Cursor())

	f.mu.Lock()
	require.Equal(t, []string{cur(2), cur(5), cur(7), cur(9), cur(9), cur(10), cur(10)}, f.afters)
	for _, a := range f.auths {
		require.Equal(t, "Bearer mtk_test", a)
	}
	f.mu.Unlock()

	var seen []client.Status
	heartbeat := false
	for len(states) > 0 {
		st := <-states
		seen = append(seen, st.Status)
		heartbeat = heartbeat || st.Status == client.StatusHeartbeat && st.HeadBlock == 9
	}
	require.True(t, heartbeat, "heartbeats surface as states: %v", seen)
	require.Contains(t, seen, client.StatusReconnecting)
	require.Equal(t, client.StatusStopped, seen[len(seen)-1])
}

func TestStream_closeCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		first     session
		reconnect bool
		is        error
	}{
		{"1000 normal", session{messages: []string{hello(false)}, close: 1000}, true, nil},
		{"1001 going away", session{messages: []string{hello(false)}, close: 1001}, true, nil},
		{"1011 internal", session{messages: []string{hello(false)}, close: 1011}, true, nil},
		{"1012 restart", session{messages: []string{hello(false)}, close: 1012}, true, nil},
		{"4008 slow consumer", session{messages: []string{hello(false)}, close: 4008}, true, nil},
		{"4029 too many connections", session{messages: []string{hello(false)}, close: 4029}, true, nil},
		{"429 before upgrade", session{status: http.StatusTooManyRequests}, true, nil},
		{"502 from a proxy", session{status: http.StatusBadGateway}, true, nil},
		{"4404 deleted", session{messages: []string{hello(false)}, close: 4404}, false, client.ErrSubscriptionDeleted},
		{"4004 unknown", session{messages: []string{hello(false)}, close: 4004}, false, client.ErrNotFound},
		{"1008 key revoked", session{messages: []string{hello(false)}, close: 1008}, false, client.ErrUnauthorized},
		{"1009 too big", session{messages: []string{hello(false)}, close: 1009}, false, nil},
		{"401 before upgrade", session{status: http.StatusUnauthorized}, false, client.ErrUnauthorized},
		{"404 before upgrade", session{status: http.StatusNotFound}, false, client.ErrNotFound},
		{"400 bad cursor", session{status: http.StatusBadRequest}, false, client.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeEdge(t, tc.first, session{messages: []string{hello(false), eventJSON(1)}, close: 4404})
			s := newClient(t, f.srv.URL).Stream(t.Context(), "sub_1", fastOpts("", nil))
			defer s.Close()
			got, err := collect(t, s)
			if tc.reconnect {
				require.Equal(t, []string{cur(1)}, got)
				require.ErrorIs(t, err, client.ErrSubscriptionDeleted)
				require.Equal(t, 2, f.connections())
				return
			}
			require.Empty(t, got)
			require.Error(t, err)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
			require.Equal(t, 1, f.connections())
		})
	}
}

func TestStream_gap(t *testing.T) {
	t.Parallel()
	f := newFakeEdge(t, session{messages: append([]string{hello(false)}, events(50, 51)...), close: 4404})
	states := make(chan client.State, 100)
	s := newClient(t, f.srv.URL).Stream(t.Context(), "sub_1", fastOpts(cur(2), states))
	defer s.Close()
	got, err := collect(t, s)
	require.ErrorIs(t, err, client.ErrSubscriptionDeleted)
	require.Equal(t, []string{cur(50), cur(51)}, got)
	gap := false
	for len(states) > 0 {
		st := <-states
		gap = gap || st.Status == client.StatusConnected && st.Gap && !st.Resumed
	}
	require.True(t, gap, "a refused resume is reported as a gap")
}

func TestStream_idleTimeoutReconnects(t *testing.T) {
	t.Parallel()
	// The first connection goes silent: no heartbeat, no close.
	f := newFakeEdge(t, session{messages: []string{hello(true)}}, session{messages: []string{hello(true), eventJSON(1)}, close: 4404})
	opts := fastOpts("", nil)
	opts.IdleTimeout = 100 * time.Millisecond
	s := newClient(t, f.srv.URL).Stream(t.Context(), "sub_1", opts)
	defer s.Close()
	got, err := collect(t, s)
	require.ErrorIs(t, err, client.ErrSubscriptionDeleted)
	require.Equal(t, []string{cur(1)}, got)
	require.Equal(t, 2, f.connections())
}

func TestStream_Close(t *testing.T) {
	t.Parallel()
	f := newFakeEdge(t, session{messages: []string{hello(true), eventJSON(1)}})
	s := newClient(t, f.srv.URL).Stream(t.Context(), "sub_1", fastOpts("", nil))
	ev, err := s.Next(t.Context())
	require.NoError(t, err)
	require.Equal(t, cur(1), ev.Cursor)
	require.JSONEq(t, eventJSON(1), string(ev.Raw), "Raw keeps unknown fields")
	require.Equal(t, "1", ev.Amount.String())
	require.EqualValues(t, 1001, ev.Block.Number)

	// Next gives up with its own context, leaving the stream usable.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	_, err = s.Next(ctx)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)

	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close twice is fine")
	_, err = s.Next(t.Context())
	require.ErrorIs(t, err, client.ErrStreamClosed)
	testenv.WaitFor(t, 5*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.closes) == 1 && f.closes[0] == websocket.CloseNormalClosure
	}, "the server sees a 1000 close")
}

func TestStream_contextEnds(t *testing.T) {
	t.Parallel()
	f := newFakeEdge(t, session{messages: []string{hello(true)}})
	ctx, cancel := context.WithCancel(t.Context())
	s := newClient(t, f.srv.URL).Stream(ctx, "sub_1", fastOpts("", nil))
	defer s.Close()
	testenv.WaitFor(t, 5*time.Second, func() bool { return f.connections() == 1 }, "connected")
	cancel()
	<-s.Done()
	_, err := s.Next(t.Context())
	require.ErrorIs(t, err, context.Canceled)
}

func TestStream_maxAttempts(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	opts := fastOpts("", nil)
	opts.MaxAttempts = 3
	s := newClient(t, url).Stream(t.Context(), "sub_1", opts)
	defer s.Close()
	_, err := collect(t, s)
	require.ErrorContains(t, err, "gave up after 3 failed attempts")
}
