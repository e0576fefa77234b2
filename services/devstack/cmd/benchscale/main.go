// Command benchscale measures history at scale: it starts the dev stack
// (bin/devstack, one edge, a chain that makes a block an hour) on a fresh
// data directory and free ports, seeds it with 1,000,000 events over
// 1,000 subscriptions (package seed), then measures
//
//   - REST history pages of 100 events after random (subscription,
//     cursor) points: p50, p99, max;
//   - `mongotron history` (bin/mongotron) of 10,000 events: seconds;
//   - a WebSocket replay (bin/loadgen --mode replay) of the long history
//     from its first cursor, which the events stream no longer holds, so
//     the edge reads it from the history pages: events/s;
//   - the dev stack's RSS (bin/devstack and its children) at the end;
//
// stops the stack, runs the edgebench scenarios (fanout, idle, storm at
// their default sizes) and prints every figure in a summary block at the
// end, one labelled line each. `make bench-scale` builds the binaries and
// runs it; it is not part of `make test`.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/services/devstack/internal/seed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is the command's flags.
type config struct {
	seed           seed.Config
	bin            string
	samples        int
	historyEvents  int
	historyRuns    int
	replayEvents   int
	scenarios      string
	edgebenchFlags string
	keep           bool
	readyTimeout   time.Duration
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("benchscale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.seed.RegisterFlags(fs)
	fs.StringVar(&c.bin, "bin", "bin", "`directory` of devstack, edge, ingest, tronsim, mongotron and loadgen")
	fs.IntVar(&c.samples, "samples", 2000, "REST history pages to time, each after a random (subscription, cursor)")
	fs.IntVar(&c.historyEvents, "history-events", 10_000, "events `mongotron history` reads")
	fs.IntVar(&c.historyRuns, "history-runs", 3, "times `mongotron history` runs (the median is reported)")
	fs.IntVar(&c.replayEvents, "replay-events", 0, "events the WebSocket replay reads (0: the whole long history)")
	fs.StringVar(&c.scenarios, "scenarios", "fanout,idle,storm", "edgebench scenarios run after the stack stops (empty: none)")
	fs.StringVar(&c.edgebenchFlags, "edgebench-flags", "", "more edgebench flags, space-separated")
	fs.BoolVar(&c.keep, "keep", false, "keep the data directory")
	fs.DurationVar(&c.readyTimeout, "ready-timeout", 5*time.Minute, "how long the dev stack may take to start")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("benchscale: unexpected arguments %q", fs.Args())
	}
	var errs []error
	if err := c.seed.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.samples < 1 || c.historyEvents < 1 || c.historyRuns < 1 || c.replayEvents < 0 {
		errs = append(errs, errors.New("benchscale: --samples, --history-events and --history-runs must be positive, --replay-events not negative"))
	}
	return c, errors.Join(errs...)
}

// summary collects the labelled figures printed at the end; each is
// logged as it is measured too, so a run cut short still shows it.
type summary struct {
	log   io.Writer
	mu    sync.Mutex
	lines [][2]string
}

func (s *summary) add(label, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := [2]string{label, fmt.Sprintf(format, args...)}
	s.lines = append(s.lines, l)
	if s.log != nil {
		logf(s.log, "%s: %s", l[0], l[1])
	}
}

func (s *summary) print(w io.Writer) {
	width := 0
	for _, l := range s.lines {
		width = max(width, len(l[0]))
	}
	fmt.Fprintf(w, "\n== bench-scale summary\n")
	for _, l := range s.lines {
		fmt.Fprintf(w, "%-*s  %s\n", width, l[0], l[1])
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	sum := summary{log: stderr}
	err = measureStack(ctx, cfg, &sum, stderr)
	if err == nil && cfg.scenarios != "" {
		err = runEdgebench(ctx, cfg, &sum, stderr)
	}
	sum.print(stdout)
	if err != nil {
		fmt.Fprintf(stderr, "benchscale: %v\n", err)
		return 1
	}
	return 0
}

func logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s benchscale: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// measureStack runs the dev stack, seeds it and measures the history
// reads.
func measureStack(ctx context.Context, cfg config, sum *summary, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "benchscale-")
	if err != nil {
		return err
	}
	if cfg.keep {
		logf(stderr, "data in %s (kept)", dir)
	} else {
		defer func() { _ = os.RemoveAll(dir) }()
	}
	st, err := startStack(ctx, cfg, dir, stderr)
	if err != nil {
		return err
	}
	defer st.stop(stderr)
	sum.add("stack", "bin/devstack, 1 edge, block interval 1h; log %s", st.logPath)

	client, err := mongo.Connect(options.Client().ApplyURI(st.mongoURI))
	if err != nil {
		return err
	}
	defer func() { _ = client.Disconnect(context.WithoutCancel(ctx)) }()
	scfg := cfg.seed
	scfg.Progress = stderr
	sd, err := seed.New(scfg, client.Database("mongotron"))
	if err != nil {
		return err
	}
	plan := sd.Plan()
	logf(stderr, "seeding %d events over %d subscriptions (the first holds %d)", plan.Events, plan.Subscriptions, plan.Count(0))
	res, err := sd.Run(ctx)
	if err != nil {
		return err
	}
	sum.add("seed events / subscriptions", "%d / %d (heavy subscription %d, the others %d)", plan.Events, plan.Subscriptions, plan.Count(0), plan.Count(min(1, plan.Subscriptions-1)))
	sum.add("seed rate", "%.0f events/s (%d events in %s, %d workers, batch %d)", res.Rate(), res.Written, res.Elapsed.Round(time.Second), max(scfg.Workers, 1), scfg.Batch)
	_ = client.Disconnect(ctx)

	rest, err := measureREST(ctx, st.edgeURL, res.APIKey, plan, cfg.samples, stderr)
	if err != nil {
		return err
	}
	sum.add("REST page of 100 p50 / p99 / max", "%.1f / %.1f / %.1f ms over %d random points (target p99 <= 100 ms: %s)",
		rest.p50, rest.p99, rest.max, rest.n, verdict(rest.p99 <= 100))

	hist, err := measureHistory(ctx, cfg, st.edgeURL, res.APIKey, plan, stderr)
	if err != nil {
		return err
	}
	sum.add("mongotron history of "+strconv.Itoa(cfg.historyEvents), "%.2f s median of %s (target <= 2 s: %s)", hist.median, hist.all, verdict(hist.median <= 2))

	rp, err := measureReplay(ctx, cfg, st.edgeURL, res.APIKey, plan, stderr)
	if err != nil {
		return err
	}
	sum.add("WebSocket replay from MongoDB", "%.0f events/s (%d events in %.2f s, out of order %d; target >= 20,000/s: %s)",
		rp.ReplayRate, rp.Delivered, rp.ReplaySeconds, rp.OutOfOrder, verdict(rp.ReplayRate >= 20_000))

	rss, parts, err := treeRSS(st.cmd.Process.Pid)
	if err != nil {
		return err
	}
	sum.add("dev stack RSS", "%.0f MiB (%s; target <= 1024 MiB: %s)", float64(rss)/(1<<20), parts, verdict(rss <= 1<<30))
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// stack is a running bin/devstack.
type stack struct {
	cmd      *exec.Cmd
	done     chan error
	logPath  string
	logFile  *os.File
	edgeURL  string
	mongoURI string
}

func startStack(ctx context.Context, cfg config, dir string, stderr io.Writer) (*stack, error) {
	logPath := filepath.Join(dir, "devstack.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}

	cmd := exec.Command(filepath.Join(cfg.bin, "devstack"),
		"--data", filepath.Join(dir, "data"), "--edges", "1", "--block-interval", "1h",
		"--http.addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0", "--mongo-addr", "127.0.0.1:0",
		"--sim-addr", "127.0.0.1:0", "--sim-grpc-addr", "127.0.0.1:0", "--ingest-addr", "127.0.0.1:0")
	cmd.Stderr = lf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("benchscale: start devstack: %w", err)
	}
	st := &stack{cmd: cmd, done: make(chan error, 1), logPath: logPath, logFile: lf}
	logf(stderr, "dev stack starting (pid %d, log %s)", cmd.Process.Pid, logPath)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			_, _ = fmt.Fprintln(lf, line)
			f := strings.Fields(line)
			switch {
			case len(f) >= 3 && f[0] == "edge" && f[1] == "1" && st.edgeURL == "":
				st.edgeURL = f[2]
			case len(f) >= 2 && f[0] == "mongodb":
				st.mongoURI = f[1]
			case strings.Contains(line, "Ctrl-C stops everything"):
				once.Do(func() { close(ready) })
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() { st.done <- cmd.Wait() }()
	select {
	case <-ready:
	case err := <-st.done:
		st.done <- err
		return nil, fmt.Errorf("benchscale: devstack exited before it was ready (%w); see %s", err, logPath)
	case <-time.After(cfg.readyTimeout):
		st.stop(stderr)
		return nil, fmt.Errorf("benchscale: devstack not ready after %s; see %s", cfg.readyTimeout, logPath)
	case <-ctx.Done():
		st.stop(stderr)
		return nil, ctx.Err()
	}
	if st.edgeURL == "" || st.mongoURI == "" {
		st.stop(stderr)
		return nil, fmt.Errorf("benchscale: no edge URL or MongoDB URI in the banner; see %s", logPath)
	}
	logf(stderr, "dev stack ready: edge %s, %s", st.edgeURL, st.mongoURI)
	return st, nil
}

// stop ends the stack with SIGTERM, and kills it after a minute.
func (st *stack) stop(stderr io.Writer) {
	if st.cmd.ProcessState == nil {
		if err := st.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			fmt.Fprintf(stderr, "benchscale: stop devstack: %v\n", err)
		}
		var exit error
		select {
		case exit = <-st.done:
		case <-time.After(time.Minute):
			if err := st.cmd.Process.Kill(); err != nil {
				fmt.Fprintf(stderr, "benchscale: kill devstack: %v\n", err)
			}
			exit = <-st.done
		}
		if exit != nil {
			logf(stderr, "dev stack exit: %v", exit)
		}
	}
	_ = st.logFile.Close()
	logf(stderr, "dev stack stopped")
}

// restFigures are the REST page latencies, in ms.
type restFigures struct {
	n             int
	p50, p99, max float64
}

// restPace is how many REST history pages a second measureREST asks
// for at most.
const restPace = 40

func measureREST(ctx context.Context, edgeURL, key string, plan seed.Plan, samples int, stderr io.Writer) (restFigures, error) {
	logf(stderr, "REST: %d history pages of 100 after random points", samples)
	rng := rand.New(rand.NewPCG(plan.Seed, 42))
	hc := &http.Client{Timeout: 30 * time.Second}
	lat := make([]float64, 0, samples)
	// Paced under the key's default REST limit (50 requests/s), so that
	// the figures are the read path's and not the limiter's.
	pace := time.NewTicker(time.Second / restPace)
	defer pace.Stop()
	// A few requests first, so connections and caches are warm.
	for i := range samples + 10 {
		select {
		case <-ctx.Done():
			return restFigures{}, ctx.Err()
		case <-pace.C:
		}
		sub := rng.IntN(plan.Subscriptions)
		seq := rng.IntN(plan.Count(sub))
		want := min(100, plan.Count(sub)-seq-1)
		url := fmt.Sprintf("%s/v1/subscriptions/%s/events?limit=100&after=%s", edgeURL, plan.SubscriptionID(sub), plan.Cursor(sub, seq))
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return restFigures{}, err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return restFigures{}, fmt.Errorf("benchscale: REST: %w", err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		d := time.Since(t0)
		if err != nil {
			return restFigures{}, fmt.Errorf("benchscale: REST: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return restFigures{}, fmt.Errorf("benchscale: REST %s: HTTP %d: %s", url, resp.StatusCode, bytes.TrimSpace(body))
		}
		var page struct {
			Events []struct {
				Cursor string `json:"cursor"`
			} `json:"events"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return restFigures{}, fmt.Errorf("benchscale: REST: %w", err)
		}
		if len(page.Events) != want || (want > 0 && page.Events[0].Cursor != plan.Cursor(sub, seq+1)) {
			return restFigures{}, fmt.Errorf("benchscale: REST %s: %d events, want %d from %s", url, len(page.Events), want, plan.Cursor(sub, seq+1))
		}
		if i >= 10 {
			lat = append(lat, float64(d)/float64(time.Millisecond))
		}
	}
	slices.Sort(lat)
	return restFigures{n: len(lat), p50: quantile(lat, 0.50), p99: quantile(lat, 0.99), max: lat[len(lat)-1]}, nil
}

// quantile returns the q quantile of sorted xs (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

type historyFigures struct {
	median float64
	all    string
}

func measureHistory(ctx context.Context, cfg config, edgeURL, key string, plan seed.Plan, stderr io.Writer) (historyFigures, error) {
	n := min(cfg.historyEvents, plan.Count(0))
	logf(stderr, "mongotron history of %d events, %d times", n, cfg.historyRuns)
	var secs []float64
	for range cfg.historyRuns {

		cmd := exec.CommandContext(ctx, filepath.Join(cfg.bin, "mongotron"), "history",
			"--url", edgeURL, "--api-key", key, "--max", strconv.Itoa(n), plan.SubscriptionID(0))
		var out countWriter
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		t0 := time.Now()
		err := cmd.Run()
		d := time.Since(t0)
		if err != nil {
			return historyFigures{}, fmt.Errorf("benchscale: mongotron history: %w: %s", err, bytes.TrimSpace(errb.Bytes()))
		}
		if out.lines != n {
			return historyFigures{}, fmt.Errorf("benchscale: mongotron history printed %d events, want %d", out.lines, n)
		}
		secs = append(secs, d.Seconds())
	}
	all := make([]string, len(secs))
	for i, s := range secs {
		all[i] = fmt.Sprintf("%.2f", s)
	}
	sorted := slices.Clone(secs)
	slices.Sort(sorted)
	return historyFigures{median: sorted[len(sorted)/2], all: strings.Join(all, ", ") + " s"}, nil
}

// countWriter counts the lines written to it.
type countWriter struct{ lines int }

func (c *countWriter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

// replaySummary is what of loadgen's summary the replay reports.
type replaySummary struct {
	Delivered     int     `json:"delivered"`
	OutOfOrder    int     `json:"out_of_order"`
	ReplaySeconds float64 `json:"replay_seconds"`
	ReplayRate    float64 `json:"replay_rate_per_s"`
}

func measureReplay(ctx context.Context, cfg config, edgeURL, key string, plan seed.Plan, stderr io.Writer) (replaySummary, error) {
	n := plan.Count(0) - 1
	if cfg.replayEvents > 0 {
		n = min(n, cfg.replayEvents)
	}
	logf(stderr, "WebSocket replay of %d events after %s", n, plan.Cursor(0, 0))
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()

	cmd := exec.CommandContext(ctx, filepath.Join(cfg.bin, "loadgen"), "--mode", "replay", "--url", edgeURL, "--key", key,
		"--subs", plan.SubscriptionID(0), "--streams", "1", "--local-addrs", "-1",
		"--after", plan.Cursor(0, 0), "--expect", strconv.Itoa(n))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		return replaySummary{}, fmt.Errorf("benchscale: loadgen replay: %w", err)
	}
	var s replaySummary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		return replaySummary{}, fmt.Errorf("benchscale: loadgen summary: %w", err)
	}
	if s.Delivered < n {
		return s, fmt.Errorf("benchscale: replay delivered %d of %d events", s.Delivered, n)
	}
	return s, nil
}

// runEdgebench runs the edgebench scenarios and adds their report lines
// to the summary.
func runEdgebench(ctx context.Context, cfg config, sum *summary, stderr io.Writer) error {
	args := []string{"run", "./services/loadgen/cmd/edgebench", "--edge", filepath.Join(cfg.bin, "edge"),
		"--loadgen", filepath.Join(cfg.bin, "loadgen"), "--scenarios", cfg.scenarios}
	args = append(args, strings.Fields(cfg.edgebenchFlags)...)
	logf(stderr, "go %s", strings.Join(args, " "))

	cmd := exec.CommandContext(ctx, "go", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, stderr), stderr
	err := cmd.Run()
	scen := strings.Split(cfg.scenarios, ",")
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && slices.Contains(scen, f[0]) {
			sum.add("edgebench "+f[0], "%s", strings.Join(f[1:], " "))
		}
	}
	if err != nil {
		return fmt.Errorf("benchscale: edgebench: %w", err)
	}
	return nil
}
