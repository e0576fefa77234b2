package chaos

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mongotron/mongotron/pkg/testenv"
)

// Defaults of [Config]'s zero values.
const (
	DefaultEdges         = 2
	DefaultBlockInterval = 300 * time.Millisecond
	DefaultTxsPerBlock   = 10
	// Database is the MongoDB database the children share.
	Database = "chaos"
	// natsNodes is the size of the NATS cluster.
	natsNodes = 3
)

// Config configures [Start].
type Config struct {
	// BinDir holds the ingest, edge and tronsim binaries (see [Build]).
	// It is required.
	BinDir string
	// Dir holds the NATS nodes' stores and FerretDB's data. Empty means a
	// new temporary directory, removed by Close.
	Dir string
	// Logs receives the children's output and the harness's own lines.
	// Nil means a new [Logs].
	Logs *Logs

	// Edges is the number of edges. Zero means [DefaultEdges] (2).
	Edges int
	// BlockInterval is the simulator's time between blocks. Zero means
	// [DefaultBlockInterval] (300 ms).
	BlockInterval time.Duration
	// TxsPerBlock is the simulator's mean transactions per block. Zero
	// means [DefaultTxsPerBlock] (10).
	TxsPerBlock int
	// BrokerGrace is each edge's --stream.broker-grace, by edge index; a
	// missing or zero entry leaves the edge's default (5 s).
	BrokerGrace []time.Duration
	// EdgeArgs are extra flags for every edge.
	EdgeArgs []string
	// IngestArgs are extra flags for the ingest.
	IngestArgs []string
}

func (c Config) withDefaults() Config {
	if c.Edges == 0 {
		c.Edges = DefaultEdges
	}
	if c.BlockInterval == 0 {
		c.BlockInterval = DefaultBlockInterval
	}
	if c.TxsPerBlock == 0 {
		c.TxsPerBlock = DefaultTxsPerBlock
	}
	if c.Logs == nil {
		c.Logs = &Logs{}
	}
	return c
}

// Edge is one edge process and the proxies it reaches NATS through.
type Edge struct {
	// Index is the edge's place in [Harness.Edges], from 0.
	Index int
	// URL is the edge's base URL, http://127.0.0.1:<port>; it stays the
	// same across kills and restarts.
	URL string
	// Proc is the edge's process.
	Proc *Proc
	// Proxies stand between the edge and each NATS node, in node order.
	Proxies []*testenv.Proxy

	mu sync.Mutex
	// banked sums the counters of the edge's processes that were
	// killed, scraped just before each kill.
	banked Counters
	// unscraped counts kills whose counters could not be scraped first.
	unscraped int
}

// Harness is the whole system, running; see the package doc. Its fault
// methods are safe for concurrent use.
type Harness struct {
	cfg Config
	// Logs has every child's output and the harness's own lines.
	Logs *Logs
	// NATS is the cluster; the ingest reaches its nodes directly, each
	// edge through its [Edge.Proxies].
	NATS *testenv.NATSCluster
	// Mongo is the restartable FerretDB; MongoURI names its database.
	Mongo    *testenv.Mongo
	MongoURI string
	// Sim is the chain simulator, at SimURL.
	Sim    *Proc
	SimURL string
	// Ingest is the ingest, whose health and metrics are at IngestURL.
	Ingest    *Proc
	IngestURL string
	// Edges are the edges, in order.
	Edges []*Edge
	// AdminKey is the edges' admin key.
	AdminKey string
	// HTTP is the client of the harness's REST calls; Close closes its
	// idle connections.
	HTTP *http.Client

	tmp string // Dir, when temporary

	closeOnce sync.Once
}

// Fault kinds, as the logs name them ("FAULT edge_kill: …").
const (
	FaultNATSKill   = "nats_node_kill"
	FaultLinkCut    = "edge_link_cut"
	FaultStoreStop  = "store_stop"
	FaultEdgeKill   = "edge_kill"
	FaultIngestKill = "ingest_kill"
)

// Start starts the system and returns once every part is ready: the
// cluster has a JetStream leader, the ingest answers /readyz, and so does
// every edge. On an error, what was started is stopped again.
//
// The ingest gets every node's URL, --nats.replicas=3, a poll interval of
// a third of a block and a 3 s leader lease (so that a restarted ingest
// takes over within seconds). Each edge gets its proxies' URLs,
// --nats.replicas=3, the admin key, --api.rate-limit=-1, webhooks allowed
// to plain http on 127.0.0.1, a webhook retry schedule that starts at
// 500 ms, and its broker grace if Config.BrokerGrace has one. The
// children inherit the environment, so MONGOTRON_LOG_LEVEL=debug reaches
// them.
func Start(cfg Config) (_ *Harness, err error) {
	cfg = cfg.withDefaults()
	if cfg.BinDir == "" {
		return nil, errors.New("chaos: Config.BinDir is required")
	}
	for _, name := range []string{"ingest", "edge", "tronsim"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, name)); err != nil {
			return nil, fmt.Errorf("chaos: binary %s: %w", name, err)
		}
	}
	h := &Harness{
		cfg:  cfg,
		Logs: cfg.Logs,
		HTTP: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second},
	}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "mongotron-chaos-*"); err != nil {
			return nil, fmt.Errorf("chaos: %w", err)
		}
		h.tmp = dir
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	h.AdminKey = "mt_admin_" + hex.EncodeToString(key)

	began := time.Now()
	if h.NATS, err = testenv.StartNATSCluster(testenv.NATSClusterConfig{
		Nodes: natsNodes, StoreDir: filepath.Join(dir, "nats"), NoAdvertise: true,
	}); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	if h.Mongo, err = testenv.StartMongo(testenv.MongoConfig{Dir: filepath.Join(dir, "ferretdb"), Restartable: true}); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	u, err := url.Parse(h.Mongo.URI())
	if err != nil {
		return nil, fmt.Errorf("chaos: mongo uri: %w", err)
	}
	u.Path = "/" + Database
	h.MongoURI = u.String()
	h.Logs.Logf("chaos", "nats cluster %s and ferretdb %s up in %s", h.NATS.URL(), h.MongoURI, time.Since(began).Round(time.Millisecond))

	port := func() (string, error) {
		p, err := pickPort()
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), err
	}
	env := os.Environ()

	simAddr, err := port()
	if err != nil {
		return nil, err
	}
	h.SimURL = "http://" + simAddr
	h.Sim = &Proc{
		name: "tronsim", path: filepath.Join(cfg.BinDir, "tronsim"), env: env, logs: h.Logs,
		readyURL: h.SimURL + "/sim/status",
		args: []string{
			// No gRPC listener: the harness reads the node over HTTP,
			// and tests run side by side must not share its port.
			"--http.addr", simAddr, "--grpc.addr", "", "--block-interval", cfg.BlockInterval.String(),
			"--txs-per-block", strconv.Itoa(cfg.TxsPerBlock), "--initial-blocks", "20",
		},
	}
	if err := h.Sim.Start(); err != nil {
		return nil, err
	}
	if err := h.Sim.WaitReady(h.HTTP, readyWait); err != nil {
		return nil, err
	}

	ingestAddr, err := port()
	if err != nil {
		return nil, err
	}
	h.IngestURL = "http://" + ingestAddr
	h.Ingest = &Proc{
		name: "ingest", path: filepath.Join(cfg.BinDir, "ingest"), env: env, logs: h.Logs,
		readyURL: h.IngestURL + "/readyz",
		args: append([]string{
			"--http.addr", ingestAddr, "--log.format", "text",
			"--mongo.uri", h.MongoURI, "--nats.url", h.NATS.URL(), "--nats.replicas", strconv.Itoa(natsNodes),
			"--tron.node-url", h.SimURL,
			"--poll-interval", max(cfg.BlockInterval/3, 50*time.Millisecond).String(),
			// A restarted ingest takes the lease over within this;
			// the default 6 s would hold every block that long.
			"--lease.ttl", "3s",
		}, cfg.IngestArgs...),
	}
	if err := h.Ingest.Start(); err != nil {
		return nil, err
	}
	if err := h.Ingest.WaitReady(h.HTTP, readyWait); err != nil {
		return nil, err
	}

	for i := range cfg.Edges {
		e := &Edge{Index: i}
		// In the list at once, so that Close closes its proxies if the
		// start fails half way.
		h.Edges = append(h.Edges, e)
		var natsURLs []string
		for _, nu := range h.NATS.URLs() {
			target, err := url.Parse(nu)
			if err != nil {
				return nil, fmt.Errorf("chaos: nats url: %w", err)
			}
			p, err := testenv.StartProxy(target.Host)
			if err != nil {
				return nil, fmt.Errorf("chaos: %w", err)
			}
			e.Proxies = append(e.Proxies, p)
			natsURLs = append(natsURLs, "nats://"+p.Addr())
		}
		addr, err := port()
		if err != nil {
			return nil, err
		}
		e.URL = "http://" + addr
		args := []string{
			"--http.addr", addr, "--log.format", "text",
			"--mongo.uri", h.MongoURI,
			"--nats.url", strings.Join(natsURLs, ","), "--nats.replicas", strconv.Itoa(natsNodes),
			"--admin-key", h.AdminKey, "--api.rate-limit=-1",
			"--webhook.allow-http-hosts", "127.0.0.1", "--webhook.allow-private", "127.0.0.1",
			// Quick first retries, so that an attempt cut short (its
			// edge was killed mid-delivery, say) is made again within
			// seconds rather than the default 5 s, 30 s, 2 min …; the
			// later waits still add up to hours, so nothing is
			// dead-lettered during a test.
			"--webhook.schedule", "500ms,1s,2s,5s,10s,30s,1m,5m,30m,1h",
		}
		if i < len(cfg.BrokerGrace) && cfg.BrokerGrace[i] > 0 {
			args = append(args, "--stream.broker-grace", cfg.BrokerGrace[i].String())
		}
		e.Proc = &Proc{
			name: "edge-" + strconv.Itoa(i+1), path: filepath.Join(cfg.BinDir, "edge"), env: env, logs: h.Logs,
			readyURL: e.URL + "/readyz", args: append(args, cfg.EdgeArgs...),
		}
		if err := e.Proc.Start(); err != nil {
			return nil, err
		}
	}
	for _, e := range h.Edges {
		if err := e.Proc.WaitReady(h.HTTP, readyWait); err != nil {
			return nil, err
		}
	}
	h.Logs.Logf("chaos", "system ready in %s: sim %s, ingest %s, edges %s", time.Since(began).Round(time.Millisecond), h.SimURL, h.IngestURL, strings.Join(h.EdgeURLs(), " "))
	return h, nil
}

// EdgeURLs are the edges' base URLs, in order.
func (h *Harness) EdgeURLs() []string {
	out := make([]string, len(h.Edges))
	for i, e := range h.Edges {
		out[i] = e.URL
	}
	return out
}

// Close kills every child (SIGKILL to its process group), then closes the
// proxies, the cluster and FerretDB, and removes a temporary directory.
// Calling it again does nothing.
func (h *Harness) Close() {
	h.closeOnce.Do(func() {
		for _, e := range h.Edges {
			if e.Proc != nil {
				h.logErr(e.Proc.Kill())
			}
		}
		for _, p := range []*Proc{h.Ingest, h.Sim} {
			if p != nil {
				h.logErr(p.Kill())
			}
		}
		for _, e := range h.Edges {
			for _, p := range e.Proxies {
				p.Close()
			}
		}
		if h.NATS != nil {
			h.NATS.Shutdown()
		}
		if h.Mongo != nil {
			h.Mongo.Shutdown()
		}
		h.HTTP.CloseIdleConnections()
		if h.tmp != "" {
			_ = os.RemoveAll(h.tmp)
		}
	})
}

func (h *Harness) logErr(err error) {
	if err != nil {
		h.Logs.Logf("chaos", "%v", err)
	}
}

// fault logs a fault of kind.
func (h *Harness) fault(kind, format string, args ...any) {
	h.Logs.Logf("chaos", "FAULT %s: %s", kind, fmt.Sprintf(format, args...))
}

// KillNATS shuts NATS node i down (see [testenv.NATSCluster.Kill]).
func (h *Harness) KillNATS(i int) error {
	h.fault(FaultNATSKill, "nats node n%d", i)
	return h.NATS.Kill(i)
}

// RestartNATS starts NATS node i again on its ports and store, and
// returns once it has rejoined the cluster.
func (h *Harness) RestartNATS(i int) error {
	began := time.Now()
	err := h.NATS.Restart(i)
	h.Logs.Logf("chaos", "nats node n%d restarted in %s (err: %v)", i, time.Since(began).Round(time.Millisecond), err)
	return err
}

// NATSNodeOf returns the NATS node edge e is connected to now: the one
// whose proxy holds its connection. It is -1 when the edge holds no
// connection (it is reconnecting, or down).
func (h *Harness) NATSNodeOf(e int) int {
	for i, p := range h.Edges[e].Proxies {
		if p.Active() > 0 {
			return i
		}
	}
	return -1
}

// CutLink drops every connection between edge e and NATS and refuses new
// ones, for d when d > 0 (restored without blocking), else until
// [Harness.RestoreLink].
func (h *Harness) CutLink(e int, d time.Duration) {
	if d > 0 {
		h.fault(FaultLinkCut, "edge-%d's link to nats for %s", e+1, d)
	} else {
		h.fault(FaultLinkCut, "edge-%d's link to nats until restored", e+1)
	}
	for _, p := range h.Edges[e].Proxies {
		if d > 0 {
			p.CutFor(d)
		} else {
			p.Cut()
		}
	}
}

// RestoreLink ends a cut of edge e's link to NATS.
func (h *Harness) RestoreLink(e int) {
	h.Logs.Logf("chaos", "edge-%d's link to nats restored", e+1)
	for _, p := range h.Edges[e].Proxies {
		p.Restore()
	}
}

// StopStore makes FerretDB unreachable, as if its process had died.
func (h *Harness) StopStore() error {
	h.fault(FaultStoreStop, "ferretdb stopped")
	return h.Mongo.Stop()
}

// StartStore serves FerretDB again on the same address and data.
func (h *Harness) StartStore() error {
	err := h.Mongo.Start()
	h.Logs.Logf("chaos", "ferretdb started again (err: %v)", err)
	return err
}

// KillEdge scrapes edge e's counters (so that [Harness.EdgeCounters]
// keeps them), then SIGKILLs it.
func (h *Harness) KillEdge(e int) error {
	edge := h.Edges[e]
	c, err := h.scrape(edge.URL + "/metrics")
	edge.mu.Lock()
	if err != nil {
		edge.unscraped++
	} else {
		edge.banked = edge.banked.add(c)
	}
	edge.mu.Unlock()
	h.fault(FaultEdgeKill, "edge-%d SIGKILL (counters scraped first: %v)", e+1, err == nil)
	return edge.Proc.Kill()
}

// StartEdge starts edge e again on its port and waits until it is ready.
func (h *Harness) StartEdge(e int) error {
	p := h.Edges[e].Proc
	if err := p.Start(); err != nil {
		return err
	}
	return p.WaitReady(h.HTTP, readyWait)
}

// KillIngest SIGKILLs the ingest.
func (h *Harness) KillIngest() error {
	h.fault(FaultIngestKill, "ingest SIGKILL")
	return h.Ingest.Kill()
}

// StartIngest starts the ingest again and waits until it is ready.
func (h *Harness) StartIngest() error {
	if err := h.Ingest.Start(); err != nil {
		return err
	}
	return h.Ingest.WaitReady(h.HTTP, readyWait)
}

// Counters are Prometheus counter and gauge values by series, as the
// exposition format prints them: `name` or `name{label="value"}`.
type Counters map[string]float64

func (c Counters) add(o Counters) Counters {
	out := make(Counters, len(c)+len(o))
	for k, v := range c {
		out[k] += v
	}
	for k, v := range o {
		out[k] += v
	}
	return out
}

// Sum adds every series of the metric name, whatever its labels.
func (c Counters) Sum(name string) float64 {
	var s float64
	for k, v := range c {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// Labelled returns the series of the metric name by the value of its one
// label.
func (c Counters) Labelled(name string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range c {
		rest, ok := strings.CutPrefix(k, name+"{")
		if !ok {
			continue
		}
		_, val, ok := strings.Cut(strings.TrimSuffix(rest, "}"), "=")
		if ok {
			out[strings.Trim(val, `"`)] += v
		}
	}
	return out
}

// String lists the series in name order.
func (c Counters) String() string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %g\n", k, c[k])
	}
	return b.String()
}

// scrape reads the mongotron_* series of a /metrics page.
func (h *Harness) scrape(u string) (Counters, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("chaos: %s: HTTP %d", u, resp.StatusCode)
	}
	c := Counters{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "mongotron_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		c[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("chaos: %s: %w", u, err)
	}
	return c, nil
}

// EdgeCounters returns edge e's counters now, plus those of its killed
// processes.
func (h *Harness) EdgeCounters(e int) (Counters, error) {
	edge := h.Edges[e]
	var c Counters
	var err error
	if edge.Proc.Running() {
		c, err = h.scrape(edge.URL + "/metrics")
	}
	edge.mu.Lock()
	defer edge.mu.Unlock()
	return edge.banked.add(c), err
}

// AllEdgeCounters sums [Harness.EdgeCounters] over the edges; unscraped
// is the number of edge kills whose counters were lost.
func (h *Harness) AllEdgeCounters() (sum Counters, unscraped int, err error) {
	sum = Counters{}
	var errs []error
	for i, e := range h.Edges {
		c, err := h.EdgeCounters(i)
		errs = append(errs, err)
		sum = sum.add(c)
		e.mu.Lock()
		unscraped += e.unscraped
		e.mu.Unlock()
	}
	return sum, unscraped, errors.Join(errs...)
}

// IngestCounters scrapes the ingest's metrics.
func (h *Harness) IngestCounters() (Counters, error) {
	if !h.Ingest.Running() {
		return nil, fmt.Errorf("chaos: ingest: %w", errNotRunning)
	}
	return h.scrape(h.IngestURL + "/metrics")
}

// Committed is the last block the ingest committed, from its metrics.
func (h *Harness) Committed() (int64, error) {
	c, err := h.IngestCounters()
	if err != nil {
		return 0, err
	}
	v, ok := c["mongotron_ingest_committed_block"]
	if !ok {
		return 0, errors.New("chaos: ingest metrics have no mongotron_ingest_committed_block")
	}
	return int64(v), nil
}
