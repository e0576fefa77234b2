package chaos_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/devstack/internal/chaos"
)

// startHarness starts the system for t and stops it on cleanup; when t
// failed, the cleanup writes every log line to a file that outlives the
// test and shows its tail.
func startHarness(t testing.TB, cfg chaos.Config) *chaos.Harness {
	t.Helper()
	cfg.BinDir = binDir
	cfg.Dir = t.TempDir()
	cfg.Logs = &chaos.Logs{}
	began := time.Now()
	h, err := chaos.Start(cfg)
	if err != nil {
		dumpLogs(t, cfg.Logs)
		t.Fatal(err)
	}
	t.Logf("system up in %s", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() {
		h.Close()
		if t.Failed() {
			dumpLogs(t, h.Logs)
		}
	})
	return h
}

// dumpLogs writes the logs to a file in the system's temporary directory
// and shows their tail.
func dumpLogs(t testing.TB, logs *chaos.Logs) {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	path := filepath.Join(os.TempDir(), fmt.Sprintf("chaos-%s-%d.log", name, time.Now().Unix()))
	if err := os.WriteFile(path, []byte(logs.String()), 0o644); err != nil {
		t.Logf("writing the logs: %v", err)
	}
	t.Logf("every log line is in %s; the tail:\n%s", path, logs.Tail(12000))
}

// ctx returns a context for t's REST calls, bounded by d.
func ctx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

// fleet is a test's streaming clients.
type fleet struct {
	clients []*chaos.Client
}

func (f *fleet) start(cfg chaos.ClientConfig) *chaos.Client {
	c := chaos.StartClient(cfg)
	f.clients = append(f.clients, c)
	return c
}

// stop stops every client; safe to call twice.
func (f *fleet) stop() {
	for _, c := range f.clients {
		c.Stop()
	}
}

// counts returns each client's number of events received.
func (f *fleet) counts() []int {
	out := make([]int, len(f.clients))
	for i, c := range f.clients {
		out[i] = c.Count()
	}
	return out
}

// progressed reports whether every client has received at least n events
// more than in before.
func (f *fleet) progressed(before []int, n int) bool {
	for i, c := range f.clients {
		if c.Count() < before[i]+n {
			return false
		}
	}
	return true
}

// laggards names the clients that have not received n events more than
// in before.
func (f *fleet) laggards(before []int, n int) string {
	var out []string
	for i, c := range f.clients {
		if got := c.Count() - before[i]; got < n {
			edge, live := c.Live()
			out = append(out, fmt.Sprintf("%s (+%d, live %v on edge-%d)", c.Name(), got, live, edge+1))
		}
	}
	return strings.Join(out, ", ")
}

// checkAll waits until every client and the receiver have caught up with
// the history, stops the clients, and checks each against the history.
func checkAll(t testing.TB, h *chaos.Harness, f *fleet, rcv *chaos.Receiver, hooks []chaos.Sub) chaos.Report {
	t.Helper()
	targets, waitErr := h.WaitCaughtUp(ctx(t, 2*time.Minute), 90*time.Second, f.clients, rcv, hooks)
	f.stop()
	// Checked even when some did not catch up: the evidence says what
	// they missed.
	r, err := h.Check(ctx(t, 2*time.Minute), f.clients, rcv, hooks, targets)
	require.NoError(t, err)
	for _, v := range r.Failures() {
		t.Errorf("%s", v)
	}
	if waitErr != nil {
		t.Error(waitErr)
	}
	ends := map[int]int{}
	for _, c := range f.clients {
		for _, e := range c.Ends() {
			ends[e.Code]++
		}
	}
	t.Logf("checked %d streams (%d events delivered; stream ends by close code %v) and %d webhook subscriptions (%d deliveries, %d repeats): lost %d, stream duplicates %d",
		len(r.Streams), r.Delivered, ends, len(r.Webhooks), r.HookDeliveries, r.HookDuplicates, r.Lost, r.StreamDuplicates)
	return r
}

// scenario is a running system with an API key, subscriptions, and the
// test's clients.
type scenario struct {
	h    *chaos.Harness
	key  string
	subs map[string]chaos.Sub
	rcv  *chaos.Receiver
	// hooks are the subscriptions with a webhook to rcv.
	hooks []chaos.Sub
	f     *fleet
}

// newScenario starts the system and creates the subscriptions named (see
// chaos.SubBody); those in hooked get a webhook to the scenario's
// receiver.
func newScenario(t testing.TB, cfg chaos.Config, names []string, hooked ...string) *scenario {
	t.Helper()
	s := &scenario{h: startHarness(t, cfg), subs: map[string]chaos.Sub{}, f: &fleet{}}
	s.rcv = chaos.StartReceiver()
	// Cleanups run last first: the clients stop before the receiver
	// and the system.
	t.Cleanup(s.rcv.Close)
	t.Cleanup(s.f.stop)
	var err error
	s.key, err = s.h.CreateKey(ctx(t, 30*time.Second), "chaos")
	require.NoError(t, err)
	for _, n := range names {
		hook := ""
		if slices.Contains(hooked, n) {
			hook = s.rcv.URL()
		}
		sub, err := s.h.CreateSubscription(ctx(t, 30*time.Second), s.key, n, chaos.SubBody(n, hook))
		require.NoError(t, err)
		s.subs[n] = sub
		if hook != "" {
			s.hooks = append(s.hooks, sub)
		}
	}
	return s
}

// client starts a client of the subscription named sub, first on edge.
func (s *scenario) client(name, sub string, edge int, mod ...func(*chaos.ClientConfig)) *chaos.Client {
	cfg := chaos.ClientConfig{Name: name, Sub: s.subs[sub], Edges: s.h.EdgeURLs(), Edge: edge, Logs: s.h.Logs}
	for _, m := range mod {
		m(&cfg)
	}
	return s.f.start(cfg)
}

// flow waits until every client has received n more events than when
// it was called, or fails t after total.
func (s *scenario) flow(t testing.TB, what string, n int, total time.Duration) {
	t.Helper()
	s.flowOf(t, s.f, what, n, total)
}

// flowOf is flow for the clients of f only.
func (s *scenario) flowOf(t testing.TB, f *fleet, what string, n int, total time.Duration) {
	t.Helper()
	before := f.counts()
	began := time.Now()
	testenv.WaitFor(t, total, func() bool { return f.progressed(before, n) }, "%s: every client gets %d more events; behind: %s", what, n, f.laggards(before, n))
	s.h.Logs.Logf("chaos", "%s: every client got %d more events in %s", what, n, time.Since(began).Round(time.Millisecond))
	t.Logf("%s: every client got %d more events in %s", what, n, time.Since(began).Round(time.Millisecond))
}

// edgeCounter is the value of one series of edge e's counters, kills
// included.
func edgeCounter(t testing.TB, h *chaos.Harness, e int, series string) float64 {
	t.Helper()
	c, err := h.EdgeCounters(e)
	require.NoError(t, err)
	return c[series]
}

// ends returns how many of each client's streams have ended so far.
func (f *fleet) ends() []int {
	out := make([]int, len(f.clients))
	for i, c := range f.clients {
		out[i] = len(c.Ends())
	}
	return out
}

// logCounters logs the edges' stream counters of the live path's faults.
func logCounters(t testing.TB, h *chaos.Harness) {
	t.Helper()
	c, unscraped, err := h.AllEdgeCounters()
	if err != nil {
		t.Logf("edge counters: %v", err)
	}
	t.Logf("edges: gaps %v, events filled %g, nats disconnects %g, reconnects %g, broker-loss closes %g, closes by code %v, live repeats %g (unscraped kills %d)",
		c.Labelled("mongotron_edge_stream_gaps_total"), c["mongotron_edge_stream_events_filled_total"],
		c["mongotron_edge_stream_nats_disconnects_total"], c["mongotron_edge_stream_nats_reconnects_total"],
		c["mongotron_edge_stream_broker_loss_closes_total"], c.Labelled("mongotron_edge_stream_closes_total"),
		c["mongotron_edge_stream_live_repeats_total"], unscraped)
}
