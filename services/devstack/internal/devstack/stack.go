package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mongotron/mongotron/pkg/testenv"
)

// Info is what a ready stack tells its user.
type Info struct {
	// EdgeURLs are the edges' base URLs, http://host:port, first edge first.
	EdgeURLs []string
	// IngestURL is the ingest's health and metrics base URL.
	IngestURL string
	// TronNodeURL is the node the ingest follows: the simulator's first
	// node's HTTP URL, or Config.TronNode.
	TronNodeURL string
	// TronNodeURLs are the nodes the ingest reads, in its order of
	// preference: TronNodeURL alone, or with several simulated nodes one
	// URL of each, HTTP and gRPC alternately.
	TronNodeURLs []string
	// SimURL is the simulator's first node's HTTP base URL, which serves
	// the control API; empty with a real node.
	SimURL string
	// SimNodes are the simulator's nodes, first first; empty with a real
	// node.
	SimNodes []SimNode
	// NATSURL and MongoURI locate the embedded servers.
	NATSURL  string
	MongoURI string
	// AdminKey is the edges' admin key.
	AdminKey string
	// Demo is the demo tenant's key and subscription.
	Demo Demo
}

// SimNode is one node of the simulated chain: its HTTP API (with the
// control API, /sim/faults for this node's faults included) and its gRPC
// API.
type SimNode struct {
	HTTP, GRPC string
}

// Stack is a running dev stack. New prepares it; Run starts every part,
// serves until its context is done and stops them in order.
type Stack struct {
	cfg    Config
	logger *slog.Logger
	logs   io.Writer

	ready chan struct{}
	// info is written once before ready is closed, read only after.
	info Info

	// lifeline is set by Run before the first child starts; nil where
	// the kernel's parent-death signal does its work.
	lifeline *lifeline

	mu       sync.Mutex
	children map[string]*child
}

// Options are the dependencies of a [Stack].
type Options struct {
	// Logger receives the stack's own logs. Nil discards them.
	Logger *slog.Logger
	// Logs receives the children's output, each line prefixed with the
	// child's name. Nil discards it.
	Logs io.Writer
}

// New checks cfg, the binaries, and that every address the stack will
// listen on is free, and returns a stack that [Stack.Run] starts. A port
// in use is reported with the process holding it, when it can be found.
func New(cfg Config, opts Options) (*Stack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.BinDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("devstack: finding the binaries: %w", err)
		}
		cfg.BinDir = filepath.Dir(exe)
	}
	names := []string{"ingest", "edge"}
	if cfg.TronNode == "" {
		names = append(names, "tronsim")
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, n)); err != nil {
			return nil, fmt.Errorf("devstack: binary %s not found in %s (run make build, or pass --bin): %w", n, cfg.BinDir, err)
		}
	}
	if err := checkPorts(cfg.listenAddrs()); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logs := opts.Logs
	if logs == nil {
		logs = io.Discard
	}
	return &Stack{
		cfg: cfg, logger: logger, logs: &lockedWriter{w: logs},
		ready: make(chan struct{}), children: map[string]*child{},
	}, nil
}

// Ready is closed once every part is ready and the demo exists;
// [Stack.Info] is valid from then on.
func (s *Stack) Ready() <-chan struct{} { return s.ready }

// Info returns what the stack is made of. Call it only once
// [Stack.Ready] is closed.
func (s *Stack) Info() Info { return s.info }

// Signal sends sig to the child named name ("tronsim", "ingest",
// "edge-1" …), for tests that crash a part. A child that exits on its own
// is restarted.
func (s *Stack) Signal(name string, sig os.Signal) error {
	s.mu.Lock()
	c, ok := s.children[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("devstack: no child %q", name)
	}
	return c.signal(sig)
}

// PID returns the process id of the child named name, 0 if there is none.
func (s *Stack) PID(name string) int {
	s.mu.Lock()
	c, ok := s.children[name]
	s.mu.Unlock()
	if !ok {
		return 0
	}
	return c.pid()
}

// Close releases nothing today: Run cleans up after itself. It exists so
// that a stack whose Run was never called is closed the same way.
func (s *Stack) Close() error { return nil }

// Run starts NATS and FerretDB in process, then the simulator, the ingest
// and the edges, waits until each is ready, sets up the demo, closes
// [Stack.Ready], and keeps the children running (restarting one that
// crashes) until ctx is done or a child refuses its configuration. It then
// stops the edges, the ingest and the simulator in that order, SIGTERM
// first, and the embedded servers last. It returns nil after a clean stop.
func (s *Stack) Run(ctx context.Context) (err error) {
	cfg := s.cfg
	// The data directory holds the databases and the admin key.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("devstack: data dir: %w", err)
	}
	st, err := loadState(cfg.DataDir)
	if err != nil {
		return err
	}
	addrs, err := s.resolve()
	if err != nil {
		return err
	}

	nport, err := port(addrs.nats)
	if err != nil {
		return err
	}
	ns, err := testenv.StartNATS(testenv.NATSConfig{StoreDir: filepath.Join(cfg.DataDir, "nats"), Port: nport})
	if err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	defer ns.Shutdown()
	ms, err := testenv.StartMongo(testenv.MongoConfig{Dir: filepath.Join(cfg.DataDir, "ferretdb"), Addr: addrs.mongo})
	if err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	defer ms.Shutdown()
	mongoURI, err := withDatabase(ms.URI(), Database)
	if err != nil {
		return err
	}

	info := Info{NATSURL: ns.URL(), MongoURI: mongoURI, IngestURL: "http://" + addrs.ingest}
	if cfg.AdminKey != "" {
		info.AdminKey = cfg.AdminKey
	} else if st.AdminKey != "" {
		info.AdminKey = st.AdminKey
	} else {
		info.AdminKey = "mt_admin_" + randomHex(16)
	}
	st.AdminKey = info.AdminKey

	ll, err := newLifeline(s.logger)
	if err != nil {
		return err
	}
	s.lifeline = ll
	// Deferred before the children's shutdown, so it runs after it.
	defer func() {
		if cerr := ll.close(); cerr != nil {
			s.logger.Warn("the lifeline did not end cleanly", "err", cerr)
		}
	}()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	fatal := make(chan error, 2+cfg.Edges)
	var sim, ingest *child
	var edges []*child
	// Stop in the order clients notice least: edges first (their streams
	// close with 1012 and clients reconnect), then the ingest (it commits
	// the block in hand), then the chain.
	defer func() {
		for _, e := range edges {
			e.shutdown()
		}
		if ingest != nil {
			ingest.shutdown()
		}
		if sim != nil {
			if head, ok := s.simHead(info.SimURL); ok && st.Sim != nil {
				st.Sim.Head = head
			}
			sim.shutdown()
		}
		if serr := saveState(cfg.DataDir, st); serr != nil && err == nil {
			err = serr
		}
		if err == nil {
			select {
			case ferr := <-fatal:
				err = ferr
			default:
			}
		}
	}()
	env := os.Environ()

	if cfg.TronNode != "" {
		info.TronNodeURL = cfg.TronNode
		info.TronNodeURLs = []string{cfg.TronNode}
	} else {
		for i := range cfg.TronNodes {
			n := SimNode{HTTP: "http://" + nthPort(addrs.sim, i), GRPC: "grpc://" + nthPort(addrs.simGRPC, i)}
			info.SimNodes = append(info.SimNodes, n)
			// Both transports in use: the first node over HTTP, then
			// alternately gRPC and HTTP.
			u := n.HTTP
			if i%2 == 1 {
				u = n.GRPC
			}
			info.TronNodeURLs = append(info.TronNodeURLs, u)
		}
		info.SimURL = info.SimNodes[0].HTTP
		info.TronNodeURL = info.SimURL
		args := []string{
			"--http.addr", addrs.sim, "--grpc.addr", addrs.simGRPC, "--nodes", strconv.Itoa(cfg.TronNodes),
			"--block-interval", cfg.BlockInterval.String(),
		}
		if cfg.TronBlocks != "" {
			args = append(args, "--blocks", cfg.TronBlocks)
		} else {
			args = append(args, st.simArgs(time.Now())...)
		}
		sim = newChild("tronsim", filepath.Join(cfg.BinDir, "tronsim"), args, env, info.SimURL+"/sim/status", s.logs, s.logger, cfg.StopTimeout)
		if err := s.launch(sim, fatal); err != nil {
			return err
		}
	}

	ingestArgs := []string{
		"--http.addr", addrs.ingest, "--log.format", "text",
		"--mongo.uri", mongoURI, "--nats.url", info.NATSURL,
		"--tron.api-key", cfg.TronAPIKey,
		"--poll-interval", pollInterval(cfg).String(),
	}
	if len(info.TronNodeURLs) > 1 {
		ingestArgs = append(ingestArgs, "--tron.node-urls", strings.Join(info.TronNodeURLs, ","))
	} else {
		ingestArgs = append(ingestArgs, "--tron.node-url", info.TronNodeURL)
	}
	ingest = newChild("ingest", filepath.Join(cfg.BinDir, "ingest"), ingestArgs, env, info.IngestURL+"/readyz", s.logs, s.logger, cfg.StopTimeout)
	if err := s.launch(ingest, fatal); err != nil {
		return err
	}
	for i, a := range addrs.edges {
		u := "http://" + a
		info.EdgeURLs = append(info.EdgeURLs, u)
		args := []string{
			"--http.addr", a, "--log.format", "text",
			"--mongo.uri", mongoURI, "--nats.url", info.NATSURL,
			"--admin-key", info.AdminKey,
			// Webhooks to receivers on this machine, over plain http:
			// what trying them out locally needs. Production refuses
			// both by default.
			"--webhook.allow-http-hosts", "127.0.0.1,localhost,::1",
			"--webhook.allow-private", "127.0.0.0/8,::1/128",
		}
		e := newChild("edge-"+strconv.Itoa(i+1), filepath.Join(cfg.BinDir, "edge"), args, env, u+"/readyz", s.logs, s.logger, cfg.StopTimeout)
		edges = append(edges, e)
		if err := s.launch(e, fatal); err != nil {
			return err
		}
	}
	for _, c := range append([]*child{sim, ingest}, edges...) {
		if c == nil {
			continue
		}
		if err := s.waitReady(runCtx, c, fatal); err != nil {
			return err
		}
	}

	demo, err := setupDemo(runCtx, demoConfig{
		EdgeURL: info.EdgeURLs[0], AdminKey: info.AdminKey,
		NodeURL: info.TronNodeURL, NodeAPIKey: cfg.TronAPIKey,
		Previous: st.Demo,
	})
	if err != nil {
		return err
	}
	info.Demo = demo
	st.Demo = &demo
	if err := saveState(cfg.DataDir, st); err != nil {
		return err
	}
	s.info = info
	close(s.ready)
	s.logger.Info("dev stack ready", "edges", info.EdgeURLs, "subscription", demo.SubscriptionID)

	select {
	case <-ctx.Done():
		return nil
	case err := <-fatal:
		return err
	}
}

// launch starts c under supervision and returns once its first start
// succeeded or failed.
func (s *Stack) launch(c *child, fatal chan<- error) error {
	c.lifeline = s.lifeline
	s.mu.Lock()
	s.children[c.name] = c
	s.mu.Unlock()
	first := make(chan error, 1)
	go func() {
		if err := c.supervise(first); err != nil {
			fatal <- err
		}
	}()
	return <-first
}

// waitReady polls c's readiness URL until it answers 200.
func (s *Stack) waitReady(ctx context.Context, c *child, fatal <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.readyURL, nil)
		if err != nil {
			return fmt.Errorf("devstack: %s: %w", c.name, err)
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.logger.Info("ready", "child", c.name, "url", c.readyURL)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err := context.Cause(ctx); errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("devstack: %s not ready at %s within %s", c.name, c.readyURL, s.cfg.ReadyTimeout)
			}
			return ctx.Err()
		case err := <-fatal:
			return err
		case <-tick.C:
		}
	}
}

// simHead asks the simulator for its head, to be stored for the next run.
func (s *Stack) simHead(simURL string) (int64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var st struct {
		Head int64 `json:"head"`
	}
	if err := getJSON(ctx, simURL+"/sim/status", "", &st); err != nil {
		s.logger.Warn("could not read the simulator's head", "err", err)
		return 0, false
	}
	return st.Head, true
}

// pollInterval makes the ingest notice a new block within a third of the
// block interval, between 100 ms and 1 s.
func pollInterval(cfg Config) time.Duration {
	return min(max(cfg.BlockInterval/3, 100*time.Millisecond), time.Second)
}

type addrs struct {
	nats, mongo, ingest string
	// sim and simGRPC are the simulator's first node's; node i listens on
	// their ports + i.
	sim, simGRPC string
	edges        []string
}

// resolve turns every port 0 into a free port, since the children's
// addresses must be known before they start. The simulator's nodes get
// consecutive free ports. A port picked is free when picked but not held,
// so the kernel may hand it out again: no two parts get the same one.
func (s *Stack) resolve() (addrs, error) {
	var a addrs
	used := map[int]bool{}
	pick := func(addr string, n int) (string, error) {
		for range 50 {
			got, err := freeRangeIfZero(addr, n)
			if err != nil {
				return "", err
			}
			if _, p, _ := net.SplitHostPort(addr); p != "0" {
				return got, nil // a fixed port: checkPorts reports clashes
			}
			_, gp, _ := net.SplitHostPort(got)
			first, _ := strconv.Atoi(gp)
			clash := false
			for i := range max(n, 1) {
				clash = clash || used[first+i]
			}
			if !clash {
				for i := range max(n, 1) {
					used[first+i] = true
				}
				return got, nil
			}
		}
		return "", fmt.Errorf("devstack: no free port for %s apart from the others", addr)
	}
	var err error
	for _, p := range []struct {
		dst *string
		v   string
	}{{&a.nats, s.cfg.NATSAddr}, {&a.mongo, s.cfg.MongoAddr}, {&a.ingest, s.cfg.IngestAddr}} {
		if *p.dst, err = pick(p.v, 1); err != nil {
			return a, err
		}
	}
	if a.sim, err = pick(s.cfg.SimAddr, s.cfg.TronNodes); err != nil {
		return a, err
	}
	if a.simGRPC, err = pick(s.cfg.SimGRPCAddr, s.cfg.TronNodes); err != nil {
		return a, err
	}
	host, ps, err := net.SplitHostPort(s.cfg.HTTPAddr)
	if err != nil {
		return a, fmt.Errorf("devstack: http: %w", err)
	}
	base, err := strconv.Atoi(ps)
	if err != nil {
		return a, fmt.Errorf("devstack: http port: %w", err)
	}
	for i := range s.cfg.Edges {
		if base == 0 {
			e, err := pick(net.JoinHostPort(host, "0"), 1)
			if err != nil {
				return a, err
			}
			a.edges = append(a.edges, e)
			continue
		}
		a.edges = append(a.edges, net.JoinHostPort(host, strconv.Itoa(base+i)))
	}
	return a, nil
}

// freeIfZero returns addr, or addr with a free port when its port is 0.
// Another process could take the port before the child binds it; on a
// developer's machine that is rare enough, and the child then fails
// loudly.
func freeIfZero(addr string) (string, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("devstack: %q: %w", addr, err)
	}
	if p != "0" {
		return addr, nil
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("devstack: free port on %s: %w", host, err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

// freeRangeIfZero returns addr, or when its port is 0 the address of the
// first of n consecutive free ports, as the simulator's nodes listen on
// consecutive ports.
func freeRangeIfZero(addr string, n int) (string, error) {
	if n <= 1 {
		return freeIfZero(addr)
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("devstack: %q: %w", addr, err)
	}
	if p != "0" {
		return addr, nil
	}
	if host == "" {
		host = "127.0.0.1"
	}
	// A free port whose successors are free too: a few tries find one.
	for range 50 {
		first, err := freeIfZero(net.JoinHostPort(host, "0"))
		if err != nil {
			return "", err
		}
		if portsFree(first, n) {
			return first, nil
		}
	}
	return "", fmt.Errorf("devstack: no %d consecutive free ports on %s", n, host)
}

// portsFree says whether the n ports from addr's are free now.
func portsFree(addr string, n int) bool {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for i := range n {
		ln, err := net.Listen("tcp", nthPort(addr, i))
		if err != nil {
			return false
		}
		lns = append(lns, ln)
	}
	return true
}

func port(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("devstack: %q: %w", addr, err)
	}
	return strconv.Atoi(p)
}

// withDatabase returns uri with its path naming db.
func withDatabase(uri, db string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("devstack: ferretdb uri: %w", err)
	}
	u.Path = "/" + db
	return u.String(), nil
}
