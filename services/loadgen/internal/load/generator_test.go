package load

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/cursor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeEdge serves the stream route like the edge: a hello, then events
// (count per stream, or until the client leaves), then a close frame with
// code when code is non-zero.
type fakeEdge struct {
	events  int
	code    int
	ping    bool
	streams atomic.Int64
	pongs   atomic.Int64
	authErr bool
}

func (f *fakeEdge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.authErr || r.Header.Get("Authorization") != "Bearer k" {
		http.Error(w, `{"error":{"code":"invalid_api_key"}}`, http.StatusUnauthorized)
		return
	}
	sub, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/v1/subscriptions/"), "/stream")
	if !ok {
		http.NotFound(w, r)
		return
	}
	up := websocket.Upgrader{}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	f.streams.Add(1)
	ws.SetPongHandler(func(string) error { f.pongs.Add(1); return nil })
	left := make(chan struct{})
	go func() {
		defer close(left)
		for {
			if _, _, err := ws.NextReader(); err != nil {
				return
			}
		}
	}()
	_ = ws.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"type":"hello","subscription_id":%q,"resumed":false,"heartbeat_s":15}`, sub))
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"heartbeat","head_block":1,"time":"2025-01-01T00:00:00Z"}`))
	if f.ping {
		_ = ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second))
	}
	for i := range f.events {
		c := cursor.Cursor{Step: 1, Pos: uint64(i)}.String()
		msg := fmt.Appendf(nil, `{"type":"event","cursor":%q,"id":"x:%d","subscription_id":%q,"data":{"sent_ns":%d}}`, c, i, sub, time.Now().UnixNano())
		if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
			return
		}
	}
	if f.code != 0 {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(f.code, "bye"), time.Now().Add(time.Second))
		<-left
		return
	}
	<-left // hold until the client leaves
}

func TestGenerator_Run(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edge    *fakeEdge
		cfg     Config
		check   func(t *testing.T, s Summary, f *fakeEdge)
		wantErr bool
	}{
		{
			name: "fanout",
			edge: &fakeEdge{events: 50, code: 4008},
			cfg:  Config{Mode: ModeFanout, Streams: 20, LocalAddrs: 3},
			check: func(t *testing.T, s Summary, _ *fakeEdge) {
				require.Equal(t, 20, s.Connected)
				require.EqualValues(t, 20*50, s.Delivered)
				require.EqualValues(t, 20*50, s.Latency.Count)
				require.EqualValues(t, 20, s.Hellos)
				require.EqualValues(t, 20, s.Heartbeats)
				require.Zero(t, s.Bad)
				require.Zero(t, s.OutOfOrder)
				require.Equal(t, 20, s.Closes["4008"])
				require.Positive(t, s.Latency.Max)
				require.LessOrEqual(t, s.Latency.P50, s.Latency.P99)
			},
		},
		{
			name: "idle answers pings",
			edge: &fakeEdge{ping: true},
			cfg:  Config{Mode: ModeIdle, Streams: 10, LocalAddrs: -1, Duration: 300 * time.Millisecond},
			check: func(t *testing.T, s Summary, _ *fakeEdge) {
				require.Equal(t, 10, s.Connected)
				require.Zero(t, s.Delivered)
				require.Empty(t, s.Closes)
			},
		},
		{
			name: "replay stops at expect",
			edge: &fakeEdge{events: 500},
			cfg:  Config{Mode: ModeReplay, Streams: 1, Expect: 500},
			check: func(t *testing.T, s Summary, _ *fakeEdge) {
				require.EqualValues(t, 500, s.Delivered)
				require.Positive(t, s.ReplayRate)
				require.Zero(t, s.OutOfOrder)
				require.Zero(t, s.Latency.Count, "replay measures no latency")
			},
		},
		{
			name:    "auth failure",
			edge:    &fakeEdge{authErr: true},
			cfg:     Config{Streams: 3, DialAttempts: 1},
			wantErr: true,
			check: func(t *testing.T, s Summary, _ *fakeEdge) {
				require.Equal(t, 3, s.Failed)
				require.Contains(t, s.DialError, "401")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.edge)
			t.Cleanup(srv.Close)
			cfg := tt.cfg
			cfg.URL, cfg.Key, cfg.Subscriptions = srv.URL, "k", []string{"sub_a", "sub_b"}
			cfg.ProgressInterval = 50 * time.Millisecond
			g, err := New(cfg)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if tt.cfg.Mode == ModeFanout {
				// Fan-out runs until told: stop once everything arrived.
				go func() {
					for ctx.Err() == nil && g.Summary().Closes["4008"] < 20 {
						time.Sleep(10 * time.Millisecond)
					}
					cancel()
				}()
			}
			err = g.Run(ctx)
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
			tt.check(t, g.Summary(), tt.edge)
		})
	}
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	ok := Config{URL: "http://127.0.0.1:1", Key: "k", Subscriptions: []string{"s"}}
	tests := []struct {
		name    string
		mut     func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"bad url", func(c *Config) { c.URL = "ftp://x" }, "not an http(s) URL"},
		{"no key", func(c *Config) { c.Key = "" }, "key is required"},
		{"no subs", func(c *Config) { c.Subscriptions = nil }, "at least one subscription"},
		{"bad mode", func(c *Config) { c.Mode = "thunder" }, `mode "thunder"`},
		{"bad cursor", func(c *Config) { c.After = "xyz" }, "after:"},
		{"too many addrs", func(c *Config) { c.LocalAddrs = 300 }, "local-addrs"},
		{"centrifugo fanout", func(c *Config) { c.Protocol = ProtocolCentrifugo }, ""},
		{"centrifugo idle", func(c *Config) { c.Protocol, c.Mode = ProtocolCentrifugo, ModeIdle }, ""},
		{"edge replay", func(c *Config) { c.Protocol, c.Mode = ProtocolEdge, ModeReplay }, ""},
		{"centrifugo replay", func(c *Config) { c.Protocol, c.Mode = ProtocolCentrifugo, ModeReplay }, "not fanout or idle"},
		{"unknown protocol", func(c *Config) { c.Protocol = "sse" }, `protocol "sse"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := ok
			tt.mut(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestSentNanos(t *testing.T) {
	t.Parallel()
	tests := []struct {
		msg  string
		want int64
		ok   bool
	}{
		{`{"data":{"sent_ns":1700000000123456789}}`, 1700000000123456789, true},
		{`{"data":{"sent_ns":12,"x":1}}`, 12, true},
		{`{"data":{}}`, 0, false},
		{`{"data":{"sent_ns":}}`, 0, false},
	}
	for _, tt := range tests {
		got, ok := sentNanos([]byte(tt.msg))
		require.Equal(t, tt.ok, ok, tt.msg)
		require.Equal(t, tt.want, got, tt.msg)
	}
}
