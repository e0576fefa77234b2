package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mongotron/mongotron/pkg/tron/tronpb"

	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/services/tronsim/sim"
)

func TestMain(m *testing.M) {
	// Run as the command itself, for the exit code tests.
	if os.Getenv("TRONSIM_RUN_MAIN") == "1" {
		os.Args = append([]string{"tronsim"}, strings.Fields(os.Getenv("TRONSIM_ARGS"))...)
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// load reads args and environ as the command does, and validates.
func load(args, environ []string) (rootConfig, error) {
	var c rootConfig
	err := service.LoadConfig(name, &c, args, environ, options()...)
	return c, err
}

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c rootConfig)
		wantErr string
	}{
		{"defaults", nil, nil, func(t *testing.T, c rootConfig) {
			require.Equal(t, "127.0.0.1:8090", c.HTTP.Addr)
			require.Equal(t, "127.0.0.1:50051", c.GRPCAddr)
			require.Equal(t, 1, c.Nodes)
			require.Equal(t, "info", c.Log.Level)
			require.Equal(t, 10*time.Second, c.HTTP.ShutdownTimeout)
			require.Equal(t, uint64(1), c.Sim.Seed)
			require.Equal(t, 300, c.Sim.TxsPerBlock)
			require.Equal(t, 3*time.Second, c.Sim.BlockInterval)
			require.True(t, c.Sim.StartTime.IsZero())
		}, ""},
		{"flags", []string{"--seed", "42", "--instant", "--txs-per-block=0", "--latency", "20ms", "--start-time", "2024-05-01T00:00:00Z"}, nil, func(t *testing.T, c rootConfig) {
			require.Equal(t, uint64(42), c.Sim.Seed)
			require.True(t, c.Sim.Instant)
			require.Equal(t, sim.NoTxs, c.simConfig().TxsPerBlock)
			require.Equal(t, 20*time.Millisecond, c.Sim.Latency)
			require.Equal(t, 2024, c.Sim.StartTime.Year())
		}, ""},
		{"environment", []string{"--seed", "7"}, map[string]string{"MONGOTRON_TRONSIM_HTTP_ADDR": "127.0.0.1:0", "MONGOTRON_TRONSIM_SEED": "8", "MONGOTRON_TRONSIM_REORG_EVERY": "5", "MONGOTRON_TRONSIM_LOG_LEVEL": "debug"}, func(t *testing.T, c rootConfig) {
			require.Equal(t, "127.0.0.1:0", c.HTTP.Addr)
			require.Equal(t, "debug", c.Log.Level)
			require.Equal(t, uint64(7), c.Sim.Seed, "the command line wins")
			require.Equal(t, 5, c.Sim.ReorgEvery)
		}, ""},
		{"nodes and grpc", []string{"--nodes", "3", "--grpc.addr", "127.0.0.1:6000"}, nil, func(t *testing.T, c rootConfig) {
			require.Equal(t, 3, c.Nodes)
			require.Equal(t, "127.0.0.1:6000", c.GRPCAddr)
		}, ""},
		{"nodes and grpc from the environment", nil, map[string]string{"MONGOTRON_TRONSIM_NODES": "2", "MONGOTRON_TRONSIM_GRPC_ADDR": ""}, func(t *testing.T, c rootConfig) {
			require.Equal(t, 2, c.Nodes)
			require.Empty(t, c.GRPCAddr, "empty: no gRPC")
		}, ""},
		{"too many nodes", []string{"--nodes", "65"}, nil, nil, "nodes 65: want 1 to 64"},
		{"negative nodes", []string{"--nodes", "-1"}, nil, nil, "nodes -1"},
		{"nodes past the last port", []string{"--nodes", "3", "--grpc.addr", "127.0.0.1:65534"}, nil, nil, "grpc.addr: \"127.0.0.1:65534\": node 2 would listen past port 65535"},
		{"bad grpc address", []string{"--grpc.addr", "50051"}, nil, nil, "grpc.addr"},
		{"unknown flag", []string{"--nope"}, nil, nil, "flag provided but not defined"},
		{"malformed flag", []string{"--seed", "x"}, nil, nil, "invalid value"},
		{"malformed env", nil, map[string]string{"MONGOTRON_TRONSIM_LATENCY": "soon"}, nil, "MONGOTRON_TRONSIM_LATENCY"},
		{"misspelt env", nil, map[string]string{"MONGOTRON_TRONSIM_SEEED": "3"}, nil, "config: unknown key MONGOTRON_TRONSIM_SEEED: no flag of this program reads it"},
		{"other programs' env ignored", nil, map[string]string{"MONGOTRON_EDGE_ADDR": ":1", "MONGOTRON_HTTP_ADDR": ":2", "MONGOTRON_SEED": "9", "PATH": "/bin"}, func(t *testing.T, c rootConfig) {
			require.Equal(t, "127.0.0.1:8090", c.HTTP.Addr)
			require.Equal(t, uint64(1), c.Sim.Seed)
		}, ""},
		// pkg/config's rule, where the simulator used to skip an empty
		// variable: set but empty is a value.
		{"empty env is a value", nil, map[string]string{"MONGOTRON_TRONSIM_BLOCKS": ""}, func(t *testing.T, c rootConfig) {
			require.Empty(t, c.Sim.BlocksDir)
		}, ""},
		{"empty env is a malformed number", nil, map[string]string{"MONGOTRON_TRONSIM_SEED": ""}, nil, `MONGOTRON_TRONSIM_SEED="": invalid uint value for flag --seed`},
		{"deprecated addr and log-level flags", []string{"--addr", "127.0.0.1:0", "--log-level", "warn"}, nil, func(t *testing.T, c rootConfig) {
			require.Equal(t, "127.0.0.1:0", c.HTTP.Addr)
			require.Equal(t, "warn", c.Log.Level)
		}, ""},
		{"deprecated addr variable", nil, map[string]string{"MONGOTRON_TRONSIM_ADDR": "127.0.0.1:1"}, func(t *testing.T, c rootConfig) {
			require.Equal(t, "127.0.0.1:1", c.HTTP.Addr)
		}, ""},
		{"http.addr wins over the deprecated variable", nil, map[string]string{"MONGOTRON_TRONSIM_ADDR": "127.0.0.1:1", "MONGOTRON_TRONSIM_HTTP_ADDR": "127.0.0.1:2"}, func(t *testing.T, c rootConfig) {
			require.Equal(t, "127.0.0.1:2", c.HTTP.Addr)
		}, ""},
		{"both names on the command line", []string{"--addr", ":1", "--http.addr", ":2"}, nil, nil, "--addr and --http.addr name the same setting"},
		{"argument", []string{"serve"}, nil, nil, "unexpected argument"},
		{"trap and finality defaults", nil, nil, func(t *testing.T, c rootConfig) {
			require.InDelta(t, sim.DefaultTrapRate, c.Sim.TrapRate, 0)
			require.Equal(t, sim.SolidDepth, c.Sim.SolidLag)
			require.False(t, c.Sim.NoInternalTxs)
		}, ""},
		{"zero means none on the command line", []string{"--trap-rate", "0", "--solid-lag", "0"}, nil, func(t *testing.T, c rootConfig) {
			require.InDelta(t, float64(sim.NoTraps), c.simConfig().TrapRate, 0)
			require.Equal(t, sim.NoSolidLag, c.simConfig().SolidLag)
		}, ""},
		{"zero solid lag is checked as none", []string{"--solid-lag", "0", "--reorg-every", "5"}, nil, nil, "reorg depth 1: deeper than the solid lag 0"},
		{"trap flags", []string{"--trap-rate", "0.5", "--no-internal-tx", "--solid-lag", "7", "--reorg-every", "3", "--reorg-depth", "7"}, nil, func(t *testing.T, c rootConfig) {
			require.InDelta(t, 0.5, c.Sim.TrapRate, 0)
			require.True(t, c.Sim.NoInternalTxs)
			require.Equal(t, 7, c.Sim.SolidLag)
		}, ""},
		{"trap flags from the environment", nil, map[string]string{"MONGOTRON_TRONSIM_TRAP_RATE": "1", "MONGOTRON_TRONSIM_NO_INTERNAL_TX": "true", "MONGOTRON_TRONSIM_SOLID_LAG": "4"}, func(t *testing.T, c rootConfig) {
			require.InDelta(t, 1.0, c.Sim.TrapRate, 0)
			require.True(t, c.Sim.NoInternalTxs)
			require.Equal(t, 4, c.Sim.SolidLag)
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var environ []string
			for k, v := range tc.env {
				environ = append(environ, k+"="+v)
			}
			c, err := load(tc.args, environ)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
	_, err := load([]string{"-h"}, nil)
	require.ErrorIs(t, err, flag.ErrHelp)
}

func TestMain_ExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     string
		wantCode int
	}{
		{"unknown flag", "--bogus", 2},
		{"malformed flag", "--error-rate=lots", 2},
		{"invalid config", "--error-rate=2", 2},
		{"reorg below the solidified block", "--reorg-every=5 --reorg-depth=20", 2},
		{"trap rate above 1", "--trap-rate=2", 2},
		{"help", "-h", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "TRONSIM_RUN_MAIN=1", "TRONSIM_ARGS="+tc.args)
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.wantCode, code, string(out))
			if tc.args == "-h" {
				for _, want := range []string{"--trap-rate float   (MONGOTRON_TRONSIM_TRAP_RATE)", "-no-internal-tx", "-solid-lag", "GET  /sim/traps?from=&to=&kind=", "poisoning", "constant_calls",
					"--http.addr address   (MONGOTRON_TRONSIM_HTTP_ADDR)",
					"--grpc.addr address   (MONGOTRON_TRONSIM_GRPC_ADDR)", "--nodes int   (MONGOTRON_TRONSIM_NODES)", "POST /sim/faults",
					"--addr address   (MONGOTRON_TRONSIM_ADDR)\n    \tDeprecated: use --http.addr (MONGOTRON_TRONSIM_HTTP_ADDR) instead.",
					"--log-level string\n    \tDeprecated: use --log.level instead."} {
					require.Contains(t, string(out), want)
				}
			}
			if tc.wantCode == 2 {
				lines := strings.Split(strings.TrimSpace(string(out)), "\n")
				require.Len(t, lines, 1, string(out))
				require.True(t, strings.HasPrefix(lines[0], "tronsim: "), lines[0])
			}
		})
	}
}

func TestListen_ReadHeaderTimeout(t *testing.T) {
	t.Parallel()
	srv, err := listen(service.HTTPConfig{Addr: "127.0.0.1:0"}, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer func() { require.NoError(t, srv.Close()) }()
	require.Equal(t, sim.ReadHeaderTimeout, srv.Server().ReadHeaderTimeout)
}

func TestRun_ServesAndShutsDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	c, err := load([]string{"--http.addr", addr, "--grpc.addr", "", "--txs-per-block", "5", "--block-interval", "10ms", "--initial-blocks", "3"}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, c, slog.New(slog.DiscardHandler)) }()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	require.Eventually(t, func() bool {
		resp, err := client.Get("http://" + addr + "/sim/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// nodeLog collects the addresses run logs for each node.
type nodeLog struct {
	mu    sync.Mutex
	nodes map[int64][2]string
}

func (h *nodeLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *nodeLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *nodeLog) WithGroup(string) slog.Handler            { return h }

func (h *nodeLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "tronsim node" {
		return nil
	}
	var i int64
	var addrs [2]string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "node":
			i = a.Value.Int64()
		case "http":
			addrs[0] = a.Value.String()
		case "grpc":
			addrs[1] = a.Value.String()
		}
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nodes[i] = addrs
	return nil
}

func (h *nodeLog) get() map[int64][2]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.nodes)
}

// TestRun_Nodes serves one chain as two nodes over HTTP and gRPC: a fault
// set on one node shows on that node only, over both.
func TestRun_Nodes(t *testing.T) {
	t.Parallel()
	c, err := load([]string{"--http.addr", "127.0.0.1:0", "--grpc.addr", "127.0.0.1:0", "--nodes", "2", "--instant", "--initial-blocks", "30", "--txs-per-block", "3"}, nil)
	require.NoError(t, err)
	logs := &nodeLog{nodes: map[int64][2]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, c, slog.New(logs)) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("run did not return after cancel")
		}
	}()
	require.Eventually(t, func() bool { return len(logs.get()) == 2 }, 10*time.Second, 10*time.Millisecond)
	nodes := logs.get()
	require.NotEqual(t, nodes[0][0], nodes[1][0])
	require.NotEqual(t, nodes[0][1], nodes[1][1])

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	post := func(url, body string) []byte {
		resp, err := client.Post(url, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		return b
	}
	post(nodes[1][0]+"/sim/faults", `{"lag":4}`)
	heads := make([]int64, 2)
	for i := range heads {
		var b struct {
			BlockHeader struct {
				RawData struct{ Number int64 } `json:"raw_data"`
			} `json:"block_header"`
		}
		require.NoError(t, json.Unmarshal(post(nodes[int64(i)][0]+"/wallet/getnowblock", "{}"), &b))
		heads[i] = b.BlockHeader.RawData.Number

		conn, err := grpc.NewClient(nodes[int64(i)][1], grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		now, err := tronpb.NewWalletClient(conn).GetNowBlock2(ctx, &tronpb.EmptyMessage{})
		require.NoError(t, err)
		require.NoError(t, conn.Close())
		require.Equal(t, heads[i], now.GetBlockHeader().GetRawData().GetNumber(), "node %d over gRPC", i)
	}
	require.Equal(t, heads[0]-4, heads[1])
}
