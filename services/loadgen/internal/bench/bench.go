// Package bench is the edge load benchmark behind the edgebench command:
// it runs NATS and FerretDB embedded, an edge and one or more loadgen
// processes as children, publishes events the way the ingest does, and
// measures the edge process from /proc: fan-out throughput, latency and CPU
// per delivered message, memory per idle stream, and the replay rate.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/loadgen/internal/load"
)

// Scenarios.
const (
	ScenarioFanout = "fanout"
	ScenarioIdle   = "idle"
	ScenarioReplay = "replay"

	// Values of Config.ReplayFrom.
	ReplayJetStream = "jetstream"
	ReplayMongoDB   = "mongodb"
)

// Defaults of [Config]'s zero values: the scenarios of docs/benchmarks.md.
const (
	DefaultStreams       = 10_000
	DefaultSubscriptions = 100
	DefaultRate          = 50_000
	DefaultDuration      = 20 * time.Second
	DefaultIdleStreams   = 20_000
	DefaultIdleSettle    = 20 * time.Second
	DefaultReplayEvents  = 100_000
	DefaultLocalAddrs    = 50
	DefaultConnectRate   = 1000
)

// adminKey is the edge's admin key in every run; nothing outside the
// machine can reach the loopback edge.
const adminKey = "edgebench-admin-key-0123456789"

// Config configures a [Runner].
type Config struct {
	// EdgeBin is the edge binary. It is required.
	EdgeBin string
	// LoadgenBin is the loadgen binary. It is required.
	LoadgenBin string
	// Scenarios are the runs to make, among fanout, idle and replay.
	// Empty means all three.
	Scenarios []string
	// EdgeEnv is added to the edge's environment (GOGC=…, GOMAXPROCS=…),
	// and the peers'. Nil adds nothing.
	EdgeEnv []string
	// Peers are the servers measured beside the edge in the fan-out and
	// idle scenarios (each run right after the edge's, in every round).
	// A peer takes the edge's flags and answers the REST calls and the
	// stream route the scenarios use (cmd/relay does), unless it is a
	// Centrifugo ([Peer.Kind]). Nil measures the edge alone.
	Peers []Peer
	// Rounds is how many times each scenario runs on every server,
	// interleaved: edge, peers, edge, peers… Zero means 1.
	Rounds int

	// Streams is the fan-out run's stream count. Zero means
	// [DefaultStreams].
	Streams int
	// Subscriptions is how many subscriptions the streams of the fan-out
	// and idle runs are spread over. Zero means [DefaultSubscriptions].
	Subscriptions int
	// Rate is the fan-out run's target of messages delivered per second
	// over all streams; the publish rate is Rate divided by the streams
	// per subscription. Zero means [DefaultRate].
	Rate float64
	// Duration is how long the fan-out run publishes. Zero means
	// [DefaultDuration].
	Duration time.Duration
	// IdleStreams is the idle run's stream count; it is lowered to what
	// the open-files limit lets the edge hold. Zero means
	// [DefaultIdleStreams].
	IdleStreams int
	// IdleSettle is how long the idle streams are held before the edge is
	// measured; past one heartbeat interval (15 s), every stream has
	// written once. Zero means [DefaultIdleSettle].
	IdleSettle time.Duration
	// ReplayEvents is how many stored events the replay run streams. Zero
	// means [DefaultReplayEvents].
	ReplayEvents int
	// ReplayFrom is where the replay run's events are, as the edge finds
	// them: [ReplayJetStream] (stored and published through the events
	// stream, linked, as the ingest does: a resume within the stream's
	// hour) or [ReplayMongoDB] (stored only: a resume from further back).
	// Empty means ReplayJetStream.
	ReplayFrom string
	// LocalAddrs is loadgen's --local-addrs. Zero means
	// [DefaultLocalAddrs].
	LocalAddrs int
	// ConnectRate is loadgen's --connect-rate (streams per second). Zero
	// means [DefaultConnectRate].
	ConnectRate float64

	// StormClients is the storm's client count (storm.go). Zero means
	// [DefaultStormClients].
	StormClients int
	// StormSubscriptions is how many subscriptions the storm's clients
	// are spread over. Zero means [DefaultStormSubscriptions].
	StormSubscriptions int
	// StormModes are the storm's rounds, in order, among restart and
	// drop. Empty means both, restart first.
	StormModes []string
	// StormTimeout bounds each storm round. Zero means
	// [DefaultStormTimeout].
	StormTimeout time.Duration
	// StormDropWait is the pause before a drop round that follows
	// another. Zero means [DefaultStormDropWait].
	StormDropWait time.Duration

	// Log receives progress and the children's logs. Nil discards them.
	Log io.Writer
}

// Peer is a server measured beside the edge.
type Peer struct {
	// Name labels its figures.
	Name string
	// Bin is its binary.
	Bin string
	// Kind is how the harness runs it: [PeerEdgeLike] or
	// [PeerCentrifugo]. Empty means PeerCentrifugo for a name starting
	// with "centrifugo", PeerEdgeLike otherwise.
	Kind string
}

func (c Config) withDefaults() Config {
	if c.Rounds <= 0 {
		c.Rounds = 1
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = []string{ScenarioFanout, ScenarioIdle, ScenarioReplay}
	}
	setInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setInt(&c.Streams, DefaultStreams)
	setInt(&c.Subscriptions, DefaultSubscriptions)
	setInt(&c.IdleStreams, DefaultIdleStreams)
	setInt(&c.ReplayEvents, DefaultReplayEvents)
	setInt(&c.LocalAddrs, DefaultLocalAddrs)
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.ConnectRate == 0 {
		c.ConnectRate = DefaultConnectRate
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.IdleSettle == 0 {
		c.IdleSettle = DefaultIdleSettle
	}
	if c.ReplayFrom == "" {
		c.ReplayFrom = ReplayJetStream
	}
	c = c.withStormDefaults()
	if c.Log == nil {
		c.Log = io.Discard
	} else {
		// The children's log lines arrive on a goroutine each.
		c.Log = &lockedWriter{w: c.Log}
	}
	return c
}

// Validate reports every invalid value at once.
func (c Config) Validate() error {
	var errs []error
	if c.EdgeBin == "" {
		errs = append(errs, errors.New("bench: the edge binary is required"))
	}
	if c.LoadgenBin == "" {
		errs = append(errs, errors.New("bench: the loadgen binary is required"))
	}
	for _, s := range c.Scenarios {
		switch s {
		case ScenarioFanout, ScenarioIdle, ScenarioReplay, ScenarioStorm:
		default:
			errs = append(errs, fmt.Errorf("bench: scenario %q is not fanout, idle, replay or storm", s))
		}
	}
	errs = append(errs, validatePeers(c.Peers))
	switch c.ReplayFrom {
	case "", ReplayJetStream, ReplayMongoDB:
	default:
		errs = append(errs, fmt.Errorf("bench: replay source %q is not jetstream or mongodb", c.ReplayFrom))
	}
	if c.Streams < 0 || c.Subscriptions < 0 || c.IdleStreams < 0 || c.ReplayEvents < 0 || c.Rate < 0 || c.Duration < 0 {
		errs = append(errs, errors.New("bench: sizes, rates and durations must not be negative"))
	}
	errs = append(errs, c.validateStorm()...)
	return errors.Join(errs...)
}

// Runner runs the benchmark scenarios; create it with [New].
type Runner struct {
	cfg     Config
	nofile  uint64
	natsSrv *testenv.NATS
	mongo   *testenv.Mongo
	nc      *nats.Conn
	db      *mongo.Client
	dbURI   string
	dbName  string
	results Results
	runs    []Run
}

// Run is one scenario's figures for one server in one round.
type Run struct {
	Server string        `json:"server"`
	Round  int           `json:"round"`
	Fanout *FanoutResult `json:"fanout,omitempty"`
	Idle   *IdleResult   `json:"idle,omitempty"`
}

// Results holds what each scenario measured; a scenario not run is nil.
type Results struct {
	Fanout *FanoutResult `json:"fanout,omitempty"`
	Idle   *IdleResult   `json:"idle,omitempty"`
	Replay *ReplayResult `json:"replay,omitempty"`
	Storm  *StormResult  `json:"storm,omitempty"`
}

// New starts NATS and FerretDB; call [Runner.Run], then [Runner.Close].
func New(cfg Config) (_ *Runner, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg.withDefaults(), dbName: "edgebench"}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	// The children inherit the limit: the edge needs a descriptor per
	// stream.
	if r.nofile, err = load.RaiseOpenFiles(); err != nil {
		return nil, err
	}
	if r.natsSrv, err = testenv.StartNATS(testenv.NATSConfig{}); err != nil {
		return nil, err
	}
	if r.mongo, err = testenv.StartMongo(testenv.MongoConfig{}); err != nil {
		return nil, err
	}
	u, err := url.Parse(r.mongo.URI())
	if err != nil {
		return nil, fmt.Errorf("bench: mongo uri: %w", err)
	}
	u.Path = "/" + r.dbName
	r.dbURI = u.String()
	if r.nc, err = nats.Connect(r.natsSrv.URL(), nats.Name("edgebench")); err != nil {
		return nil, fmt.Errorf("bench: nats: %w", err)
	}
	if r.db, err = mongo.Connect(options.Client().ApplyURI(r.dbURI)); err != nil {
		return nil, fmt.Errorf("bench: mongodb: %w", err)
	}
	return r, nil
}

// Close stops the embedded servers.
func (r *Runner) Close() {
	if r.db != nil {
		_ = r.db.Disconnect(context.Background())
	}
	if r.nc != nil {
		r.nc.Close()
	}
	if r.mongo != nil {
		r.mongo.Shutdown()
	}
	if r.natsSrv != nil {
		r.natsSrv.Shutdown()
	}
}

// Results returns what [Runner.Run] measured.
func (r *Runner) Results() Results { return r.results }

// Runs returns every fan-out and idle run, in the order they ran.
func (r *Runner) Runs() []Run { return r.runs }

// Run runs each configured scenario on a fresh edge, and the fan-out and
// idle scenarios on each peer right after it, for every round, stopping
// at the first failure. Results keeps the edge's last round.
func (r *Runner) Run(ctx context.Context) error {
	servers := append([]Peer{{Name: "edge", Bin: r.cfg.EdgeBin}}, r.cfg.Peers...)
	for round := 1; round <= r.cfg.Rounds; round++ {
		for _, s := range r.cfg.Scenarios {
			for _, srv := range servers {
				if (s == ScenarioReplay || s == ScenarioStorm) && srv.Name != "edge" {
					continue // peers keep no history
				}
				r.logf("=== %s: %s (round %d)", s, srv.Name, round)
				run := Run{Server: srv.Name, Round: round}
				var err error
				switch s {
				case ScenarioFanout:
					run.Fanout, err = r.fanout(ctx, srv.Bin)
				case ScenarioIdle:
					run.Idle, err = r.idle(ctx, srv.Bin)
				case ScenarioReplay:
					r.results.Replay, err = r.replay(ctx)
				case ScenarioStorm:
					r.results.Storm, err = r.storm(ctx)
				}
				if err != nil {
					return fmt.Errorf("bench: %s on %s: %w", s, srv.Name, err)
				}
				if s == ScenarioReplay || s == ScenarioStorm {
					continue
				}
				r.runs = append(r.runs, run)
				if srv.Name == "edge" {
					if run.Fanout != nil {
						r.results.Fanout = run.Fanout
					}
					if run.Idle != nil {
						r.results.Idle = run.Idle
					}
				}
			}
		}
	}
	return nil
}

func (r *Runner) logf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Log, "edgebench: "+format+"\n", args...)
}

func (r *Runner) startEdge(ctx context.Context, bin string) (*edgeProc, string, error) {
	env := append(os.Environ(), r.cfg.EdgeEnv...)
	if r.peerOf(bin).kind() == PeerCentrifugo {
		return r.startCentrifugo(ctx, bin, env)
	}
	e, err := startEdge(ctx, bin, "", r.dbURI, r.natsSrv.URL(), adminKey, env, r.cfg.Log)
	if err != nil {
		return nil, "", err
	}
	key, err := e.createKey(ctx, adminKey, "edgebench")
	if err != nil {
		e.stop()
		return nil, "", err
	}
	return e, key, nil
}

// maxStreamsPerProcess is what one process can hold under the open-files
// limit, with room for its other descriptors.
func (r *Runner) maxStreamsPerProcess() int { return int(r.nofile) - 128 }

// startLoadgens spreads streams over as few loadgen processes as the
// open-files limit allows and waits until each has every stream up.
func (r *Runner) startLoadgens(ctx context.Context, e *edgeProc, key string, subs []string, mode load.Mode, streams int, extra ...string) ([]*loadgenProc, int, error) {
	per := r.maxStreamsPerProcess()
	nproc := (streams + per - 1) / per
	var procs []*loadgenProc
	fail := func(err error) ([]*loadgenProc, int, error) {
		for _, p := range procs {
			p.kill()
		}
		return nil, 0, err
	}
	for i := range nproc {
		n := streams / nproc
		if i < streams%nproc {
			n++
		}
		// Rotating the subscriptions keeps the spread even across
		// processes.
		rot := append(append([]string(nil), subs[(i*n)%len(subs):]...), subs[:(i*n)%len(subs)]...)
		args := append([]string{
			"-url", e.url, "-key", key, "-subs", strings.Join(rot, ","),
			"-mode", string(mode), "-streams", strconv.Itoa(n),
			"-local-addrs", strconv.Itoa(r.cfg.LocalAddrs),
			"-connect-rate", strconv.FormatFloat(r.cfg.ConnectRate/float64(nproc), 'f', -1, 64),
			"-progress", "2s",
		}, extra...)
		args = append(args, e.loadgenArgs()...)
		p, err := startLoadgen(r.cfg.LoadgenBin, args, os.Environ(), r.cfg.Log, "loadgen"+strconv.Itoa(i))
		if err != nil {
			return fail(err)
		}
		procs = append(procs, p)
	}
	// Opening streams is bound by the edge's subscription lookup in
	// MongoDB (FerretDB here), far below the connect rate on a busy
	// machine: wait as long as streams keep arriving.
	for _, p := range procs {
		if err := r.waitReady(ctx, e, p); err != nil {
			return fail(err)
		}
	}
	// What the edge holds is what counts, not what loadgen dialled.
	n, err := edgeStreams(ctx, e, streams)
	if err != nil {
		return fail(err)
	}
	return procs, n, nil
}

// edgeStreams returns how many streams the edge holds once it holds want,
// or after a few seconds. A client has its upgrade response a moment
// before the edge counts its stream, so a count read at once, just after
// loadgen's ready line, can miss the last ones.
func edgeStreams(ctx context.Context, e *edgeProc, want int) (int, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err := e.metrics(ctx, "mongotron_edge_stream_connections")
		if err != nil {
			return 0, err
		}
		n := int(m["mongotron_edge_stream_connections"])
		if n >= want || time.Now().After(deadline) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitReady waits for p's ready line, failing when the edge has gained no
// stream for a minute.
func (r *Runner) waitReady(ctx context.Context, e *edgeProc, p *loadgenProc) error {
	const stall = time.Minute
	last, lastMove := -1.0, time.Now()
	for {
		err := p.waitReady(ctx, 5*time.Second)
		if err == nil || !errors.Is(err, errNotReady) {
			return err
		}
		m, err := e.metrics(ctx, "mongotron_edge_stream_connections")
		if err != nil {
			return err
		}
		if n := m["mongotron_edge_stream_connections"]; n != last {
			last, lastMove = n, time.Now()
		} else if time.Since(lastMove) > stall {
			return fmt.Errorf("bench: loadgen not ready: the edge holds %.0f streams, none new for %s", n, stall)
		}
	}
}

func finishAll(ctx context.Context, procs []*loadgenProc, interrupt bool) ([]load.Summary, error) {
	var out []load.Summary
	var errs []error
	for _, p := range procs {
		s, err := p.finish(ctx, interrupt)
		out = append(out, s)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// sample is one measurement of the processes involved.
type sample struct {
	at      time.Time
	edge    ProcSample
	loadgen time.Duration // CPU of every loadgen
	self    time.Duration // CPU of this process: NATS, FerretDB, publisher
	system  SystemSample
}

func (r *Runner) sample(e *edgeProc, procs []*loadgenProc) (sample, error) {
	s := sample{at: time.Now()}
	var err error
	if s.edge, err = SampleProc(e.pid()); err != nil {
		return s, err
	}
	for _, p := range procs {
		ps, err := SampleProc(p.cmd.Process.Pid)
		if err != nil {
			return s, err
		}
		s.loadgen += ps.CPU
	}
	self, err := SampleProc(os.Getpid())
	if err != nil {
		return s, err
	}
	s.self = self.CPU
	s.system, err = SampleSystem()
	return s, err
}

// CPUShare is how busy each party kept the machine over a run, in cores.
type CPUShare struct {
	Edge    float64 `json:"edge"`
	Loadgen float64 `json:"loadgen"`
	// Harness is NATS, FerretDB and the publisher.
	Harness float64 `json:"harness"`
	// Other is everything else on the machine (other work).
	Other float64 `json:"other"`
	// Total is the machine's busy cores.
	Total float64 `json:"total"`
}

func share(a, b sample) CPUShare {
	wall := b.at.Sub(a.at).Seconds()
	cores := func(d time.Duration) float64 { return d.Seconds() / wall }
	s := CPUShare{
		Edge:    cores(b.edge.CPU - a.edge.CPU),
		Loadgen: cores(b.loadgen - a.loadgen),
		Harness: cores(b.self - a.self),
		Total:   cores(b.system.Busy - a.system.Busy),
	}
	s.Other = max(s.Total-s.Edge-s.Loadgen-s.Harness, 0)
	return s
}

// FanoutResult is the fan-out run's figures.
type FanoutResult struct {
	Streams       int     `json:"streams"`
	Connected     int     `json:"connected"`
	Subscriptions int     `json:"subscriptions"`
	TargetRate    float64 `json:"target_rate_per_s"`
	// PublishRate is the events published per second, Published over
	// the publish time.
	PublishRate float64 `json:"publish_rate_per_s"`
	Published   int     `json:"published"`
	// Expected is Published times the streams per subscription.
	Expected  uint64 `json:"expected"`
	Delivered uint64 `json:"delivered"`
	// DeliveredRate is Delivered over the time from the first event a
	// client got to the last.
	DeliveredRate float64      `json:"delivered_rate_per_s"`
	Latency       load.Latency `json:"latency_ms"`
	// CPUPerMessage is the edge's user+sys CPU from the first publish to
	// the drain, over Delivered, in microseconds.
	CPUPerMessage float64        `json:"edge_cpu_us_per_msg"`
	EdgeRSS       int64          `json:"edge_rss_bytes"`
	CPU           CPUShare       `json:"cpu_cores"`
	Closes        map[string]int `json:"closes,omitempty"`
	OutOfOrder    uint64         `json:"out_of_order"`
}

func (r *Runner) fanout(ctx context.Context, bin string) (*FanoutResult, error) {
	e, key, err := r.startEdge(ctx, bin)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	subs, err := e.createSubscriptions(ctx, key, min(r.cfg.Subscriptions, r.cfg.Streams), 0)
	if err != nil {
		return nil, err
	}
	r.logf("opening %d streams over %d subscriptions", r.cfg.Streams, len(subs))
	procs, connected, err := r.startLoadgens(ctx, e, key, subs, load.ModeFanout, r.cfg.Streams)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, p := range procs {
			p.kill()
		}
	}()
	perSub := float64(connected) / float64(len(subs))
	pubRate := r.cfg.Rate / perSub
	r.logf("%d streams up; publishing %.0f events/s (%.1f streams per subscription) for %s", connected, pubRate, perSub, r.cfg.Duration)
	sentBefore, err := e.messagesSent(ctx)
	if err != nil {
		return nil, err
	}
	before, err := r.sample(e, procs)
	if err != nil {
		return nil, err
	}
	st, err := publish(ctx, r.nc, subs, pubRate, r.cfg.Duration)
	if err != nil {
		return nil, err
	}
	r.waitDrain(ctx, e, sentBefore, float64(st.Published)*perSub)
	after, err := r.sample(e, procs)
	if err != nil {
		return nil, err
	}
	sums, err := finishAll(ctx, procs, true)
	if err != nil {
		return nil, err
	}
	res := &FanoutResult{
		Streams: r.cfg.Streams, Connected: connected, Subscriptions: len(subs),
		TargetRate: r.cfg.Rate, Published: st.Published,
		PublishRate: float64(st.Published) / st.Elapsed.Seconds(),
		Expected:    uint64(float64(st.Published) * perSub),
		EdgeRSS:     after.edge.RSS,
		CPU:         share(before, after),
		Closes:      map[string]int{},
	}
	var seconds float64
	for _, s := range sums {
		res.Delivered += s.Delivered
		res.OutOfOrder += s.OutOfOrder
		for k, v := range s.Closes {
			res.Closes[k] += v
		}
		// Quantiles of several processes cannot be merged exactly: take
		// the worst, which is what a client of the slowest one saw.
		res.Latency.Count += s.Latency.Count
		res.Latency.P50 = max(res.Latency.P50, s.Latency.P50)
		res.Latency.P90 = max(res.Latency.P90, s.Latency.P90)
		res.Latency.P99 = max(res.Latency.P99, s.Latency.P99)
		res.Latency.P999 = max(res.Latency.P999, s.Latency.P999)
		res.Latency.Max = max(res.Latency.Max, s.Latency.Max)
		seconds = max(seconds, s.EventSeconds)
	}
	if seconds > 0 {
		res.DeliveredRate = float64(res.Delivered) / seconds
	}
	if res.Delivered > 0 {
		res.CPUPerMessage = float64((after.edge.CPU - before.edge.CPU).Microseconds()) / float64(res.Delivered)
	}
	return res, nil
}

// waitDrain waits until the edge has sent want messages more than it had
// at base (heartbeats count too, so this cannot wait on the counter holding
// still), or until it makes no progress for 3 s.
func (r *Runner) waitDrain(ctx context.Context, e *edgeProc, base, want float64) {
	last, lastMove := -1.0, time.Now()
	for ctx.Err() == nil && time.Since(lastMove) < 3*time.Second {
		n, err := e.messagesSent(ctx)
		if err != nil {
			return
		}
		if n-base >= want {
			// Written is not yet read: give the last frames time to
			// reach loadgen before it is stopped.
			time.Sleep(time.Second)
			return
		}
		if n != last {
			last, lastMove = n, time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// IdleResult is the idle run's figures.
type IdleResult struct {
	Streams   int   `json:"streams"`
	Connected int   `json:"connected"`
	RSSBefore int64 `json:"edge_rss_before_bytes"`
	RSSAfter  int64 `json:"edge_rss_after_bytes"`
	// RSSPerStream is (RSSAfter-RSSBefore)/Connected in KiB.
	RSSPerStream float64 `json:"edge_rss_kib_per_stream"`
	// GoPerStream is the growth of the edge's Go heap and stacks in use
	// (from its /metrics) per stream, in KiB: RSS without the collector's
	// slack.
	GoPerStream float64 `json:"edge_go_kib_per_stream"`
	// StackPerStream is the part of GoPerStream that is goroutine stacks.
	StackPerStream float64 `json:"edge_stack_kib_per_stream"`
	Goroutines     float64 `json:"edge_goroutines"`
	// Limited says the stream count was lowered to fit the open-files
	// limit.
	Limited bool           `json:"limited,omitempty"`
	Closes  map[string]int `json:"closes,omitempty"`
}

// edgeOwnFiles is what the edge holds besides streams: its MongoDB pool
// (up to 100 connections, all open while streams are being set up), NATS,
// the listener, the poller.
const edgeOwnFiles = 160

var goMemNames = []string{"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_goroutines"}

func (r *Runner) idle(ctx context.Context, bin string) (*IdleResult, error) {
	streams := r.cfg.IdleStreams
	res := &IdleResult{}
	// The edge holds one descriptor per stream plus its own few.
	if maxEdge := int(r.nofile) - edgeOwnFiles; streams > maxEdge {
		r.logf("idle: %d streams lowered to %d: the open-files hard limit is %d", streams, maxEdge, r.nofile)
		streams, res.Limited = maxEdge, true
	}
	res.Streams = streams
	e, key, err := r.startEdge(ctx, bin)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	subs, err := e.createSubscriptions(ctx, key, min(r.cfg.Subscriptions, streams), 0)
	if err != nil {
		return nil, err
	}
	// Warm: the REST path and the runtime have settled.
	time.Sleep(2 * time.Second)
	before, err := SampleProc(e.pid())
	if err != nil {
		return nil, err
	}
	mBefore, err := e.metrics(ctx, goMemNames...)
	if err != nil {
		return nil, err
	}
	r.logf("idle: edge RSS %.1f MiB before; opening %d streams", float64(before.RSS)/(1<<20), streams)
	procs, connected, err := r.startLoadgens(ctx, e, key, subs, load.ModeIdle, streams)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, p := range procs {
			p.kill()
		}
	}()
	r.logf("idle: %d streams up; holding them %s", connected, r.cfg.IdleSettle)
	select {
	case <-time.After(r.cfg.IdleSettle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	after, err := SampleProc(e.pid())
	if err != nil {
		return nil, err
	}
	mAfter, err := e.metrics(ctx, goMemNames...)
	if err != nil {
		return nil, err
	}
	m, err := e.metrics(ctx, "mongotron_edge_stream_connections")
	if err != nil {
		return nil, err
	}
	connected = int(m["mongotron_edge_stream_connections"])
	sums, err := finishAll(ctx, procs, true)
	if err != nil {
		return nil, err
	}
	res.Connected = connected
	res.RSSBefore, res.RSSAfter = before.RSS, after.RSS
	res.Goroutines = mAfter["go_goroutines"]
	res.Closes = map[string]int{}
	for _, s := range sums {
		for k, v := range s.Closes {
			res.Closes[k] += v
		}
	}
	if connected > 0 {
		res.RSSPerStream = float64(after.RSS-before.RSS) / 1024 / float64(connected)
		goBefore := mBefore["go_memstats_heap_inuse_bytes"] + mBefore["go_memstats_stack_inuse_bytes"]
		goAfter := mAfter["go_memstats_heap_inuse_bytes"] + mAfter["go_memstats_stack_inuse_bytes"]
		res.GoPerStream = (goAfter - goBefore) / 1024 / float64(connected)
		res.StackPerStream = (mAfter["go_memstats_stack_inuse_bytes"] - mBefore["go_memstats_stack_inuse_bytes"]) / 1024 / float64(connected)
	}
	return res, nil
}

// ReplayResult is the replay run's figures.
type ReplayResult struct {
	Events int `json:"events"`
	// InsertSeconds is how long storing the events took (not measured
	// against the edge).
	InsertSeconds float64 `json:"insert_seconds"`
	Delivered     uint64  `json:"delivered"`
	// Seconds is from the hello to the last event; Rate is Delivered
	// over it.
	Seconds    float64 `json:"seconds"`
	Rate       float64 `json:"rate_per_s"`
	OutOfOrder uint64  `json:"out_of_order"`
	// Source is what served the replay, by the edge's
	// mongotron_edge_stream_replays_total.
	Source string `json:"source"`
	// CPUPerEvent is the edge's CPU over the replay per event, in µs.
	CPUPerEvent float64  `json:"edge_cpu_us_per_event"`
	CPU         CPUShare `json:"cpu_cores"`
}

func (r *Runner) replay(ctx context.Context) (*ReplayResult, error) {
	e, key, err := r.startEdge(ctx, r.cfg.EdgeBin)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	subs, err := e.createSubscriptions(ctx, key, 1, 0)
	if err != nil {
		return nil, err
	}
	res := &ReplayResult{Events: r.cfg.ReplayEvents}
	start := time.Now()
	// One event more than replayed: the client resumes after the first.
	after, err := r.storeEvents(ctx, subs[:1], r.cfg.ReplayEvents+1, r.cfg.ReplayFrom == ReplayJetStream)
	if err != nil {
		return nil, err
	}
	res.InsertSeconds = time.Since(start).Seconds()
	r.logf("replay: stored %d events in %.1fs (%s); replaying", r.cfg.ReplayEvents+1, res.InsertSeconds, r.cfg.ReplayFrom)
	procs, _, err := r.startLoadgens(ctx, e, key, subs, load.ModeReplay, 1, "-after", after, "-expect", strconv.Itoa(r.cfg.ReplayEvents))
	if err != nil {
		return nil, err
	}
	// loadgen may be gone by the second sample (it exits with its last
	// event), so its CPU is left out here.
	before, err := r.sample(e, nil)
	if err != nil {
		return nil, err
	}
	// The replay started with the stream; the ready line comes after the
	// handshake, so the sample misses only the first query.
	fctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	done := make(chan struct{})
	var sampled sample
	var sampleErr error
	go func() {
		defer close(done)
		// loadgen exits once it has every event: sample the edge when
		// its replay counter is full, while loadgen still runs.
		for fctx.Err() == nil {
			m, err := e.metrics(fctx, "mongotron_edge_stream_events_replayed_total")
			if err == nil && m["mongotron_edge_stream_events_replayed_total"] >= float64(r.cfg.ReplayEvents) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		sampled, sampleErr = r.sample(e, nil)
	}()
	sums, err := finishAll(fctx, procs, false)
	<-done
	if err != nil {
		return nil, err
	}
	if sampleErr != nil {
		return nil, sampleErr
	}
	s := sums[0]
	res.Delivered, res.Seconds, res.Rate, res.OutOfOrder = s.Delivered, s.ReplaySeconds, s.ReplayRate, s.OutOfOrder
	res.CPU = share(before, sampled)
	if s.Delivered > 0 {
		res.CPUPerEvent = float64((sampled.edge.CPU - before.edge.CPU).Microseconds()) / float64(s.Delivered)
	}
	if res.Source, err = e.replaySource(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

// storeEvents writes n events of each of subs the way the ingest does:
// stored in MongoDB and, with publish, then published through the events
// stream, each linked to the one before of its subscription. Every
// subscription's events have the same cursors; it returns the first's.
func (r *Runner) storeEvents(ctx context.Context, subs []string, n int, publish bool) (string, error) {
	tmpl, err := eventTemplate()
	if err != nil {
		return "", err
	}
	var js jetstream.JetStream
	if publish {
		if js, err = jetstream.New(r.nc, jetstream.WithPublishAsyncMaxPending(4096)); err != nil {
			return "", fmt.Errorf("bench: jetstream: %w", err)
		}
		if _, err := js.CreateOrUpdateStream(ctx, bus.EventsStreamConfig(0, 1)); err != nil {
			return "", fmt.Errorf("bench: events stream: %w", err)
		}
	}
	db := r.db.Database(r.dbName)
	// At most 50 subscriptions a batch: AppendEvents moves each one's
	// head, and FerretDB takes minutes over a thousand upserts at once.
	batch := min(1000, 50*n)
	now := time.Now()
	docs := make([]store.EventDoc, 0, batch)
	msgs := make([]*nats.Msg, 0, batch)
	prevs := make([]string, len(subs))
	total := n * len(subs)
	for k := range total {
		// A subscription's events together: a batch then looks up
		// fewer subscriptions' tails.
		si, i := k/n, k%n
		sub, prev := subs[si], prevs[si]
		c := cursor.Cursor{Step: 1, Pos: uint64(i)}
		data, err := encodeEvent(tmpl, sub, c, prev, i, now)
		if err != nil {
			return "", err
		}
		docs = append(docs, store.EventDoc{
			ID: store.EventDocID(sub, c.String()), SubscriptionID: sub, Cursor: c.String(),
			EventID: tmpl.TxID + ":" + strconv.Itoa(i), Kind: string(event.KindTRC20Transfer),
			TxID: tmpl.TxID, Block: tmpl.Block.Number, BlockID: tmpl.Block.ID,
			Addresses: []string{tmpl.From.String(), tmpl.To.String()}, CreatedAt: now, JSON: data,
		})
		m := &nats.Msg{Subject: bus.EventsSubject(sub), Data: data, Header: nats.Header{}}
		if prev != "" {
			m.Header.Set(bus.PrevCursorHeader, prev)
		}
		prevs[si] = c.String()
		msgs = append(msgs, m)
		if len(docs) == batch || k == total-1 {
			// In the events and the history pages, which replays read.
			if err := store.AppendEvents(ctx, db, docs...); err != nil {
				return "", fmt.Errorf("bench: store events: %w", err)
			}
			if js != nil {
				// Stored before published, as the ingest does.
				for _, m := range msgs {
					if _, err := js.PublishMsgAsync(m); err != nil {
						return "", fmt.Errorf("bench: publish events: %w", err)
					}
				}
				select {
				case <-js.PublishAsyncComplete():
				case <-ctx.Done():
					return "", ctx.Err()
				}
			}
			docs, msgs = docs[:0], msgs[:0]
		}
	}
	return cursor.Cursor{Step: 1}.String(), nil
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
