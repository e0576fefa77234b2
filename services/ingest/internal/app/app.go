// Package app is the ingest service: its configuration, its HTTP server
// (health, readiness, metrics) and its lifecycle: it connects MongoDB, NATS
// and the Tron node, loads the subscriptions and runs the chain follower.
package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/config"
	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/ingest/internal/backfill"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
	"github.com/mongotron/mongotron/services/ingest/internal/nodes"
	"github.com/mongotron/mongotron/services/ingest/internal/subs"
	"github.com/mongotron/mongotron/services/ingest/internal/tokens"
)

// Name is the binary's name.
const Name = "ingest"

// DefaultHTTPAddr is where the health and metrics server listens unless
// told otherwise; the edge takes :8080.
const DefaultHTTPAddr = ":8081"

// DefaultConnectTimeout bounds reaching each dependency at start.
const DefaultConnectTimeout = 10 * time.Second

// DefaultTronNodeURL is the node read when neither tron.node-url nor
// tron.node-urls says otherwise: a full node on this host.
const DefaultTronNodeURL = "http://127.0.0.1:8090"

// Config is the ingest's root configuration.
type Config struct {
	// HTTP is the health and metrics server. RegisterFlags makes an empty
	// Addr [DefaultHTTPAddr].
	HTTP service.HTTPConfig
	// Log configures the logger; its zero value logs at info level.
	Log logging.Config

	// MongoURI is the MongoDB connection string (mongodb:// or
	// mongodb+srv://); its path names the database, and none means
	// [store.DefaultDatabase] (store.DatabaseName, as the edge reads it).
	// It is required.
	MongoURI string
	// NATS lists the NATS servers and the replica count of the events
	// stream (the nats.* flags).
	NATS bus.Config
	// TronNodeURL is the base URL of the Tron full node: its HTTP API
	// (http://, https://) or its gRPC API (grpc://, grpcs://). It is
	// required unless Nodes.URLs lists the nodes; with them it must be
	// empty or [DefaultTronNodeURL], and is ignored.
	TronNodeURL string
	// TronAPIKey is sent to every node as the header (gRPC: metadata)
	// TronAPIKeyHeader. Empty sends none, which a private node accepts
	// and TronGrid rate-limits.
	TronAPIKey string
	// TronAPIKeyHeader names the API key's header. Empty means
	// tron.DefaultAPIKeyHeader (TRON-PRO-API-KEY, TronGrid's).
	TronAPIKeyHeader string
	// Nodes lists several nodes to read from with failover, and tunes
	// their health checks (the tron.node-urls and other tron.* flags).
	// Its URLs, when set, replace TronNodeURL.
	Nodes nodes.Config
	// Network is written into every event. Empty means mainnet.
	Network string

	// PollInterval is how often the head is polled when caught up. Zero
	// means follow.DefaultPollInterval (1s).
	PollInterval time.Duration
	// StartBlock is where an empty database starts. Zero means the head;
	// it is ignored once a checkpoint exists.
	StartBlock int64
	// FetchConcurrency is how many block ranges are fetched at once while
	// catching up. Zero means follow.DefaultConcurrency.
	FetchConcurrency int
	// ResyncInterval is how often subscriptions are checked against
	// MongoDB. Zero means subs.DefaultResyncInterval (30s).
	ResyncInterval time.Duration
	// Retention is how long events are kept. Zero means
	// store.DefaultRetention (720h).
	Retention time.Duration
	// ConnectTimeout bounds reaching each dependency (MongoDB, NATS, the
	// Tron node) at start; an unreachable one is a start failure. Zero
	// means [DefaultConnectTimeout]. The edge's setting of the same name
	// means the same.
	ConnectTimeout time.Duration

	// LeaseTTL is how long the leader lease lasts without renewal; it is
	// renewed every LeaseTTL/3, and a standby takes over at most about
	// LeaseTTL after a leader dies. Zero means follow.DefaultLeaseTTL
	// (6s).
	LeaseTTL time.Duration
	// LeaseHolder names this ingest in the lease. Empty means
	// hostname-pid-random; two ingests must never share a name.
	LeaseHolder string

	// Tokens configures token metadata resolution (the tokens.* flags).
	Tokens tokens.Config
}

// RegisterFlags registers every flag of the ingest on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = DefaultHTTPAddr
	}
	c.HTTP.RegisterFlags(fs)
	c.Log.RegisterFlags(fs)
	fs.StringVar(&c.MongoURI, "mongo.uri", "mongodb://127.0.0.1:27017/mongotron", "MongoDB connection `URI`; its path names the database")
	c.NATS.RegisterFlags(fs)
	fs.StringVar(&c.TronNodeURL, "tron.node-url", DefaultTronNodeURL, "Tron full node API base `URL`: http(s):// for its HTTP API, grpc(s):// for its gRPC API (tron.node-urls lists several)")
	fs.StringVar(&c.TronAPIKey, "tron.api-key", "", "node API `key`, sent to every node as tron.api-key-header (empty: none)")
	fs.StringVar(&c.TronAPIKeyHeader, "tron.api-key-header", tron.DefaultAPIKeyHeader, "`name` of the header (gRPC: metadata key) the API key is sent as")
	c.Nodes.RegisterFlags(fs)
	fs.StringVar(&c.Network, "network", "mainnet", "network `name` written into events")
	fs.DurationVar(&c.PollInterval, "poll-interval", follow.DefaultPollInterval, "how often the head is polled when caught up")
	fs.Int64Var(&c.StartBlock, "start-block", 0, "first block on an empty database (0: the head)")
	fs.IntVar(&c.FetchConcurrency, "fetch-concurrency", follow.DefaultConcurrency, "block ranges fetched at once while catching up")
	fs.DurationVar(&c.ResyncInterval, "resync-interval", subs.DefaultResyncInterval, "how often subscriptions are resynchronised from MongoDB")
	fs.DurationVar(&c.Retention, "retention", store.DefaultRetention, "how long events are kept")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", DefaultConnectTimeout, "how long to try reaching each dependency (MongoDB, NATS, the Tron node) at start")
	// Renamed to the edge's name for the same setting; the old name goes
	// in the next release.
	config.Renamed(fs, "start-timeout", "connect-timeout")
	fs.DurationVar(&c.LeaseTTL, "lease.ttl", follow.DefaultLeaseTTL, "leader lease lifetime without renewal (renewed every third of it)")
	fs.StringVar(&c.LeaseHolder, "lease.holder", "", "`name` of this ingest in the leader lease (empty: hostname-pid-random)")
	c.Tokens.RegisterFlags(fs)
}

// Validate reports every invalid value at once.
func (c *Config) Validate() error {
	return config.Join(
		c.HTTP.Validate(),
		c.Log.Validate(),
		config.CheckURL("mongo.uri", c.MongoURI, false, "mongodb", "mongodb+srv"),
		c.NATS.Validate(),
		c.Tokens.Validate(),
		c.checkNodeURL(),
		c.Nodes.Validate(),
		nonNegative("poll-interval", c.PollInterval),
		nonNegative("resync-interval", c.ResyncInterval),
		nonNegative("retention", c.Retention),
		nonNegative("connect-timeout", c.ConnectTimeout),
		checkLeaseTTL(c.LeaseTTL),
		checkInt("start-block", c.StartBlock),
		checkInt("fetch-concurrency", int64(c.FetchConcurrency)),
	)
}

// checkNodeURL checks tron.node-url, which tron.node-urls replaces: given
// both, the ingest would read nodes the operator did not mean, so it
// refuses unless tron.node-url keeps its default.
func (c *Config) checkNodeURL() error {
	if len(c.Nodes.URLs) > 0 {
		if c.TronNodeURL != "" && c.TronNodeURL != DefaultTronNodeURL {
			return errors.New("config: tron.node-url and tron.node-urls exclude each other: list every node in tron.node-urls")
		}
		return nil
	}
	return config.CheckURL("tron.node-url", c.TronNodeURL, false, "http", "https", "grpc", "grpcs")
}

// NodeURLs returns the nodes to read: tron.node-urls, else tron.node-url.
func (c *Config) NodeURLs() []string {
	if len(c.Nodes.URLs) > 0 {
		return c.Nodes.URLs
	}
	return []string{c.TronNodeURL}
}

func nonNegative(name string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("config: %s %s is negative", name, d)
	}
	return nil
}

func checkLeaseTTL(d time.Duration) error {
	if d != 0 && d < 30*time.Millisecond {
		return fmt.Errorf("config: lease.ttl %s is below 30ms", d)
	}
	return nil
}

func checkInt(name string, v int64) error {
	if v < 0 {
		return fmt.Errorf("config: %s %d is negative", name, v)
	}
	return nil
}

// App is a configured ingest, listening but not yet serving.
type App struct {
	cfg    Config
	logger *slog.Logger
	http   *service.HTTPServer
	reg    *prometheus.Registry

	// Set by Run once the dependencies are connected; read by /readyz.
	deps atomic.Pointer[deps]
	// parts runs the background components; /readyz reports the
	// failing ones.
	parts *service.Components
}

// deps are the connected dependencies, for readiness.
type deps struct {
	mongo  *mongo.Client
	nc     *nats.Conn
	lease  *follow.Lease
	leader *leader
	nodes  *nodes.Pool
}

// New binds the HTTP server of cfg. It connects nothing: [App.Run] does.
// The caller must call [App.Run] or [App.Close].
func New(cfg Config, logger *slog.Logger) (*App, error) {
	a := &App{cfg: cfg, logger: logger, reg: prometheus.NewRegistry(), parts: &service.Components{Logger: logger}}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", service.Healthz())
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	srv, err := service.Listen(cfg.HTTP, mux, logger)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	a.http = srv
	return a, nil
}

// Addr returns the address the HTTP server listens on.
func (a *App) Addr() net.Addr { return a.http.Addr() }

// readyz answers 200 when MongoDB, NATS and a Tron node answer, with the
// leadership state; 503 otherwise. The leader lists the Tron nodes' states.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{}
	var nodeStates []nodes.NodeStatus
	ok := true
	d := a.deps.Load()
	if d == nil {
		checks["start"] = "connecting"
		ok = false
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := d.mongo.Ping(ctx, nil); err != nil {
			checks["mongo"], ok = "down: "+err.Error(), false
		} else {
			checks["mongo"] = "ok"
		}
		if d.nc.IsConnected() {
			checks["nats"] = "ok"
		} else {
			checks["nats"], ok = "down", false
		}
		// A standby is ready: it is what a takeover needs. It does
		// not poll the node, so only a leader reports on it.
		checks["leadership"] = "standby"
		if f := d.leader.follower(); f != nil && d.lease.IsLeader() {
			checks["leadership"] = "leader"
			// Ready while one node is usable: the pool reads from it.
			if d.nodes.Usable() {
				checks["node"] = "ok"
			} else {
				checks["node"], ok = "down", false
			}
			nodeStates = d.nodes.Status()
			checks["head_block"] = fmt.Sprint(f.Head())
			checks["committed_block"] = fmt.Sprint(f.Committed())
			checks["solidified_block"] = fmt.Sprint(f.Solidified())
			// Not a reason to stop traffic, but a deposit pipeline
			// must hear that internal transfers are missing.
			checks["internal_transactions"] = f.InternalTxs()
			if f.InternalTxs() == follow.InternalTxsNotRecorded {
				checks["internal_transactions"] += ": the node does not record them (vm.saveInternalTx off?); trx_internal_transfer and trc10_internal_transfer events are missing"
			}
		}
		checks["lease_holder"] = d.lease.Holder()
		checks["lease_token"] = fmt.Sprint(d.lease.Token())
		if f := a.parts.FailingSummary(); f != "" {
			checks["components"], ok = "failing: "+f, false
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	status := "ok"
	if !ok {
		status = "unavailable"
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	body := map[string]any{"status": status, "checks": checks}
	if nodeStates != nil {
		body["nodes"] = nodeStates
	}
	_ = json.NewEncoder(w).Encode(body)
}

// Run connects the dependencies (an unreachable one is an error), then
// follows the chain and serves HTTP until ctx is done. It returns nil after
// a clean stop: the block in hand is committed first.
func (a *App) Run(ctx context.Context) (err error) {
	a.logger.Info("started", "addr", a.Addr().String(), "tron_nodes", nodeLabels(a.cfg.NodeURLs()))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var httpErr error
	wg.Go(func() { httpErr = a.http.Serve(ctx) })
	defer func() {
		cancel()
		wg.Wait()
		if err == nil && httpErr != nil {
			err = fmt.Errorf("%s: %w", Name, httpErr)
		}
		if err == nil {
			a.logger.Info("stopped")
		}
	}()
	if err := a.run(ctx); err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	return nil
}

func (a *App) run(ctx context.Context) error {
	startTimeout := a.cfg.ConnectTimeout
	if startTimeout <= 0 {
		startTimeout = DefaultConnectTimeout
	}
	sctx, scancel := context.WithTimeout(ctx, startTimeout)
	defer scancel()

	mc, err := mongo.Connect(options.Client().ApplyURI(a.cfg.MongoURI).SetServerSelectionTimeout(startTimeout))
	if err != nil {
		return fmt.Errorf("mongo: %w", err)
	}
	defer func() { _ = mc.Disconnect(context.WithoutCancel(ctx)) }()
	if err := mc.Ping(sctx, nil); err != nil {
		return fmt.Errorf("mongo %s unreachable: %w", redact(a.cfg.MongoURI), err)
	}
	dbName, err := store.DatabaseName(a.cfg.MongoURI)
	if err != nil {
		return err
	}
	db := mc.Database(dbName)

	nc, err := nats.Connect(a.cfg.NATS.URL, nats.Name(Name), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second), nats.Timeout(startTimeout),
		// Publishes wait in the client while it reconnects; the follower
		// retries those not acknowledged, so none needs to survive.
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { a.logger.Warn("nats: disconnected; reconnecting", "err", err) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { a.logger.Warn("nats: error", "err", err) }))
	if err != nil {
		return fmt.Errorf("nats %s unreachable: %w", a.cfg.NATS.URL, err)
	}
	defer nc.Close()

	// One pool of nodes serves the follower, the token resolver and the
	// backfill, each on a lane of its own connections, so that their
	// calls never queue behind each other's; health and verification are
	// shared.
	nodeMetrics := newNodeMetrics(a.reg)
	pcfg := a.cfg.Nodes
	pcfg.URLs = a.cfg.NodeURLs()
	pcfg.Client = tron.ClientConfig{APIKey: a.cfg.TronAPIKey, APIKeyHeader: a.cfg.TronAPIKeyHeader, Observer: nodeMetrics.observe}
	if pcfg.HealthInterval <= 0 {
		pcfg.HealthInterval = cmp.Or(a.cfg.PollInterval, follow.DefaultPollInterval)
	}
	pcfg.Logger, pcfg.Registerer = a.logger.With("component", "nodes"), a.reg
	pool, err := nodes.New(pcfg)
	if err != nil {
		return err
	}
	defer func() { _ = pool.Close() }()
	if _, err := pool.NowBlock(sctx); err != nil {
		return fmt.Errorf("tron node %s unreachable: %w", nodeLabels(pcfg.URLs), err)
	}

	ttl, err := store.EnsureIndexes(sctx, db, a.cfg.Retention)
	if err != nil {
		return err
	}
	if err := follow.EnsureIndexes(sctx, db); err != nil {
		return err
	}
	pub, err := follow.NewNATSPublisher(nc)
	if err != nil {
		return err
	}
	if err := follow.EnsureStream(sctx, pub.JetStream(), 0, a.cfg.NATS.ReplicaCount()); err != nil {
		return err
	}
	// Backfilling subscriptions are held out of live matching until the
	// runner hands them over; a nil runner holds them too.
	var runner *backfill.Runner
	mgr := subs.New(subs.Config{DB: db, Logger: a.logger.With("component", "subs"), ResyncInterval: a.cfg.ResyncInterval,
		Hold: func(s *subscription.Subscription) bool { return runner.Hold(s) }})
	if err := mgr.Resync(sctx); err != nil {
		return err
	}
	a.logger.Info("subscriptions loaded", "count", mgr.Len(), "ttl_index", ttl)
	nc.SetReconnectHandler(func(nc *nats.Conn) {
		a.logger.Warn("nats: reconnected", "server", nc.ConnectedUrlRedacted())
		mgr.Reconnected()
	})

	// Token metadata has its own lane, so that its constant calls never
	// queue behind the follower's head polls; the decoders read it from
	// memory and never wait for it.
	tokNode, err := pool.Lane("tokens")
	if err != nil {
		return err
	}
	tcfg := a.cfg.Tokens
	tcfg.DB, tcfg.Node, tcfg.Network = db, tokNode, a.cfg.Network
	tcfg.Logger, tcfg.Registerer = a.logger.With("component", "tokens"), a.reg
	toks := tokens.New(tcfg)
	if err := toks.Load(sctx); err != nil {
		return err
	}
	// The pool verified every block it returns (ids against headers and
	// raw data, and links), so the decoders need not hash them again.
	fcfg := follow.Config{
		Node: pool, DB: db, Publisher: pub, Matcher: mgr,
		Decoder: decode.NewDecoder(decode.DecoderConfig{Network: a.cfg.Network, Tokens: toks, SkipVerify: true}),
		Logger:  a.logger.With("component", "follow"), Metrics: follow.NewMetrics(a.reg),
		StartBlock: a.cfg.StartBlock, PollInterval: a.cfg.PollInterval, Concurrency: a.cfg.FetchConcurrency,
	}
	if _, err := follow.New(fcfg); err != nil {
		return err
	}
	lease, err := follow.NewLease(follow.LeaseConfig{
		DB: db, Logger: a.logger.With("component", "lease"), Registerer: a.reg,
		Holder: a.cfg.LeaseHolder, TTL: a.cfg.LeaseTTL,
	})
	if err != nil {
		return err
	}
	lead := &leader{}
	// The backfill has its own lane, so that its range fetches never
	// queue behind the follower's head polls.
	bfNode, err := pool.Lane("backfill")
	if err != nil {
		return err
	}
	runner, err = backfill.New(backfill.Config{
		DB: db, Node: bfNode, Publisher: pub, Live: lead, Fence: lead, Subs: mgr,
		Decoder:    decode.NewDecoder(decode.DecoderConfig{Network: a.cfg.Network, Tokens: toks, SkipVerify: true}),
		Notify:     func(ch bus.SubscriptionChange) { a.publishChange(ctx, nc, ch) },
		Logger:     a.logger.With("component", "backfill"),
		Registerer: a.reg,
	})
	if err != nil {
		return err
	}
	a.deps.Store(&deps{mongo: mc, nc: nc, lease: lease, leader: lead, nodes: pool})

	// The subscriptions stay loaded on a standby too, so that a takeover
	// starts matching at once.
	bctx, bcancel := context.WithCancel(ctx)
	defer a.parts.Wait()
	defer bcancel()
	a.parts.Go(bctx, "subscriptions", func(ctx context.Context) error { return mgr.Run(ctx, nc) })
	a.parts.Go(bctx, "tokens", toks.Run)
	// Only the leader follows, backfills and sweeps. Each term runs a
	// fresh follower from the checkpoint the previous leader left,
	// whoever that was; the lease is released only after the follower
	// has committed the block in hand.
	return lease.Run(ctx, func(ctx context.Context, fence *follow.Term) error {
		c := fcfg
		c.Fence = fence
		f, err := follow.New(c)
		if err != nil {
			return err
		}
		lead.set(&term{f: f, fence: fence})
		defer lead.set(nil)
		var wg sync.WaitGroup
		defer wg.Wait()
		tctx, tcancel := context.WithCancel(ctx)
		defer tcancel()
		wg.Go(func() { a.sweep(tctx, db) })
		// Only the leader polls the nodes' heads: a standby reads
		// nothing but token metadata, and must not spend a hosted
		// node's rate limit.
		wg.Go(func() { _ = pool.Run(tctx) })
		backfilling := a.parts.Go(tctx, "backfill", runner.Run)
		defer func() { <-backfilling }()
		return f.Run(ctx)
	})
}

// publishChange tells the edges and other ingests about a change the
// ingest made (a backfill handed over). A failure is logged and not
// retried: they resync from MongoDB periodically and on reconnect.
func (a *App) publishChange(ctx context.Context, nc *nats.Conn, ch bus.SubscriptionChange) {
	if err := bus.PublishSubscriptionChange(ctx, nc, ch); err != nil {
		a.logger.Warn("publish subscription change; receivers catch up at their next resync", "subscription_id", ch.SubscriptionID, "err", err)
	}
}

// sweep deletes expired events hourly: FerretDB has no TTL indexes, and on
// MongoDB it is a cheap no-op next to the TTL monitor.
func (a *App) sweep(ctx context.Context, db *mongo.Database) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := store.SweepEvents(ctx, db, a.cfg.Retention, time.Now())
		if err != nil && ctx.Err() == nil {
			a.logger.Warn("retention sweep", "err", err)
		} else if n > 0 {
			a.logger.Info("retention sweep", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// nodeLabels names nodes for logs, without credentials.
func nodeLabels(urls []string) string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = nodes.Label(u)
	}
	return strings.Join(out, ",")
}

// redact drops a URI's password for logs.
func redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "(unparsable URI)"
	}
	return u.Redacted()
}

// Close releases an App whose Run was never called.
func (a *App) Close() error { return a.http.Close() }

// Main runs the ingest binary and returns its exit status; see
// [service.Main].
func Main(ctx context.Context, args, environ []string, stderr io.Writer) int {
	var cfg Config
	return service.Main(ctx, service.Program{
		Name:    Name,
		Summary: "Mongotron ingest: follows the Tron chain, decodes and matches events, stores and publishes them.",
		Config:  &cfg,
		Logging: &cfg.Log,
		Run: func(ctx context.Context, logger *slog.Logger) error {
			a, err := New(cfg, logger)
			if err != nil {
				return err
			}
			return a.Run(ctx)
		},
	}, args, environ, stderr)
}
