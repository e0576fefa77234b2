// Command soak runs the whole Mongotron system on this machine (see
// package chaos: a 3-node NATS cluster, a restartable FerretDB, the chain
// simulator, one ingest, two edges) under streaming and webhook load for
// a while, injecting random faults one after another: NATS node kills and
// restarts, cuts of an edge's link to NATS (within the broker grace and
// past it), store outages, edge and ingest SIGKILLs and restarts. Every
// 10 s it prints a progress line. At the end it lets everything catch up
// and checks every stream client and the webhook receiver against the
// stored history, prints the figures, and exits 1 if an event was lost or
// a stream got one twice (webhooks are at least once: their repeats are
// counted, not failed).
//
//	go run ./services/devstack/cmd/soak --duration 10m
//
// It must run inside the repository (it builds the binaries with the go
// command) unless --bin names a directory of prebuilt ones. Ctrl-C ends
// the faults early and goes on to the check.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/devstack/internal/chaos"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is the command's flags.
type config struct {
	duration      time.Duration
	seed          uint64
	clients       int
	grace         time.Duration
	pause         time.Duration
	blockInterval time.Duration
	txsPerBlock   int
	bin           string
	logFile       string
	catchUp       time.Duration
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&c.duration, "duration", 10*time.Minute, "how long faults are injected, before the final check")
	fs.Uint64Var(&c.seed, "seed", 0, "seed of the fault schedule (0: from the clock); printed, to replay a run")
	fs.IntVar(&c.clients, "clients", 30, "streaming clients, spread over the subscriptions and the edges")
	fs.DurationVar(&c.grace, "grace", 3*time.Second, "the edges' --stream.broker-grace; link cuts are drawn shorter than it and longer")
	fs.DurationVar(&c.pause, "pause", 6*time.Second, "mean time under load between the end of one fault and the next")
	fs.DurationVar(&c.blockInterval, "block-interval", chaos.DefaultBlockInterval, "the simulator's time between blocks")
	fs.IntVar(&c.txsPerBlock, "txs-per-block", chaos.DefaultTxsPerBlock, "the simulator's mean transactions per block")
	fs.StringVar(&c.bin, "bin", "", "directory of prebuilt ingest, edge and tronsim binaries (empty: build them)")
	fs.StringVar(&c.logFile, "log-file", "", "file that receives every log line of the children and the harness (empty: one in the temporary directory)")
	fs.DurationVar(&c.catchUp, "catch-up", 3*time.Minute, "how long the clients and the receiver may take to catch up once the faults stop")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("soak: unexpected arguments %q", fs.Args())
	}
	var errs []string
	if c.duration <= 0 {
		errs = append(errs, "--duration must be positive")
	}
	if c.clients < 1 {
		errs = append(errs, "--clients must be at least 1")
	}
	if c.grace < 2*time.Second {
		errs = append(errs, "--grace must be at least 2s, so that a cut can be shorter than it")
	}
	if c.pause <= 0 {
		errs = append(errs, "--pause must be positive")
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("soak: %s", strings.Join(errs, "; "))
	}
	if c.seed == 0 {
		c.seed = uint64(time.Now().UnixNano())
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parse(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, err)
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := setUp(cfg, stdout)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	defer s.close()
	return s.soak(ctx)
}

// soak is a run: the system, its load and the fault schedule.
type soak struct {
	cfg     config
	out     io.Writer
	rng     *rand.Rand
	h       *chaos.Harness
	logFile *os.File
	binTmp  string
	rcv     *chaos.Receiver
	hooks   []chaos.Sub
	subs    map[string]chaos.Sub
	clients []*chaos.Client

	mu     sync.Mutex
	faults map[string]int
}

// Fault kinds as the soak counts them.
const (
	faultNATS       = "nats_node_kill_restart"
	faultCutShort   = "edge_link_cut_within_grace"
	faultCutLong    = "edge_link_cut_past_grace"
	faultStore      = "store_outage"
	faultEdgeKill   = "edge_sigkill_restart"
	faultIngestKill = "ingest_sigkill_restart"
)

// faultWeights is how often each fault is drawn, relative to the others.
var faultWeights = []struct {
	kind   string
	weight int
}{
	{faultNATS, 3}, {faultCutShort, 2}, {faultCutLong, 2}, {faultStore, 2}, {faultEdgeKill, 2}, {faultIngestKill, 2},
}

func setUp(cfg config, out io.Writer) (_ *soak, err error) {
	s := &soak{cfg: cfg, out: out, rng: rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15)), faults: map[string]int{}, subs: map[string]chaos.Sub{}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	path := cfg.logFile
	if path == "" {
		path = filepath.Join(os.TempDir(), fmt.Sprintf("mongotron-soak-%s.log", time.Now().Format("20060102-150405")))
	}
	if s.logFile, err = os.Create(path); err != nil {
		return nil, fmt.Errorf("soak: log file: %w", err)
	}
	s.printf("soak: seed %d, duration %s, %d clients, broker grace %s; logs in %s", cfg.seed, cfg.duration, cfg.clients, cfg.grace, path)

	bin := cfg.bin
	if bin == "" {
		if s.binTmp, err = os.MkdirTemp("", "mongotron-soak-bin-*"); err != nil {
			return nil, fmt.Errorf("soak: %w", err)
		}
		bin = s.binTmp
		began := time.Now()
		if err := chaos.Build(bin); err != nil {
			return nil, err
		}
		s.printf("soak: binaries built in %s", time.Since(began).Round(time.Second))
	}
	logs := &chaos.Logs{Max: 8 << 20, Tee: s.logFile}
	if s.h, err = chaos.Start(chaos.Config{
		BinDir: bin, Logs: logs, BlockInterval: cfg.blockInterval, TxsPerBlock: cfg.txsPerBlock,
		BrokerGrace: []time.Duration{cfg.grace, cfg.grace},
	}); err != nil {
		return nil, err
	}
	s.printf("soak: system up: edges %s, ingest %s", strings.Join(s.h.EdgeURLs(), " "), s.h.IngestURL)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key, err := s.h.CreateKey(ctx, "soak")
	if err != nil {
		return nil, err
	}
	s.rcv = chaos.StartReceiver()
	for _, name := range []string{chaos.SubTRX, chaos.SubStaking, chaos.SubTRC10} {
		hook := ""
		if name != chaos.SubTRX {
			hook = s.rcv.URL()
		}
		sub, err := s.h.CreateSubscription(ctx, key, name, chaos.SubBody(name, hook))
		if err != nil {
			return nil, err
		}
		s.subs[name] = sub
		if hook != "" {
			s.hooks = append(s.hooks, sub)
		}
	}
	return s, nil
}

func (s *soak) printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	fmt.Fprintln(s.out, line)
	if s.h != nil {
		s.h.Logs.Logf("soak", "%s", line)
	}
}

func (s *soak) close() {
	for _, c := range s.clients {
		c.Stop()
	}
	if s.rcv != nil {
		s.rcv.Close()
	}
	if s.h != nil {
		s.h.Close()
	}
	if s.binTmp != "" {
		_ = os.RemoveAll(s.binTmp) //nolint:gosec // G703: the directory setUp made with os.MkdirTemp
	}
	if s.logFile != nil {
		_ = s.logFile.Close()
	}
}

// startClients starts the streaming clients: four in five live from now,
// the others resuming from a cursor some way back in the history; half of
// each on either edge, one in six sticking to its edge when resuming.
func (s *soak) startClients(ctx context.Context) error {
	names := []string{chaos.SubTRX, chaos.SubTRX, chaos.SubStaking, chaos.SubTRC10}
	start := func(i int, after string) {
		sub := names[i%len(names)]
		c := chaos.ClientConfig{
			Name: fmt.Sprintf("client-%02d-%s", i, sub), Sub: s.subs[sub], Edges: s.h.EdgeURLs(), Edge: i % 2,
			After: after, Sticky: i%6 == 5, Logs: s.h.Logs,
		}
		if c.Sticky {
			c.Name += "-sticky"
		}
		if after != "" {
			c.Name += "-resumed"
		}
		s.clients = append(s.clients, chaos.StartClient(c))
	}
	live := s.cfg.clients - s.cfg.clients/5
	for i := range live {
		start(i, "")
	}
	// Wait for some history, then resume from within it.
	if !testenv.Poll(time.Minute, func() bool {
		for _, c := range s.clients {
			if c.Count() < 10 {
				return false
			}
		}
		return true
	}) {
		return fmt.Errorf("soak: the clients got no events within a minute")
	}
	for i := live; i < s.cfg.clients; i++ {
		hist, err := s.h.History(ctx, s.subs[names[i%len(names)]], "", "")
		if err != nil {
			return err
		}
		start(i, hist[max(0, len(hist)-1-s.rng.IntN(len(hist)))].Cursor)
	}
	return nil
}

// delivered sums the events the clients and the receiver got.
func (s *soak) delivered() (streams, hooks int) {
	for _, c := range s.clients {
		streams += c.Count()
	}
	hooks, _ = s.rcv.Stats()
	return streams, hooks
}

func (s *soak) faultSummary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	var parts []string
	for k, v := range s.faults {
		total += v
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	if total == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// progress prints a line every 10 s until ctx ends.
func (s *soak) progress(ctx context.Context, began time.Time) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		streams, hooks := s.delivered()
		live := 0
		for _, c := range s.clients {
			if _, ok := c.Live(); ok {
				live++
			}
		}
		committed, err := s.h.Committed()
		cs := fmt.Sprint(committed)
		if err != nil {
			cs = "unknown"
		}
		s.printf("soak: %s elapsed; faults %s; events delivered: %d to streams, %d webhooks; %d/%d streams live; ingest committed block %s",
			time.Since(began).Round(time.Second), s.faultSummary(), streams, hooks, live, len(s.clients), cs)
	}
}

// between draws a duration in [lo, hi).
func (s *soak) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)))
}

// hold waits d, or less if ctx ends (the fault is then undone at once).
func hold(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// pick draws the next fault.
func (s *soak) pick() string {
	total := 0
	for _, f := range faultWeights {
		total += f.weight
	}
	n := s.rng.IntN(total)
	for _, f := range faultWeights {
		if n < f.weight {
			return f.kind
		}
		n -= f.weight
	}
	return faultWeights[0].kind
}

// target draws the edge a fault hits: three times in four the one with
// the most live streams (clients move away from a failed edge and stay
// where they resumed, so one edge can end up with all of them), else
// either.
func (s *soak) target() int {
	n := len(s.h.Edges)
	if s.rng.IntN(4) == 0 {
		return s.rng.IntN(n)
	}
	live := make([]int, n)
	for _, c := range s.clients {
		if e, ok := c.Live(); ok {
			live[e]++
		}
	}
	best := s.rng.IntN(n)
	for e := range live {
		if live[e] > live[best] {
			best = e
		}
	}
	return best
}

// inject runs one fault of kind from start to recovery. An error means
// the system could not be brought back, and the soak cannot go on.
func (s *soak) inject(ctx context.Context, kind string) error {
	h := s.h
	s.mu.Lock()
	s.faults[kind]++
	s.mu.Unlock()
	edge := s.target()
	switch kind {
	case faultNATS:
		node := s.rng.IntN(3)
		if n := h.NATSNodeOf(edge); n >= 0 && s.rng.IntN(2) == 0 {
			node = n // the node an edge is on, half the time
		}
		if err := h.KillNATS(node); err != nil {
			return err
		}
		hold(ctx, s.between(time.Second, 8*time.Second))
		return h.RestartNATS(node)
	case faultCutShort:
		d := s.between(500*time.Millisecond, s.cfg.grace-time.Second)
		h.CutLink(edge, d)
		hold(context.Background(), d+time.Second)
	case faultCutLong:
		d := s.cfg.grace + s.between(2*time.Second, 10*time.Second)
		h.CutLink(edge, 0)
		hold(ctx, d)
		h.RestoreLink(edge)
	case faultStore:
		if err := h.StopStore(); err != nil {
			return err
		}
		hold(ctx, s.between(time.Second, 7*time.Second))
		return h.StartStore()
	case faultEdgeKill:
		if err := h.KillEdge(edge); err != nil {
			return err
		}
		hold(ctx, s.between(200*time.Millisecond, 3*time.Second))
		return retry(func() error { return h.StartEdge(edge) })
	case faultIngestKill:
		if err := h.KillIngest(); err != nil {
			return err
		}
		hold(ctx, s.between(200*time.Millisecond, 3*time.Second))
		return retry(h.StartIngest)
	}
	return nil
}

// retry runs start up to three times: a restarted child can fail to
// become ready while another fault settles.
func retry(start func() error) error {
	var err error
	for range 3 {
		if err = start(); err == nil {
			return nil
		}
	}
	return err
}

func (s *soak) soak(ctx context.Context) int {
	setup, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.startClients(setup); err != nil {
		s.printf("%v", err)
		return 2
	}
	began := time.Now()
	pctx, stopProgress := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.progress(pctx, began) })
	defer func() {
		stopProgress()
		wg.Wait()
	}()

	fctx, stopFaults := context.WithTimeout(ctx, s.cfg.duration)
	defer stopFaults()
	for fctx.Err() == nil {
		hold(fctx, s.between(s.cfg.pause/2, s.cfg.pause*3/2))
		if fctx.Err() != nil {
			break
		}
		if err := s.inject(fctx, s.pick()); err != nil {
			s.printf("soak: the system could not be brought back after a fault: %v", err)
			return 2
		}
	}
	if ctx.Err() != nil {
		s.printf("soak: interrupted after %s; checking what was delivered so far", time.Since(began).Round(time.Second))
	}
	stopProgress()
	wg.Wait()
	return s.finish(began)
}

// finish waits for the clients and the receiver to catch up, checks
// them, prints the figures, and returns the exit status.
func (s *soak) finish(began time.Time) int {
	s.printf("soak: faults stopped after %s; waiting up to %s for every client and the webhooks to catch up", time.Since(began).Round(time.Second), s.cfg.catchUp)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.catchUp+5*time.Minute)
	defer cancel()
	// Counters first: a check failure must not lose them.
	counters, unscraped, cerr := s.h.AllEdgeCounters()
	targets, waitErr := s.h.WaitCaughtUp(ctx, s.cfg.catchUp, s.clients, s.rcv, s.hooks)
	if c, u, err := s.h.AllEdgeCounters(); err == nil {
		counters, unscraped, cerr = c, u, nil
	}
	for _, c := range s.clients {
		c.Stop()
	}
	report, err := s.h.Check(ctx, s.clients, s.rcv, s.hooks, targets)
	if err != nil {
		s.printf("soak: reading the history for the check: %v", err)
		return 2
	}
	ends := map[int]int{}
	for _, c := range s.clients {
		for _, e := range c.Ends() {
			ends[e.Code]++
		}
	}
	w := s.out
	fmt.Fprintf(w, "\n== soak report (seed %d, %s of faults) ==\n", s.cfg.seed, time.Since(began).Round(time.Second))
	fmt.Fprintf(w, "faults injected:            %s\n", s.faultSummary())
	fmt.Fprintf(w, "events delivered:           %d to %d streams, %d webhook deliveries for %d subscriptions\n", report.Delivered, len(report.Streams), report.HookDeliveries, len(report.Webhooks))
	if cerr != nil {
		fmt.Fprintf(w, "edge counters:              incomplete (%v)\n", cerr)
	}
	fmt.Fprintf(w, "gaps filled:                %g events filled from history; gaps by cause %s; NATS disconnects %g, broker-loss closes %g; edge kills whose counters were lost: %d\n",
		counters["mongotron_edge_stream_events_filled_total"], formatMap(counters.Labelled("mongotron_edge_stream_gaps_total")),
		counters["mongotron_edge_stream_nats_disconnects_total"], counters["mongotron_edge_stream_broker_loss_closes_total"], unscraped)
	fmt.Fprintf(w, "stream ends seen by clients: %s (close code: count; -1 dial failed, -2 read timeout)\n", formatIntMap(ends))
	fmt.Fprintf(w, "events lost:                %d\n", report.Lost)
	fmt.Fprintf(w, "duplicates to streams:      %d\n", report.StreamDuplicates)
	fmt.Fprintf(w, "webhook duplicates:         %d (allowed: at least once)\n", report.HookDuplicates)
	fmt.Fprintf(w, "unexpected / out of order:  %d / %d\n", report.Unexpected, report.OutOfOrder)
	failed := report.Lost > 0 || report.StreamDuplicates > 0 || !report.Clean() || waitErr != nil
	if waitErr != nil {
		fmt.Fprintf(w, "\n%v\n", waitErr)
	}
	for _, v := range report.Failures() {
		fmt.Fprintf(w, "\n%s\n", v)
	}
	if failed {
		fmt.Fprintf(w, "\nresult: FAIL (logs: %s)\n", s.logFile.Name())
		return 1
	}
	fmt.Fprintf(w, "\nresult: PASS\n")
	return 0
}

func formatMap(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %g", k, m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func formatIntMap(m map[int]int) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d: %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
