package bench

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// buildBinaries builds the edge and loadgen commands into a temporary
// directory, as edgebench does without --edge and --loadgen.
func buildBinaries(t *testing.T) (edge, loadgen string) {
	t.Helper()
	dir := t.TempDir()
	edge, loadgen = filepath.Join(dir, "edge"), filepath.Join(dir, "loadgen")
	for bin, pkg := range map[string]string{
		edge:    "github.com/mongotron/mongotron/services/edge",
		loadgen: "github.com/mongotron/mongotron/services/loadgen",
	} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		require.NoError(t, err, "go build %s: %s", pkg, out)
	}
	return edge, loadgen
}

// TestRunner_Run runs every scenario at a tiny scale against a real edge
// process: it checks the harness's plumbing and accounting, not the
// edge's speed (figures come from `make bench-edge`).
func TestRunner_Run(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the edge")
	}
	edge, loadgen := buildBinaries(t)
	var log bytes.Buffer
	r, err := New(Config{
		EdgeBin: edge, LoadgenBin: loadgen,
		Streams: 20, Subscriptions: 4, Rate: 500, Duration: 2 * time.Second,
		IdleStreams: 20, IdleSettle: 500 * time.Millisecond,
		ReplayEvents: 300, LocalAddrs: 3, ConnectRate: 200,
		Log: &log,
	})
	require.NoError(t, err)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, r.Run(ctx), "log:\n%s", log.String())
	res := r.Results()

	f := res.Fanout
	require.NotNil(t, f)
	require.Equal(t, 20, f.Connected)
	require.Positive(t, f.Published)
	require.Equal(t, f.Expected, f.Delivered, "every published event reaches each of its subscription's streams")
	require.Equal(t, f.Delivered, f.Latency.Count)
	require.Zero(t, f.OutOfOrder)
	require.Empty(t, f.Closes)
	require.Positive(t, f.CPUPerMessage)
	require.Positive(t, f.EdgeRSS)

	i := res.Idle
	require.NotNil(t, i)
	require.Equal(t, 20, i.Connected)
	require.Positive(t, i.RSSAfter)

	p := res.Replay
	require.NotNil(t, p)
	require.EqualValues(t, 300, p.Delivered)
	require.Equal(t, ReplayJetStream, p.Source, "a resume within the stream's hour is served by it")
	require.Zero(t, p.OutOfOrder)
	require.Positive(t, p.Rate)

	var table strings.Builder
	require.NoError(t, WriteTable(&table, res))
	for _, want := range []string{"delivered msg/s", "edge RSS per stream", "events/s"} {
		require.Contains(t, table.String(), want)
	}
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"valid", Config{EdgeBin: "e", LoadgenBin: "l"}, ""},
		{"no binaries", Config{}, "edge binary is required"},
		{"bad scenario", Config{EdgeBin: "e", LoadgenBin: "l", Scenarios: []string{"soak"}}, `scenario "soak"`},
		{"negative", Config{EdgeBin: "e", LoadgenBin: "l", Streams: -1}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
