package app_test

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/pkg/service/servicetest"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/edge/internal/api"
	"github.com/mongotron/mongotron/services/edge/internal/app"
	"github.com/mongotron/mongotron/services/edge/internal/auth"
	"github.com/mongotron/mongotron/services/edge/internal/stream"
	"github.com/mongotron/mongotron/services/edge/internal/webhook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testenv.GoleakOptions()...) }

func load(tb testing.TB, args, env []string) (app.Config, error) {
	tb.Helper()
	var cfg app.Config
	err := service.LoadConfig(app.Name, &cfg, args, env)
	return cfg, err
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
				require.Equal(t, ":8080", c.HTTP.Addr)
				require.Equal(t, 10*time.Second, c.HTTP.ShutdownTimeout)
				require.Equal(t, "info", c.Log.Level)
			},
		},
		{
			name: "docs/api.md keys",
			env: []string{
				"MONGOTRON_MONGO_URI=mongodb://db:27017/x", "MONGOTRON_NATS_URL=nats://n:4222",
				"MONGOTRON_TRON_NODE_URL=https://api.trongrid.io", "MONGOTRON_TRON_API_KEY=k",
				"MONGOTRON_HTTP_ADDR=:9000", "MONGOTRON_LOG_LEVEL=debug",
			},
			check: func(t *testing.T, c app.Config) {
				require.Equal(t, app.Config{
					HTTP:            service.HTTPConfig{Addr: ":9000", ShutdownTimeout: 10 * time.Second},
					Log:             logging.Config{Level: "debug", Format: "auto"},
					MongoURI:        "mongodb://db:27017/x",
					NATS:            bus.Config{URL: "nats://n:4222", Replicas: 1},
					ConnectTimeout:  app.DefaultConnectTimeout,
					RateLimit:       auth.DefaultRate,
					RateBurst:       auth.DefaultBurst,
					StreamRateLimit: auth.DefaultStreamRate,
					StreamRateBurst: auth.DefaultStreamBurst,
					MaxBodyBytes:    api.DefaultMaxBodyBytes,
					Webhook: webhook.Config{
						Timeout: webhook.DefaultTimeout, ConcurrencyPerEndpoint: webhook.DefaultConcurrencyPerEndpoint,
						BreakerThreshold: webhook.DefaultBreakerThreshold, BreakerCooldown: webhook.DefaultBreakerCooldown,
						PollInterval: webhook.DefaultPollInterval, Retention: webhook.DefaultRetention,
					},
					Stream: stream.Config{BrokerGrace: stream.DefaultBrokerGrace, FillTimeout: stream.DefaultFillTimeout},
				}, c)
			},
		},
		{name: "flag wins", args: []string{"--http.addr=:7000"}, env: []string{"MONGOTRON_HTTP_ADDR=:9000"}, check: func(t *testing.T, c app.Config) { require.Equal(t, ":7000", c.HTTP.Addr) }},
		{
			name: "edge keys",
			env:  []string{"MONGOTRON_ADMIN_KEY=0123456789abcdef0", "MONGOTRON_API_RATE_LIMIT=5", "MONGOTRON_API_RATE_BURST=7"},
			check: func(t *testing.T, c app.Config) {
				require.Equal(t, "0123456789abcdef0", c.AdminKey)
				require.InDelta(t, 5.0, c.RateLimit, 0)
				require.Equal(t, 7, c.RateBurst)
			},
		},
		{
			name: "webhook keys",
			args: []string{"--webhook.timeout=3s", "--webhook.schedule=1s,1m", "--webhook.allow-http-hosts=127.0.0.1,Hooks.Local", "--webhook.allow-private=127.0.0.1,10.0.0.0/8"},
			check: func(t *testing.T, c app.Config) {
				require.Equal(t, 3*time.Second, c.Webhook.Timeout)
				require.Equal(t, []time.Duration{time.Second, time.Minute}, c.Webhook.Schedule)
				require.Equal(t, []string{"127.0.0.1", "hooks.local"}, c.Webhook.AllowHTTPHosts)
				require.Equal(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}, c.Webhook.AllowPrivate)
			},
		},
		{name: "bad webhook prefix", args: []string{"--webhook.allow-private=nope"}, wantErr: "neither an address nor a CIDR prefix"},
		{name: "short admin key", args: []string{"--admin-key=short"}, wantErr: "admin-key is shorter than 16"},
		{name: "bad mongo uri", args: []string{"--mongo.uri=postgres://x"}, wantErr: `config: mongo.uri: scheme "postgres"`},
		{name: "missing nats url", args: []string{"--nats.url="}, wantErr: "config: nats.url is required"},
		{
			name: "nats cluster",
			env:  []string{"MONGOTRON_NATS_URL=nats://n1:4222, nats://n2:4222,nats://n3:4222", "MONGOTRON_NATS_REPLICAS=3", "MONGOTRON_STREAM_BROKER_GRACE=2s"},
			check: func(t *testing.T, c app.Config) {
				require.Equal(t, []string{"nats://n1:4222", "nats://n2:4222", "nats://n3:4222"}, c.NATS.URLs())
				require.Equal(t, 3, c.NATS.Replicas)
				require.Equal(t, 2*time.Second, c.Stream.BrokerGrace)
			},
		},
		{name: "bad url in a nats list", args: []string{"--nats.url=nats://n1:4222,http://n2:4222"}, wantErr: `config: nats.url (entry 2): scheme "http"`},
		{name: "too many replicas", args: []string{"--nats.replicas=7"}, wantErr: "config: nats.replicas 7: want 1 to 5"},
		{name: "negative broker grace", args: []string{"--stream.broker-grace=-1s"}, wantErr: "config: stream.broker-grace -1s is negative"},
		{name: "bad timeout", env: []string{"MONGOTRON_SHUTDOWN_TIMEOUT=forever"}, wantErr: `MONGOTRON_SHUTDOWN_TIMEOUT="forever"`},
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

// deps starts the real dependencies and returns the flags pointing at
// them.
func deps(tb testing.TB) []string {
	tb.Helper()
	n := testenv.RunNATS(tb)
	m := testenv.RunMongo(tb)
	return []string{"--nats.url=" + n.URL(), "--mongo.uri=" + m.URI(), "--shutdown-timeout=5s"}
}

func TestApp_Run(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, append(deps(t), "--http.addr=127.0.0.1:0"), nil)
	require.NoError(t, err)
	a, err := app.New(t.Context(), cfg, logging.Discard())
	require.NoError(t, err)
	require.Equal(t, service.DefaultReadHeaderTimeout, a.Server().ReadHeaderTimeout, "a zero http.Server has no header timeout")

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
	resp, err = client.Get("http://" + a.Addr().String() + "/readyz")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)

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
	servicetest.ExitStatus(t, app.Main, []servicetest.Case{
		{Name: "help", Args: []string{"--help"}, Want: service.ExitOK, Out: "--nats.url URLs   (MONGOTRON_NATS_URL)"},
		{Name: "unknown key", Env: []string{"MONGOTRON_MONGO_URL=x"}, Want: service.ExitUsage, Out: "edge: config: unknown key MONGOTRON_MONGO_URL"},
		{Name: "nats unreachable", Args: []string{"--nats.url=nats://127.0.0.1:1", "--connect-timeout=1s"}, Want: service.ExitFailure, Out: `"msg":"edge failed"`},
	})
}

func TestMain_stopsOnCancel(t *testing.T) {
	t.Parallel()
	servicetest.StopsOnCancel(t, app.Main, deps(t), "started", 10*time.Second)
}

// readyz returns /readyz's status and body.
func readyz(tb testing.TB, base string) (int, string) {
	tb.Helper()
	resp, err := http.Get(base + "/readyz")
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, string(b)
}

func TestApp_Run_failingComponentMakesReadyz503UntilItRecovers(t *testing.T) {
	t.Parallel()
	n := testenv.RunNATS(t)
	m := testenv.RunRestartableMongo(t)
	cfg, err := load(t, []string{"--nats.url=" + n.URL(), "--mongo.uri=" + m.URI(), "--shutdown-timeout=5s",
		"--http.addr=127.0.0.1:0", "--connect-timeout=5s"}, nil)
	require.NoError(t, err)
	a, err := app.New(t.Context(), cfg, logging.Discard())
	require.NoError(t, err)
	// MongoDB goes away between start and Run: the webhook deliverer
	// cannot create its indexes, and fails.
	require.NoError(t, m.Stop())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	base := "http://" + a.Addr().String()

	require.Eventually(t, func() bool {
		code, body := readyz(t, base)
		return code == http.StatusServiceUnavailable && strings.Contains(body, `"code":"not_ready"`) &&
			strings.Contains(body, "failing: webhooks: ")
	}, 30*time.Second, 50*time.Millisecond, "readyz names the failing component")

	require.NoError(t, m.Start())
	require.Eventually(t, func() bool {
		code, _ := readyz(t, base)
		return code == http.StatusOK
	}, 60*time.Second, 100*time.Millisecond, "readyz recovers once the component runs again")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
