package app_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/config"
	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/ingest/internal/app"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testenv.GoleakOptions()...) }

func load(tb testing.TB, args, env []string) (app.Config, error) {
	tb.Helper()
	var cfg app.Config
	fs := flag.NewFlagSet(app.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	// The same options as service.Main, so the shared keys are accepted.
	if err := config.Load(fs, args, env, config.IgnoreKeys(config.SharedKeys()...)); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     []string
		check   func(t *testing.T, c app.Config)
		wantErr string
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c app.Config) {
				require.Equal(t, ":8081", c.HTTP.Addr)
				require.Equal(t, 10*time.Second, c.HTTP.ShutdownTimeout)
				require.Equal(t, "info", c.Log.Level)
			},
		},
		{
			name: "API.md keys",
			env: []string{
				"MONGOTRON_MONGO_URI=mongodb://db:27017/x", "MONGOTRON_NATS_URL=nats://n:4222",
				"MONGOTRON_TRON_NODE_URL=https://api.trongrid.io", "MONGOTRON_TRON_API_KEY=k",
				"MONGOTRON_HTTP_ADDR=:9000", "MONGOTRON_LOG_LEVEL=debug",
			},
			check: func(t *testing.T, c app.Config) {
				require.Equal(t, app.Config{
					HTTP:        service.HTTPConfig{Addr: ":9000", ShutdownTimeout: 10 * time.Second},
					Log:         logging.Config{Level: "debug", Format: "auto"},
					MongoURI:    "mongodb://db:27017/x",
					NATSURL:     "nats://n:4222",
					TronNodeURL: "https://api.trongrid.io",
					TronAPIKey:  "k",
					Network:     "mainnet",

					PollInterval:     time.Second,
					FetchConcurrency: 4,
					ResyncInterval:   30 * time.Second,
					Retention:        720 * time.Hour,
					StartTimeout:     10 * time.Second,
				}, c)
			},
		},
		{name: "flag wins", args: []string{"--http.addr=:7000"}, env: []string{"MONGOTRON_HTTP_ADDR=:9000"}, check: func(t *testing.T, c app.Config) { require.Equal(t, ":7000", c.HTTP.Addr) }},
		{name: "bad mongo uri", args: []string{"--mongo.uri=postgres://x"}, wantErr: `config: mongo.uri: scheme "postgres"`},
		{name: "missing node url", args: []string{"--tron.node-url="}, wantErr: "config: tron.node-url is required"},
		{name: "bad timeout", env: []string{"MONGOTRON_SHUTDOWN_TIMEOUT=forever"}, wantErr: `MONGOTRON_SHUTDOWN_TIMEOUT="forever"`},
		{name: "ingest flags", env: []string{"MONGOTRON_POLL_INTERVAL=250ms", "MONGOTRON_START_BLOCK=42", "MONGOTRON_RETENTION=24h"}, check: func(t *testing.T, c app.Config) {
			require.Equal(t, 250*time.Millisecond, c.PollInterval)
			require.Equal(t, int64(42), c.StartBlock)
			require.Equal(t, 24*time.Hour, c.Retention)
		}},
		{name: "negative start block", args: []string{"--start-block=-1"}, wantErr: "config: start-block -1 is negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := load(t, tc.args, tc.env)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

// depArgs starts MongoDB, NATS and a simulated node for one test and
// returns the flags pointing the ingest at them.
func depArgs(t *testing.T) []string {
	t.Helper()
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	_, url := simtest.Start(t, sim.Config{Seed: 1, Instant: true, InitialBlocks: 5, TxsPerBlock: 5})
	return []string{"--mongo.uri=" + m.URI(), "--nats.url=" + n.URL(), "--tron.node-url=" + url, "--poll-interval=20ms"}
}

func TestApp_Run(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, append(depArgs(t), "--http.addr=127.0.0.1:0"), nil)
	require.NoError(t, err)
	a, err := app.New(cfg, logging.Discard())
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + a.Addr().String() + "/healthz")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"status":"ok"}`, string(body))

	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	require.Eventually(t, func() bool {
		resp, err := client.Get("http://" + a.Addr().String() + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&ready) == nil && resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond)
	require.Equal(t, "leader", ready.Checks["leadership"])
	require.Equal(t, "ok", ready.Checks["mongo"])

	resp, err = client.Get("http://" + a.Addr().String() + "/metrics")
	require.NoError(t, err)
	body, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Contains(t, string(body), "mongotron_ingest_committed_block")
	require.Contains(t, string(body), "mongotron_ingest_node_call_seconds")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestMain_exitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  []string
		want int
		out  string
	}{
		{name: "help", args: []string{"--help"}, want: service.ExitOK, out: "--tron.node-url URL   (MONGOTRON_TRON_NODE_URL)"},
		{name: "unknown key", env: []string{"MONGOTRON_MONGO_URL=x"}, want: service.ExitUsage, out: "ingest: config: unknown key MONGOTRON_MONGO_URL"},
		{name: "listen fails", args: []string{"--http.addr=256.0.0.1:1"}, want: service.ExitFailure, out: `"msg":"ingest failed"`},
		{name: "mongo unreachable", args: []string{"--http.addr=127.0.0.1:0", "--mongo.uri=mongodb://127.0.0.1:1/x", "--start-timeout=300ms"}, want: service.ExitFailure, out: "mongo mongodb://127.0.0.1:1/x unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stderr strings.Builder
			env := append([]string{"MONGOTRON_LOG_FORMAT=json"}, tc.env...)
			got := app.Main(context.Background(), tc.args, env, &stderr)
			require.Equal(t, tc.want, got, stderr.String())
			require.Contains(t, stderr.String(), tc.out)
		})
	}
}

func TestMain_stopsOnCancel(t *testing.T) {
	t.Parallel()
	args := depArgs(t)
	ctx, cancel := context.WithCancel(t.Context())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- app.Main(ctx, append(args, "--http.addr=127.0.0.1:0", "--log.format=json"), nil, &stderr)
	}()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), `"msg":"following"`) }, 20*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case code := <-done:
		require.Equal(t, service.ExitOK, code, stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatal("Main did not return after cancel")
	}
}

// syncBuffer lets the test read what Main logs while Main runs.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
