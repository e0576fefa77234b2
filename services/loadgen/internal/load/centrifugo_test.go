package load

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/cursor"
)

func TestSplitMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		want  []string
	}{
		{"one", `{"id":1}`, []string{`{"id":1}`}},
		{"several", "{}\n{\"push\":{}}\n{\"id\":2}", []string{`{}`, `{"push":{}}`, `{"id":2}`}},
		{"trailing newline", "{\"id\":1}\n", []string{`{"id":1}`}},
		{"blank lines skipped", "\n\n{}\n\n", []string{`{}`}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			splitMessages([]byte(tt.frame), func(msg []byte) { got = append(got, string(msg)) })
			require.Equal(t, tt.want, got)
		})
	}
}

func TestIsPublication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		msg  string
		want bool
	}{
		{`{"push":{"channel":"c","pub":{"data":{"sent_ns":1}}}}`, true},
		{`{"push":{"channel":"c","unsubscribe":{"code":2000}}}`, false},
		{`{"push":{"disconnect":{"code":3001,"reason":"shutdown"}}}`, false},
		{`{"id":2,"subscribe":{}}`, false},
		{`{}`, false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, isPublication([]byte(tt.msg)), tt.msg)
	}
	require.True(t, isPing([]byte(`{}`)))
	require.False(t, isPing([]byte(`{"id":1}`)))
}

func TestCommands_AreCentrifugoJSON(t *testing.T) {
	t.Parallel()
	var connect map[string]any
	require.NoError(t, json.Unmarshal(connectCommand("tok"), &connect))
	require.Equal(t, map[string]any{"id": 1.0, "connect": map[string]any{"token": "tok", "name": "loadgen"}}, connect)
	var sub map[string]any
	require.NoError(t, json.Unmarshal(subscribeCommand("chan_1"), &sub))
	require.Equal(t, map[string]any{"id": 2.0, "subscribe": map[string]any{"channel": "chan_1"}}, sub)
}

func TestParseReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		msg     string
		id      uint32
		wantErr error
	}{
		{"result", `{"id":1,"connect":{"client":"x","version":"6","ping":25,"pong":true}}`, 1, nil},
		{"error", `{"id":2,"error":{"code":103,"message":"permission denied"}}`, 2, errCentrifugoRefused},
		{"other reply", `{"id":1,"connect":{}}`, 2, errNotReply},
		{"push", `{"push":{"channel":"c","pub":{"data":{}}}}`, 2, errNotReply},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := parseReply([]byte(tt.msg), tt.id)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
	require.Error(t, parseReply([]byte(`not json`), 1))
}

func TestCentrifugoURL(t *testing.T) {
	t.Parallel()
	require.Equal(t, "ws://127.0.0.1:8000/connection/websocket", centrifugoURL("http://127.0.0.1:8000"))
	require.Equal(t, "wss://h/connection/websocket", centrifugoURL("https://h/"))
}

// fakeCentrifugo serves /connection/websocket like Centrifugo: it checks
// the connect token, answers connect and subscribe, then writes a frame
// holding a ping and events publications, several to a frame, and holds
// the connection until the client leaves.
type fakeCentrifugo struct {
	events int
	// refuse makes the subscribe reply an error.
	refuse bool
	pongs  atomic.Int64
}

func (f *fakeCentrifugo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/connection/websocket" {
		http.NotFound(w, r)
		return
	}
	up := websocket.Upgrader{}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	var channel string
	for _, want := range []string{"connect", "subscribe"} {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var cmd map[string]json.RawMessage
		if json.Unmarshal(b, &cmd) != nil || cmd[want] == nil {
			return
		}
		var id int
		_ = json.Unmarshal(cmd["id"], &id)
		reply := fmt.Sprintf(`{"id":%d,"%s":{}}`, id, want)
		switch want {
		case "connect":
			var c struct{ Token string }
			_ = json.Unmarshal(cmd["connect"], &c)
			if c.Token != "jwt" {
				reply = fmt.Sprintf(`{"id":%d,"error":{"code":101,"message":"unauthorized"}}`, id)
			}
		case "subscribe":
			var s struct{ Channel string }
			_ = json.Unmarshal(cmd["subscribe"], &s)
			channel = s.Channel
			if f.refuse {
				reply = fmt.Sprintf(`{"id":%d,"error":{"code":103,"message":"permission denied"}}`, id)
			}
		}
		if err := ws.WriteMessage(websocket.TextMessage, []byte(reply)); err != nil {
			return
		}
	}
	var frame strings.Builder
	frame.WriteString("{}")
	for i := range f.events {
		c := cursor.Cursor{Step: 1, Pos: uint64(i)}.String()
		fmt.Fprintf(&frame, "\n"+`{"push":{"channel":%q,"pub":{"data":{"type":"event","cursor":%q,"data":{"sent_ns":%d}}}}}`, channel, c, time.Now().UnixNano())
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte(frame.String())); err != nil {
		return
	}
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if string(b) == "{}" {
			f.pongs.Add(1)
		}
	}
}

func TestGenerator_RunCentrifugo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		srv     *fakeCentrifugo
		key     string
		wantErr string
		check   func(t *testing.T, s Summary, f *fakeCentrifugo)
	}{
		{
			name: "publications counted and pings answered",
			srv:  &fakeCentrifugo{events: 30},
			key:  "jwt",
			check: func(t *testing.T, s Summary, f *fakeCentrifugo) {
				require.Equal(t, 5, s.Connected)
				require.EqualValues(t, 5*30, s.Delivered)
				require.EqualValues(t, 5*30, s.Latency.Count)
				require.EqualValues(t, 5, s.Hellos, "one per confirmed subscription")
				require.EqualValues(t, 5, s.Heartbeats, "one ping per stream")
				require.EqualValues(t, 5, f.pongs.Load())
				require.Zero(t, s.Bad)
				require.Zero(t, s.OutOfOrder)
			},
		},
		{
			name:    "bad token fails the streams",
			srv:     &fakeCentrifugo{},
			key:     "other",
			wantErr: "unauthorized",
			check: func(t *testing.T, s Summary, _ *fakeCentrifugo) {
				require.Equal(t, 5, s.Failed)
			},
		},
		{
			name:    "refused subscription fails the streams",
			srv:     &fakeCentrifugo{refuse: true},
			key:     "jwt",
			wantErr: "permission denied",
			check: func(t *testing.T, s Summary, _ *fakeCentrifugo) {
				require.Equal(t, 5, s.Failed)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.srv)
			t.Cleanup(srv.Close)
			g, err := New(Config{
				URL: srv.URL, Key: tt.key, Subscriptions: []string{"c_a", "c_b"},
				Protocol: ProtocolCentrifugo, Streams: 5, LocalAddrs: -1, DialAttempts: 1,
				ProgressInterval: 50 * time.Millisecond,
			})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			go func() {
				// Fan-out runs until told: stop once everything arrived.
				for ctx.Err() == nil && (g.Summary().Delivered < uint64(5*tt.srv.events) || tt.srv.pongs.Load() < 5) {
					time.Sleep(10 * time.Millisecond)
				}
				cancel()
			}()
			err = g.Run(ctx)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			tt.check(t, g.Summary(), tt.srv)
		})
	}
}
