// Package devstack runs Mongotron on one machine for development: NATS
// with JetStream and FerretDB embedded in this process, and the Tron node
// simulator, one ingest and N edges as child processes running the very
// binaries that production runs. It waits until every part is ready,
// creates (or reuses) a demo API key and subscription, keeps the children
// running, and stops them in order.
package devstack

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/mongotron/mongotron/pkg/config"
)

// Defaults of [Config]'s zero fields and of the command's flags.
const (
	DefaultHTTPAddr      = "127.0.0.1:8080"
	DefaultEdges         = 2
	DefaultDataDir       = ".data"
	DefaultBlockInterval = 3 * time.Second
	// DefaultNATSAddr and DefaultMongoAddr are the ports the ingest and
	// the edge use when given no flag, so a binary started by hand next to
	// the dev stack finds its dependencies.
	DefaultNATSAddr  = "127.0.0.1:4222"
	DefaultMongoAddr = "127.0.0.1:27017"
	DefaultSimAddr   = "127.0.0.1:8090"
	// DefaultSimGRPCAddr is where the simulator serves gRPC: java-tron's
	// full node gRPC port.
	DefaultSimGRPCAddr = "127.0.0.1:50051"
	DefaultIngestAddr  = "127.0.0.1:8070"
	// DefaultReadyTimeout bounds the wait for each part to become ready.
	DefaultReadyTimeout = 60 * time.Second
	// DefaultStopTimeout bounds the wait for each child after SIGTERM,
	// before it is killed. It exceeds the ingest's 30 s bound on
	// committing the block in hand, so a clean stop is never cut short.
	DefaultStopTimeout = 35 * time.Second
	// Database is the MongoDB database the stack's services use.
	Database = "mongotron"
	// MaxTronNodes bounds [Config.TronNodes].
	MaxTronNodes = 16
)

// Config configures a [Stack].
type Config struct {
	// Addresses. A port of 0 picks a free port.

	// HTTPAddr is where the first edge listens; edge i (from 0) listens on
	// the port HTTPAddr's port + i. Empty means [DefaultHTTPAddr]; a port
	// of 0 gives every edge a free port.
	HTTPAddr string
	// NATSAddr is where the embedded NATS server listens. Empty means
	// [DefaultNATSAddr].
	NATSAddr string
	// MongoAddr is where the embedded FerretDB listens. Empty means
	// [DefaultMongoAddr].
	MongoAddr string
	// SimAddr is where the simulator's first node serves HTTP; node i
	// (from 0) serves on SimAddr's port + i. Empty means [DefaultSimAddr];
	// a port of 0 picks free consecutive ports. Unused with TronNode.
	SimAddr string
	// SimGRPCAddr is where the simulator's first node serves gRPC; node i
	// on its port + i. Empty means [DefaultSimGRPCAddr]; a port of 0 picks
	// free consecutive ports. Unused with TronNode.
	SimGRPCAddr string
	// IngestAddr is where the ingest serves /readyz and /metrics. Empty
	// means [DefaultIngestAddr].
	IngestAddr string

	// Parts.

	// Edges is how many edges run. Zero means [DefaultEdges].
	Edges int
	// DataDir holds NATS's and FerretDB's data and the stack's state (the
	// admin key, the demo key and subscription, the simulated chain's
	// origin), so that a second run continues the first. Empty means
	// [DefaultDataDir].
	DataDir string
	// BinDir holds the ingest, edge and tronsim binaries. Empty means the
	// directory of the running executable.
	BinDir string
	// AdminKey is the edges' admin key (16 characters at least). Empty
	// means the one a previous run stored in DataDir, or a new random one.
	AdminKey string

	// Chain. At most one of TronBlocks and TronNode may be set; neither
	// means a synthetic simulated chain.

	// BlockInterval is how often the simulator makes a block. Zero means
	// [DefaultBlockInterval].
	BlockInterval time.Duration
	// TronBlocks makes the simulator replay the recorded blocks of this
	// directory. Empty means a synthetic chain.
	TronBlocks string
	// TronNode is a real Tron node's HTTP API base URL, used instead of
	// the simulator. Empty means the simulator.
	TronNode string
	// TronAPIKey is sent to TronNode as TRON-PRO-API-KEY. Empty sends none.
	TronAPIKey string
	// TronNodes is how many nodes the simulator serves its one chain as,
	// each on its own HTTP and gRPC ports, all of them read by the ingest:
	// the first over HTTP, then alternately gRPC and HTTP. Zero means 1;
	// more than 1 needs the simulator (no TronNode).
	TronNodes int

	// Timeouts.

	// ReadyTimeout bounds the wait for each part to become ready. Zero
	// means [DefaultReadyTimeout].
	ReadyTimeout time.Duration
	// StopTimeout bounds the wait for each child after SIGTERM before it
	// is killed. Zero means [DefaultStopTimeout].
	StopTimeout time.Duration
}

// RegisterFlags registers the command's flags on fs, with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http.addr", DefaultHTTPAddr, "`address` of the first edge; the others listen on the following ports (port 0: free ports)")
	fs.IntVar(&c.Edges, "edges", DefaultEdges, "how many edges to run")
	fs.StringVar(&c.DataDir, "data", DefaultDataDir, "`directory` of the data kept across runs (NATS, FerretDB, keys)")
	fs.StringVar(&c.AdminKey, "admin-key", "", "admin `key` of the edges (empty: the stored one, or a new one)")
	fs.DurationVar(&c.BlockInterval, "block-interval", DefaultBlockInterval, "time between simulated blocks")
	fs.StringVar(&c.TronBlocks, "blocks", "", "replay the recorded blocks of this `directory` in the simulator")
	fs.StringVar(&c.TronNode, "tron.node-url", "", "use the real Tron node at this `URL` instead of the simulator")
	fs.StringVar(&c.TronAPIKey, "tron.api-key", "", "TronGrid API `key` for --tron.node-url")
	fs.IntVar(&c.TronNodes, "tron-nodes", 1, "serve the simulated chain as this many nodes, each on its own HTTP and gRPC ports (--sim-addr, --sim-grpc-addr plus i), all read by the ingest: the first over HTTP, then alternately gRPC and HTTP")
	fs.StringVar(&c.BinDir, "bin", "", "`directory` of the ingest, edge and tronsim binaries (empty: next to this one)")
	fs.StringVar(&c.NATSAddr, "nats-addr", DefaultNATSAddr, "`address` of the embedded NATS server")
	fs.StringVar(&c.MongoAddr, "mongo-addr", DefaultMongoAddr, "`address` of the embedded FerretDB")
	fs.StringVar(&c.SimAddr, "sim-addr", DefaultSimAddr, "`address` of the Tron simulator's HTTP API (node i: port + i)")
	fs.StringVar(&c.SimGRPCAddr, "sim-grpc-addr", DefaultSimGRPCAddr, "`address` of the Tron simulator's gRPC API (node i: port + i)")
	fs.StringVar(&c.IngestAddr, "ingest-addr", DefaultIngestAddr, "`address` of the ingest's health and metrics server")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", DefaultReadyTimeout, "how long to wait for each part to become ready")
	fs.DurationVar(&c.StopTimeout, "stop-timeout", DefaultStopTimeout, "how long to wait for each child after SIGTERM before killing it")
	// The names the edge, the ingest and the simulator give the same
	// settings; the old ones go in the next release.
	config.Renamed(fs, "http", "http.addr")
	config.Renamed(fs, "tron-blocks", "blocks")
	config.Renamed(fs, "tron-node", "tron.node-url")
	config.Renamed(fs, "tron-api-key", "tron.api-key")
}

// Validate reports every invalid value at once.
func (c *Config) Validate() error {
	var errs []error
	for _, a := range []struct{ name, v string }{
		{"http.addr", c.HTTPAddr}, {"nats-addr", c.NATSAddr}, {"mongo-addr", c.MongoAddr},
		{"sim-addr", c.SimAddr}, {"sim-grpc-addr", c.SimGRPCAddr}, {"ingest-addr", c.IngestAddr},
	} {
		if a.v == "" {
			continue
		}
		if _, p, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("devstack: %s %q: %w", a.name, a.v, err))
		} else if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("devstack: %s %q: bad port", a.name, a.v))
		} else if (a.name == "sim-addr" || a.name == "sim-grpc-addr") && n != 0 && n+max(c.TronNodes, 1)-1 > 65535 {
			errs = append(errs, fmt.Errorf("devstack: %s %q: %d nodes would listen past port 65535", a.name, a.v, c.TronNodes))
		}
	}
	if c.TronNodes < 0 || c.TronNodes > MaxTronNodes {
		errs = append(errs, fmt.Errorf("devstack: tron-nodes %d: want 1 to %d", c.TronNodes, MaxTronNodes))
	}
	if c.TronNodes > 1 && c.TronNode != "" {
		errs = append(errs, errors.New("devstack: tron-nodes is for the simulator; it excludes tron.node-url"))
	}
	if c.Edges < 0 || c.Edges > 64 {
		errs = append(errs, fmt.Errorf("devstack: edges %d: want 1 to 64", c.Edges))
	}
	if c.AdminKey != "" && len(c.AdminKey) < 16 {
		errs = append(errs, errors.New("devstack: admin-key is shorter than 16 characters"))
	}
	if c.TronBlocks != "" && c.TronNode != "" {
		errs = append(errs, errors.New("devstack: blocks and tron.node-url exclude each other"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"block-interval", c.BlockInterval}, {"ready-timeout", c.ReadyTimeout}, {"stop-timeout", c.StopTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("devstack: %s %s is negative", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&c.HTTPAddr, DefaultHTTPAddr)
	def(&c.NATSAddr, DefaultNATSAddr)
	def(&c.MongoAddr, DefaultMongoAddr)
	def(&c.SimAddr, DefaultSimAddr)
	def(&c.SimGRPCAddr, DefaultSimGRPCAddr)
	def(&c.IngestAddr, DefaultIngestAddr)
	def(&c.DataDir, DefaultDataDir)
	if c.Edges == 0 {
		c.Edges = DefaultEdges
	}
	c.TronNodes = max(c.TronNodes, 1)
	if c.BlockInterval == 0 {
		c.BlockInterval = DefaultBlockInterval
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	return c
}
