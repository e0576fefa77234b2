package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/pkg/service/servicetest"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

// simEvents decodes blocks from to to of s directly, as the command should.
func simEvents(t *testing.T, s *sim.Sim, from, to int64) []event.Event {
	t.Helper()
	dec := decode.NewDecoder(decode.DecoderConfig{})
	var out []event.Event
	for n := from; n <= to; n++ {
		b, infos, err := s.Block(n)
		require.NoError(t, err)
		evs, err := dec.DecodeBlock(&b, infos)
		require.NoError(t, err)
		out = append(out, evs...)
	}
	return out
}

func TestDecode_nodeRange(t *testing.T) {
	t.Parallel()
	s, url := simtest.Start(t, sim.Config{Seed: 7, TxsPerBlock: 30, InitialBlocks: 130, Instant: true})
	first, head := s.First(), func() int64 { h, _ := s.Head(); return h }()
	require.Equal(t, first+129, head)

	// More than one getblockbylimitnext batch, so batches are joined.
	from, to := first+3, head-2
	r := run(t.Context(), t, nil, "decode", "--node", url, "--from", strconv.FormatInt(from, 10), "--to", strconv.FormatInt(to, 10))
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	require.Empty(t, r.stderr)
	got := events(t, r.stdout)
	want := simEvents(t, s, from, to)
	require.Greater(t, len(want), 1000)
	requireOutput(t, want, r.stdout)
	requireChainOrder(t, got)
	require.Equal(t, from, got[0].Block.Number)
	require.Equal(t, to, got[len(got)-1].Block.Number)

	t.Run("from alone is one block", func(t *testing.T) {
		t.Parallel()
		r := run(t.Context(), t, nil, "decode", "--node", url, "--from", strconv.FormatInt(head, 10))
		require.Equal(t, service.ExitOK, r.code, r.stderr)
		requireOutput(t, simEvents(t, s, head, head), r.stdout)
	})
	t.Run("past the head is bad input", func(t *testing.T) {
		t.Parallel()
		r := run(t.Context(), t, nil, "decode", "--node", url, "--from", strconv.FormatInt(head, 10), "--to", strconv.FormatInt(head+5, 10))
		require.Equal(t, service.ExitUsage, r.code, r.stderr)
		require.Contains(t, r.stderr, "is past the node's head")
		require.Empty(t, r.stdout)
	})
}

func TestDecode_nodeRange_faults(t *testing.T) {
	t.Parallel()
	// The client's retries absorb a flaky node.
	s, url := simtest.Start(t, sim.Config{Seed: 3, TxsPerBlock: 10, InitialBlocks: 20, Instant: true, ErrorRate: 0.1})
	first := s.First()
	r := run(t.Context(), t, nil, "decode", "--node", url, "--from", strconv.FormatInt(first, 10), "--to", strconv.FormatInt(first+19, 10))
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	requireOutput(t, simEvents(t, s, first, first+19), r.stdout)
}

// lastBlock returns the block number of the last complete line of out, or
// -1.
func lastBlock(t *testing.T, out string) int64 {
	t.Helper()
	out = out[:strings.LastIndexByte(out, '\n')+1]
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[len(lines)-1] == "" {
		return -1
	}
	var e event.Event
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &e))
	return e.Block.Number
}

func TestDecode_follow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fromFirst bool
	}{
		{name: "from the head"},
		{name: "from an earlier block", fromFirst: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, url := simtest.Start(t, sim.Config{Seed: 11, TxsPerBlock: 20, InitialBlocks: 5, Instant: true})
			head, _ := s.Head()
			start := head
			args := []string{"decode", "--node", url, "--follow", "--poll-interval", "20ms"}
			if tc.fromFirst {
				start = s.First()
				args = append(args, "--from", strconv.FormatInt(start, 10))
			}

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var stdout, stderr servicetest.SyncBuffer
			done := make(chan int, 1)
			go func() { done <- Run(ctx, args, nil, &stdout, &stderr) }()

			require.Eventually(t, func() bool { return lastBlock(t, stdout.String()) == head }, 10*time.Second, 5*time.Millisecond, "stderr: %s", stderr.String())
			// Several blocks between two polls: none may be skipped.
			end := s.Mine(4)
			require.Equal(t, head+4, end)
			require.Eventually(t, func() bool { return lastBlock(t, stdout.String()) == end }, 10*time.Second, 5*time.Millisecond, "stderr: %s", stderr.String())
			end = s.Mine(1)
			require.Eventually(t, func() bool { return lastBlock(t, stdout.String()) == end }, 10*time.Second, 5*time.Millisecond, "stderr: %s", stderr.String())

			cancel()
			select {
			case code := <-done:
				require.Equal(t, service.ExitOK, code, stderr.String())
			case <-time.After(10 * time.Second):
				t.Fatal("follow did not stop after cancel")
			}
			require.Empty(t, stderr.String())
			requireOutput(t, simEvents(t, s, start, end), stdout.String())
		})
	}
}

func TestDecode_follow_reorg(t *testing.T) {
	t.Parallel()
	s, url := simtest.Start(t, sim.Config{Seed: 5, TxsPerBlock: 5, InitialBlocks: 3, Instant: true})
	head, _ := s.Head()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr servicetest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"decode", "--node", url, "--follow", "--poll-interval", "20ms"}, nil, &stdout, &stderr)
	}()
	require.Eventually(t, func() bool { return lastBlock(t, stdout.String()) == head }, 10*time.Second, 5*time.Millisecond, "stderr: %s", stderr.String())
	require.NoError(t, s.Reorg(1))
	end := s.Mine(1)
	require.Eventually(t, func() bool { return lastBlock(t, stdout.String()) == end }, 10*time.Second, 5*time.Millisecond, "stderr: %s", stderr.String())
	cancel()
	require.Equal(t, service.ExitOK, <-done)
	require.Contains(t, stderr.String(), "the chain reorganised")
}

func TestDecode_follow_nodeDown(t *testing.T) {
	t.Parallel()
	r := run(t.Context(), t, nil, "decode", "--node", "http://127.0.0.1:1", "--follow", "--timeout", "1s")
	require.Equal(t, service.ExitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "mongotron decode: node head: ")
}

// TestDecode_replayReproducesRecordedBlocks is the foundation's promise:
// tronsim serving recorded blocks, read back through the node API, gives
// byte for byte what decoding the recorded files directly gives. The block
// is real (mainnet 43811922); its recording has no infos, which the range
// mode reports and decodes around.
func TestDecode_replayReproducesRecordedBlocks(t *testing.T) {
	t.Parallel()
	blockJSON, err := os.ReadFile(fixture(t, blockFixture))
	require.NoError(t, err)
	dir := t.TempDir()
	rec := `{"block":` + string(blockJSON) + `,"transaction_info":[]}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "43811922.json"), []byte(rec), 0o644))
	_, url := simtest.Start(t, sim.Config{BlocksDir: dir, Instant: true})

	viaNode := run(t.Context(), t, nil, "decode", "--node", url, "--from", "43811922", "--to", "43811922")
	require.Equal(t, service.ExitOK, viaNode.code, viaNode.stderr)
	require.Contains(t, viaNode.stderr, "0 transaction infos for 198 transactions")
	offline := run(t.Context(), t, nil, "decode", "--block", fixture(t, blockFixture))
	require.Equal(t, service.ExitOK, offline.code, offline.stderr)
	require.Equal(t, offline.stdout, viaNode.stdout)
	require.Len(t, events(t, viaNode.stdout), 198)
}
