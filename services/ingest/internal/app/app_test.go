package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/pkg/service/servicetest"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/ingest/internal/app"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
	"github.com/mongotron/mongotron/services/ingest/internal/nodes"
	"github.com/mongotron/mongotron/services/ingest/internal/tokens"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

// queryCheck fails the package when a query its tests send is served by
// no index (see testenv.QueryCheck).
var queryCheck = testenv.NewQueryCheck()

func TestMain(m *testing.M) { testenv.MainChecked(m, queryCheck) }

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
				require.Equal(t, ":8081", c.HTTP.Addr)
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
					HTTP:             service.HTTPConfig{Addr: ":9000", ShutdownTimeout: 10 * time.Second},
					Log:              logging.Config{Level: "debug", Format: "auto"},
					MongoURI:         "mongodb://db:27017/x",
					NATS:             bus.Config{URL: "nats://n:4222", Replicas: 1},
					TronNodeURL:      "https://api.trongrid.io",
					TronAPIKey:       "k",
					TronAPIKeyHeader: "TRON-PRO-API-KEY",
					Nodes:            nodes.Config{MaxLag: nodes.DefaultMaxLag, StallAfter: nodes.DefaultStallAfter, BadFor: nodes.DefaultBadFor},
					Network:          "mainnet",

					PollInterval:     time.Second,
					FetchConcurrency: 4,
					ResyncInterval:   30 * time.Second,
					Retention:        720 * time.Hour,
					ConnectTimeout:   10 * time.Second,
					LeaseTTL:         6 * time.Second,
					Tokens: tokens.Config{
						RefreshInterval: tokens.DefaultRefreshInterval, RetryInterval: tokens.DefaultRetryInterval,
						UnknownRetryInterval: tokens.DefaultUnknownRetryInterval, MaxRetryInterval: tokens.DefaultMaxRetryInterval,
						CallTimeout: tokens.DefaultCallTimeout, Concurrency: tokens.DefaultConcurrency,
						QueueSize: tokens.DefaultQueueSize, MaxEntries: tokens.DefaultMaxEntries,
					},
				}, c)
			},
		},
		{name: "flag wins", args: []string{"--http.addr=:7000"}, env: []string{"MONGOTRON_HTTP_ADDR=:9000"}, check: func(t *testing.T, c app.Config) { require.Equal(t, ":7000", c.HTTP.Addr) }},
		{name: "bad mongo uri", args: []string{"--mongo.uri=postgres://x"}, wantErr: `config: mongo.uri: scheme "postgres"`},
		{name: "missing node url", args: []string{"--tron.node-url="}, wantErr: "config: tron.node-url is required"},
		{name: "grpc node url", args: []string{"--tron.node-url=grpcs://grpc.trongrid.io:443"}, check: func(t *testing.T, c app.Config) {
			require.Equal(t, []string{"grpcs://grpc.trongrid.io:443"}, c.NodeURLs())
		}},
		{name: "node url scheme", args: []string{"--tron.node-url=ftp://x"}, wantErr: `config: tron.node-url: scheme "ftp": want http or https or grpc or grpcs`},
		{name: "several nodes", env: []string{"MONGOTRON_TRON_NODE_URLS=http://a:8090, grpc://b:50051", "MONGOTRON_TRON_API_KEY_HEADER=X-Key"}, check: func(t *testing.T, c app.Config) {
			require.Equal(t, []string{"http://a:8090", "grpc://b:50051"}, c.NodeURLs())
			require.Equal(t, "X-Key", c.TronAPIKeyHeader)
		}},
		{name: "the node list wins over the default node url", args: []string{"--tron.node-urls=http://a:8090", "--tron.node-url=http://127.0.0.1:8090"}, check: func(t *testing.T, c app.Config) {
			require.Equal(t, []string{"http://a:8090"}, c.NodeURLs())
		}},
		{name: "node url and node list exclude each other", env: []string{"MONGOTRON_TRON_NODE_URL=http://x:8090", "MONGOTRON_TRON_NODE_URLS=http://a:8090"},
			wantErr: "config: tron.node-url and tron.node-urls exclude each other"},
		{name: "node list checked", args: []string{"--tron.node-urls=http://a:8090,mongodb://b,http://a:8090"},
			wantErr: `config: tron.node-urls[1]: scheme "mongodb": want http or https or grpc or grpcs; config: tron.node-urls[2]: http://a:8090 is listed twice`},
		{name: "node health flags", args: []string{"--tron.health-interval=250ms", "--tron.max-lag=5", "--tron.stall-after=6s", "--tron.bad-for=2m"}, check: func(t *testing.T, c app.Config) {
			require.Equal(t, nodes.Config{HealthInterval: 250 * time.Millisecond, MaxLag: 5, StallAfter: 6 * time.Second, BadFor: 2 * time.Minute}, c.Nodes)
		}},
		{name: "negative max lag", args: []string{"--tron.max-lag=-1"}, wantErr: "config: tron.max-lag -1 is negative"},
		{name: "bad timeout", env: []string{"MONGOTRON_SHUTDOWN_TIMEOUT=forever"}, wantErr: `MONGOTRON_SHUTDOWN_TIMEOUT="forever"`},
		{name: "ingest flags", env: []string{"MONGOTRON_POLL_INTERVAL=250ms", "MONGOTRON_START_BLOCK=42", "MONGOTRON_RETENTION=24h"}, check: func(t *testing.T, c app.Config) {
			require.Equal(t, 250*time.Millisecond, c.PollInterval)
			require.Equal(t, int64(42), c.StartBlock)
			require.Equal(t, 24*time.Hour, c.Retention)
		}},
		{name: "connect timeout", env: []string{"MONGOTRON_CONNECT_TIMEOUT=2s"}, check: func(t *testing.T, c app.Config) { require.Equal(t, 2*time.Second, c.ConnectTimeout) }},
		{name: "deprecated start-timeout variable", env: []string{"MONGOTRON_START_TIMEOUT=3s"}, check: func(t *testing.T, c app.Config) { require.Equal(t, 3*time.Second, c.ConnectTimeout) }},
		{name: "connect-timeout wins over the deprecated variable", env: []string{"MONGOTRON_START_TIMEOUT=3s", "MONGOTRON_CONNECT_TIMEOUT=2s"}, check: func(t *testing.T, c app.Config) {
			require.Equal(t, 2*time.Second, c.ConnectTimeout)
		}},
		{name: "negative start block", args: []string{"--start-block=-1"}, wantErr: "config: start-block -1 is negative"},
		{name: "lease flags", env: []string{"MONGOTRON_LEASE_TTL=3s", "MONGOTRON_LEASE_HOLDER=ingest-0"}, check: func(t *testing.T, c app.Config) {
			require.Equal(t, 3*time.Second, c.LeaseTTL)
			require.Equal(t, "ingest-0", c.LeaseHolder)
		}},
		{name: "lease ttl too short", args: []string{"--lease.ttl=1ms"}, wantErr: "config: lease.ttl 1ms is below 30ms"},
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

// readiness is a /readyz answer.
type readiness struct {
	code   int
	Status string             `json:"status"`
	Checks map[string]string  `json:"checks"`
	Nodes  []nodes.NodeStatus `json:"nodes"`
}

func getReady(client *http.Client, a *app.App) (readiness, error) {
	var r readiness
	resp, err := client.Get("http://" + a.Addr().String() + "/readyz")
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	r.code = resp.StatusCode
	return r, json.NewDecoder(resp.Body).Decode(&r)
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
		return json.NewDecoder(resp.Body).Decode(&ready) == nil && resp.StatusCode == http.StatusOK && ready.Checks["leadership"] == "leader"
	}, 20*time.Second, 20*time.Millisecond)
	require.Equal(t, "ok", ready.Checks["node"])
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

func TestApp_readyzListsTheNodes(t *testing.T) {
	t.Parallel()
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	_, ns := simtest.StartNodes(t, sim.Config{Seed: 4, Instant: true, InitialBlocks: 5, TxsPerBlock: 5}, 2)
	cfg, err := load(t, []string{"--mongo.uri=" + m.URI(), "--nats.url=" + n.URL(), "--tron.node-urls=" + ns[0].HTTP + "," + ns[1].GRPC,
		"--poll-interval=20ms", "--http.addr=127.0.0.1:0"}, nil)
	require.NoError(t, err)
	a, err := app.New(cfg, logging.Discard())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	var r readiness
	waitReady := func(code int, ok func() bool, msg string) {
		t.Helper()
		require.Eventually(t, func() bool {
			var err error
			r, err = getReady(client, a)
			return err == nil && r.code == code && r.Checks["leadership"] == "leader" && ok()
		}, 20*time.Second, 10*time.Millisecond, "%s: last %+v", msg, r)
	}
	waitReady(http.StatusOK, func() bool {
		return len(r.Nodes) == 2 && r.Nodes[0].State == nodes.StateSelected && r.Nodes[1].State == nodes.StateOK
	}, "both nodes up")
	require.Equal(t, nodes.Label(ns[0].HTTP), r.Nodes[0].URL)
	require.Equal(t, nodes.Label(ns[1].GRPC), r.Nodes[1].URL)
	require.Positive(t, r.Nodes[1].Head)

	// The first node fails: still ready, reading from the second.
	ns[0].Endpoint.SetFaults(sim.Faults{ErrorRate: 1})
	waitReady(http.StatusOK, func() bool { return r.Nodes[0].State == nodes.StateFailing && r.Nodes[1].State == nodes.StateSelected }, "failover")
	require.NotEmpty(t, r.Nodes[0].LastError)
	require.Equal(t, "ok", r.Checks["node"])
	resp, err := client.Get("http://" + a.Addr().String() + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Contains(t, string(body), `mongotron_ingest_tron_node_selected{node="`+nodes.Label(ns[1].GRPC)+`"} 1`)
	require.Contains(t, string(body), `mongotron_ingest_tron_node_errors_total{node="`+nodes.Label(ns[0].HTTP)+`",reason="unavailable"}`)

	// Both fail: not ready.
	ns[1].Endpoint.SetFaults(sim.Faults{ErrorRate: 1})
	waitReady(http.StatusServiceUnavailable, func() bool { return r.Checks["node"] == "down" }, "every node failing")
}

func TestMain_exitStatus(t *testing.T) {
	t.Parallel()
	servicetest.ExitStatus(t, app.Main, []servicetest.Case{
		{Name: "help", Args: []string{"--help"}, Want: service.ExitOK, Out: "--tron.node-url URL   (MONGOTRON_TRON_NODE_URL)"},
		{Name: "unknown key", Env: []string{"MONGOTRON_MONGO_URL=x"}, Want: service.ExitUsage, Out: "ingest: config: unknown key MONGOTRON_MONGO_URL"},
		{Name: "listen fails", Args: []string{"--http.addr=256.0.0.1:1"}, Want: service.ExitFailure, Out: `"msg":"ingest failed"`},
		{Name: "mongo unreachable", Args: []string{"--http.addr=127.0.0.1:0", "--mongo.uri=mongodb://127.0.0.1:1/x", "--connect-timeout=300ms"}, Want: service.ExitFailure, Out: "mongo mongodb://127.0.0.1:1/x unreachable"},
		{Name: "deprecated start-timeout still works, with a warning", Args: []string{"--http.addr=127.0.0.1:0", "--mongo.uri=mongodb://127.0.0.1:1/x", "--start-timeout=300ms"}, Want: service.ExitFailure, Out: `"name":"--start-timeout","use":"--connect-timeout"`},
		{Name: "help marks start-timeout deprecated", Args: []string{"--help"}, Want: service.ExitOK, Out: "--start-timeout duration   (MONGOTRON_START_TIMEOUT)\n    \tDeprecated: use --connect-timeout (MONGOTRON_CONNECT_TIMEOUT) instead."},
	})
}

func TestMain_stopsOnCancel(t *testing.T) {
	t.Parallel()
	servicetest.StopsOnCancel(t, app.Main, depArgs(t), "following", 20*time.Second)
}

func TestApp_leaderStandby(t *testing.T) {
	t.Parallel()
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	_, url := simtest.Start(t, sim.Config{Seed: 2, Instant: true, InitialBlocks: 5, TxsPerBlock: 5})
	mongoURI := strings.TrimSuffix(m.URI(), "/") + "/ha"
	if strings.Contains(m.URI(), "?") {
		t.Skipf("unexpected URI shape %s", m.URI())
	}
	start := func(holder string) (*app.App, context.CancelFunc, chan error) {
		cfg, err := load(t, []string{"--mongo.uri=" + mongoURI, "--nats.url=" + n.URL(), "--tron.node-url=" + url,
			"--poll-interval=20ms", "--http.addr=127.0.0.1:0", "--lease.ttl=1500ms", "--lease.holder=" + holder}, nil)
		require.NoError(t, err)
		a, err := app.New(cfg, logging.Discard())
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done, finished := make(chan error, 1), make(chan struct{})
		go func() {
			defer close(finished)
			done <- a.Run(ctx)
		}()
		t.Cleanup(func() {
			cancel()
			select {
			case <-finished:
			case <-time.After(15 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
		return a, cancel, done
	}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	waitLeadership := func(a *app.App, want string) readiness {
		t.Helper()
		var r readiness
		require.Eventually(t, func() bool {
			var err error
			r, err = getReady(client, a)
			return err == nil && r.code == http.StatusOK && r.Checks["leadership"] == want
		}, 20*time.Second, 20*time.Millisecond, "leadership %s: last %+v", want, r)
		return r
	}

	a, cancelA, doneA := start("a")
	ra := waitLeadership(a, "leader")
	tokA, err := strconv.ParseInt(ra.Checks["lease_token"], 10, 64)
	require.NoError(t, err)
	b, cancelB, doneB := start("b")
	rb := waitLeadership(b, "standby")
	require.Equal(t, "b", rb.Checks["lease_holder"])
	require.Empty(t, rb.Checks["committed_block"])
	// A standby stops without touching the lease.
	cancelB()
	require.NoError(t, <-doneB)

	// SIGTERM: a commits the block in hand, releases the lease and
	// exits.
	cancelA()
	select {
	case err := <-doneA:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("a did not stop")
	}
	mc, err := mongo.Connect(options.Client().ApplyURI(mongoURI).SetMonitor(queryCheck.Monitor()))
	require.NoError(t, err)
	defer func() { _ = mc.Disconnect(context.Background()) }()
	db := mc.Database("ha")
	var lease struct {
		Holder    string    `bson:"holder"`
		Token     int64     `bson:"token"`
		ExpiresAt time.Time `bson:"expires_at"`
	}
	var cp struct {
		Block int64 `bson:"block"`
		Fence int64 `bson:"fence"`
	}
	require.NoError(t, db.Collection(store.Checkpoints).FindOne(t.Context(), bson.M{"_id": follow.CheckpointID}).Decode(&cp))
	require.Equal(t, tokA, cp.Fence)
	require.Positive(t, cp.Block)
	require.NoError(t, db.Collection(store.Leases).FindOne(t.Context(), bson.M{"_id": follow.TenureID(tokA)}).Decode(&lease))
	require.Equal(t, "a", lease.Holder)
	require.Equal(t, tokA, lease.Token)
	require.False(t, lease.ExpiresAt.After(time.Now()), "a did not release the lease")

	// The next ingest leads at once, with the next token.
	c, _, _ := start("c")
	rc := waitLeadership(c, "leader")
	tokC, err := strconv.ParseInt(rc.Checks["lease_token"], 10, 64)
	require.NoError(t, err)
	require.Greater(t, tokC, tokA)
	resp, err := client.Get("http://" + c.Addr().String() + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Contains(t, string(body), "mongotron_ingest_leader 1")
	require.Contains(t, string(body), "mongotron_ingest_lease_token "+rc.Checks["lease_token"])
}
