package devstack_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/services/devstack/internal/devstack"
)

func TestNew_PortInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	taken := ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port
	// Ours: Linux names the process holding the port.
	holder := ""
	if runtime.GOOS == "linux" {
		holder = fmt.Sprintf("address already in use by pid %d", os.Getpid())
	}
	free := freePort(t)

	tests := []struct {
		name string
		set  map[string]string
		want []string
	}{
		{"http", map[string]string{"http.addr": taken}, []string{"edge-1 cannot listen on " + taken + " (--http.addr)", holder}},
		{"second edge", map[string]string{"http.addr": "127.0.0.1:" + strconv.Itoa(port-1)}, []string{"edge-2 cannot listen on " + taken + " (--http.addr)", holder}},
		{"nats", map[string]string{"nats-addr": taken}, []string{"nats cannot listen on " + taken + " (--nats-addr)", holder}},
		{"mongo", map[string]string{"mongo-addr": taken}, []string{"ferretdb cannot listen on " + taken + " (--mongo-addr)", holder}},
		{"sim", map[string]string{"sim-addr": taken}, []string{"tronsim cannot listen on " + taken + " (--sim-addr)", holder}},
		{"sim gRPC", map[string]string{"sim-grpc-addr": taken}, []string{"tronsim gRPC cannot listen on " + taken + " (--sim-grpc-addr)", holder}},
		{"second sim node", map[string]string{"sim-addr": "127.0.0.1:" + strconv.Itoa(port-1), "tron-nodes": "2"}, []string{"tronsim node 2 cannot listen on " + taken + " (--sim-addr)", holder}},
		{"ingest", map[string]string{"ingest-addr": taken}, []string{"ingest cannot listen on " + taken + " (--ingest-addr)", holder}},
		{"two parts, one port", map[string]string{"sim-addr": free, "ingest-addr": free}, []string{"ingest cannot listen on " + free + " (--ingest-addr): tronsim listens on port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"--bin", binDir, "--data", t.TempDir(), "--edges", "2"}
			for _, f := range []string{"http.addr", "nats-addr", "mongo-addr", "sim-addr", "sim-grpc-addr", "ingest-addr"} {
				v, ok := tt.set[f]
				if !ok {
					v = "127.0.0.1:0"
				}
				args = append(args, "--"+f, v)
			}
			if n, ok := tt.set["tron-nodes"]; ok {
				args = append(args, "--tron-nodes", n)
			}
			var stdout, stderr bytes.Buffer
			code := devstack.Main(context.Background(), args, &stdout, &stderr)
			require.NotZero(t, code)
			require.Empty(t, stdout.String())
			out := stderr.String()
			require.Equal(t, 1, strings.Count(out, "\n"), "one line: %q", out)
			for _, w := range tt.want {
				require.Contains(t, out, w)
			}
		})
	}
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}
