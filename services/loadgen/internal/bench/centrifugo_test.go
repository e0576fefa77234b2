package bench

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/services/loadgen/internal/load"
)

func TestCentrifugoConfig(t *testing.T) {
	t.Parallel()
	b, err := centrifugoConfig(centrifugoSettings{Addr: "127.0.0.1:18000", NATSURL: "nats://127.0.0.1:4222", Secret: "s3cret"})
	require.NoError(t, err)
	var c struct {
		HTTPServer struct {
			Address string `json:"address"`
			Port    int    `json:"port"`
		} `json:"http_server"`
		Client struct {
			Token struct {
				HMACSecretKey string `json:"hmac_secret_key"`
			} `json:"token"`
		} `json:"client"`
		Channel struct {
			WithoutNamespace struct {
				AllowSubscribeForClient bool `json:"allow_subscribe_for_client"`
			} `json:"without_namespace"`
		} `json:"channel"`
		Broker struct {
			Enabled bool   `json:"enabled"`
			Type    string `json:"type"`
			NATS    struct {
				URL     string `json:"url"`
				RawMode struct {
					Enabled bool   `json:"enabled"`
					Prefix  string `json:"prefix"`
				} `json:"raw_mode"`
			} `json:"nats"`
		} `json:"broker"`
		Prometheus struct {
			Enabled bool `json:"enabled"`
		} `json:"prometheus"`
		Health struct {
			Enabled bool `json:"enabled"`
		} `json:"health"`
		UsageStats struct {
			Disabled bool `json:"disabled"`
		} `json:"usage_stats"`
	}
	require.NoError(t, json.Unmarshal(b, &c))
	require.Equal(t, "127.0.0.1", c.HTTPServer.Address)
	require.Equal(t, 18000, c.HTTPServer.Port)
	require.Equal(t, "s3cret", c.Client.Token.HMACSecretKey)
	require.True(t, c.Channel.WithoutNamespace.AllowSubscribeForClient)
	require.True(t, c.Broker.Enabled)
	require.Equal(t, "nats", c.Broker.Type)
	require.Equal(t, "nats://127.0.0.1:4222", c.Broker.NATS.URL)
	require.True(t, c.Broker.NATS.RawMode.Enabled)
	// Channel X is subject prefix+X: the subject the publisher uses for
	// subscription X.
	require.Equal(t, bus.EventsSubject("X"), c.Broker.NATS.RawMode.Prefix+"X")
	require.True(t, c.Prometheus.Enabled)
	require.True(t, c.Health.Enabled)
	require.True(t, c.UsageStats.Disabled)

	_, err = centrifugoConfig(centrifugoSettings{Addr: "no-port"})
	require.Error(t, err)
}

func TestConnectionToken_IsSignedHS256(t *testing.T) {
	t.Parallel()
	exp := time.Unix(2_000_000_000, 0)
	tok := connectionToken("secret", "edgebench", exp)
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	enc := base64.RawURLEncoding
	var header struct{ Alg, Typ string }
	h, err := enc.DecodeString(parts[0])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(h, &header))
	require.Equal(t, "HS256", header.Alg)
	var claims struct {
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
	}
	c, err := enc.DecodeString(parts[1])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(c, &claims))
	require.Equal(t, "edgebench", claims.Sub)
	gotExpiry := claims.Exp
	require.Equal(t, exp.Unix(), gotExpiry)
	mac := hmac.New(sha256.New, []byte("secret"))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := enc.DecodeString(parts[2])
	require.NoError(t, err)
	require.True(t, hmac.Equal(mac.Sum(nil), sig))
}

func TestCentrifugoChannels_AreUniquePerRun(t *testing.T) {
	t.Parallel()
	a, b := centrifugoChannels(3), centrifugoChannels(3)
	require.Len(t, a, 3)
	require.NotEqual(t, a[0], a[1])
	require.NotEqual(t, a[0], b[0])
	for _, ch := range a {
		// A NATS subject token and a Centrifugo channel without namespace.
		require.NotContains(t, ch, ".")
		require.NotContains(t, ch, ":")
	}
}

func TestPeer_Kind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		peer Peer
		want string
	}{
		{Peer{Name: "relay", Bin: "bin/relay"}, PeerEdgeLike},
		{Peer{Name: "centrifugo", Bin: "/tmp/c"}, PeerCentrifugo},
		{Peer{Name: "Centrifugo-v6", Bin: "/tmp/c"}, PeerCentrifugo},
		{Peer{Name: "cf", Bin: "/tmp/c", Kind: PeerCentrifugo}, PeerCentrifugo},
		{Peer{Name: "centrifugo", Bin: "/tmp/c", Kind: PeerEdgeLike}, PeerEdgeLike},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.peer.kind(), tt.peer.Name)
	}
	require.NoError(t, validatePeers([]Peer{{Name: "relay"}, {Name: "centrifugo"}}))
	require.ErrorContains(t, validatePeers([]Peer{{Name: "x", Kind: "sse"}}), `kind "sse"`)
}

// TestEdgeProc_MetricsCentrifugo pins the translation of the edge's metric
// names to Centrifugo's, summed over their labels.
func TestEdgeProc_MetricsCentrifugo(t *testing.T) {
	t.Parallel()
	page := strings.Join([]string{
		"# HELP centrifugo_client_connections_inflight Number of inflight client connections.",
		`centrifugo_client_connections_inflight{accept_protocol="",client_name="loadgen",transport="websocket"} 7`,
		`centrifugo_client_connections_inflight{accept_protocol="",client_name="other",transport="websocket"} 3`,
		`centrifugo_transport_messages_sent{channel_namespace="",frame_type="push",transport="websocket"} 1000`,
		`centrifugo_transport_messages_sent{channel_namespace="",frame_type="subscribe",transport="websocket"} 10`,
		`centrifugo_transport_messages_sent_size{channel_namespace="",frame_type="push",transport="websocket"} 99999`,
		"centrifugo_node_num_clients 0",
		"go_goroutines 42",
	}, "\n") + "\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(page)) }))
	t.Cleanup(srv.Close)
	e := &edgeProc{url: srv.URL, http: srv.Client(), centrifugo: &centrifugoProc{token: "jwt"}}
	m, err := e.metrics(context.Background(), "mongotron_edge_stream_connections", "go_goroutines")
	require.NoError(t, err)
	require.Equal(t, map[string]float64{"mongotron_edge_stream_connections": 10, "go_goroutines": 42}, m)
	sent, err := e.messagesSent(context.Background())
	require.NoError(t, err)
	require.InDelta(t, 1010, sent, 0)

	// The REST calls are answered here: the key is the JWT, the
	// subscriptions are channels.
	key, err := e.createKey(context.Background(), "admin", "t")
	require.NoError(t, err)
	require.Equal(t, "jwt", key)
	require.Equal(t, []string{"-protocol", string(load.ProtocolCentrifugo)}, e.loadgenArgs())
	require.Empty(t, (&edgeProc{}).loadgenArgs())
}
