// Package app is the edge service: its configuration, its dependencies
// (MongoDB, NATS), its HTTP server with the REST API and the WebSocket
// stream hub, and its lifecycle.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/config"
	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/services/edge/internal/api"
	"github.com/mongotron/mongotron/services/edge/internal/auth"
	"github.com/mongotron/mongotron/services/edge/internal/stream"
	"github.com/mongotron/mongotron/services/edge/internal/webhook"
)

// Name is the binary's name.
const Name = "edge"

// DefaultHTTPAddr is where the public API listens unless told otherwise;
// the ingest takes :8081.
const DefaultHTTPAddr = ":8080"

// Defaults of [Config].
const (
	// DefaultConnectTimeout bounds reaching MongoDB and NATS at start.
	DefaultConnectTimeout = 10 * time.Second
)

// Config is the edge's root configuration.
type Config struct {
	// HTTP is the public API server. RegisterFlags makes an empty
	// Addr [DefaultHTTPAddr].
	HTTP service.HTTPConfig
	// Log configures the logger; its zero value logs at info level.
	Log logging.Config

	// MongoURI is the MongoDB connection string (mongodb:// or
	// mongodb+srv://); its path names the database, and none means
	// [store.DefaultDatabase] (store.DatabaseName, as the ingest reads it).
	// It is required.
	MongoURI string
	// NATS lists the NATS servers and the replica count of the durable
	// consumers the edge creates (the nats.* flags).
	NATS bus.Config
	// ConnectTimeout bounds reaching MongoDB and NATS at start; an
	// unreachable one is a start failure. Zero means
	// [DefaultConnectTimeout].
	ConnectTimeout time.Duration

	// AdminKey is the operator's key for POST and DELETE /v1/keys. Empty
	// means no admin: those routes refuse every caller.
	AdminKey string
	// RateLimit is each API key's sustained requests per second. Zero
	// means [auth.DefaultRate]; negative disables rate limiting.
	RateLimit float64
	// RateBurst is how many requests a key may make at once. Zero means
	// [auth.DefaultBurst].
	RateBurst int
	// StreamRateLimit is each API key's sustained stream connects per
	// second, counted apart from RateLimit. Zero means
	// [auth.DefaultStreamRate]; negative disables the limit.
	StreamRateLimit float64
	// StreamRateBurst is how many stream connects a key may make at
	// once. Zero means [auth.DefaultStreamBurst].
	StreamRateBurst int
	// MaxBodyBytes bounds a request body. Zero means
	// [api.DefaultMaxBodyBytes].
	MaxBodyBytes int64

	// Webhook configures webhook delivery (the webhook.* flags); its
	// zero value delivers over https only to public addresses with the
	// defaults of the webhook package.
	Webhook webhook.Config
	// Stream bounds the stream's fault handling (the stream.* flags);
	// its zero value has the stream package's defaults.
	Stream stream.Config
}

// RegisterFlags registers every flag of the edge on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = DefaultHTTPAddr
	}
	c.HTTP.RegisterFlags(fs)
	c.Log.RegisterFlags(fs)
	fs.StringVar(&c.MongoURI, "mongo.uri", "mongodb://127.0.0.1:27017/mongotron", "MongoDB connection `URI`; its path names the database")
	c.NATS.RegisterFlags(fs)
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", DefaultConnectTimeout, "how long to try reaching MongoDB and NATS at start")
	fs.StringVar(&c.AdminKey, "admin-key", "", "admin `key` allowed to create and revoke API keys (empty: none)")
	fs.Float64Var(&c.RateLimit, "api.rate-limit", auth.DefaultRate, "requests per second allowed per API key (negative: unlimited)")
	fs.IntVar(&c.RateBurst, "api.rate-burst", auth.DefaultBurst, "requests an API key may make at once above the rate")
	fs.Float64Var(&c.StreamRateLimit, "api.stream-rate-limit", auth.DefaultStreamRate, "stream connects per second allowed per API key, apart from api.rate-limit (negative: unlimited)")
	fs.IntVar(&c.StreamRateBurst, "api.stream-rate-burst", auth.DefaultStreamBurst, "stream connects an API key may make at once above the stream rate (a reconnect storm after an edge restart)")
	fs.Int64Var(&c.MaxBodyBytes, "api.max-body-bytes", api.DefaultMaxBodyBytes, "largest request body accepted, in `bytes`")
	c.Webhook.RegisterFlags(fs)
	c.Stream.RegisterFlags(fs)
}

// Validate reports every invalid value at once.
func (c *Config) Validate() error {
	var errs []error
	if c.ConnectTimeout < 0 {
		errs = append(errs, fmt.Errorf("config: connect-timeout %s is negative", c.ConnectTimeout))
	}
	if c.RateBurst < 0 {
		errs = append(errs, fmt.Errorf("config: api.rate-burst %d is negative", c.RateBurst))
	}
	if c.StreamRateBurst < 0 {
		errs = append(errs, fmt.Errorf("config: api.stream-rate-burst %d is negative", c.StreamRateBurst))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("config: api.max-body-bytes %d is negative", c.MaxBodyBytes))
	}
	if c.AdminKey != "" && len(c.AdminKey) < 16 {
		errs = append(errs, errors.New("config: admin-key is shorter than 16 characters"))
	}
	return config.Join(append(errs,
		c.HTTP.Validate(),
		c.Log.Validate(),
		c.Webhook.Validate(),
		c.Stream.Validate(),
		c.NATS.Validate(),
		config.CheckURL("mongo.uri", c.MongoURI, false, "mongodb", "mongodb+srv"),
	)...)
}

// App is a configured edge, connected and listening but not yet serving.
type App struct {
	cfg    Config
	logger *slog.Logger
	http   *service.HTTPServer
	mongo  *mongo.Client
	nats   *nats.Conn
	auth   *auth.Authenticator
	hub    *stream.Hub
	hooks  *webhook.Deliverer
	// api is set once New has made it; the NATS reconnect handler,
	// installed before, reads it.
	api atomic.Pointer[api.API]
	// parts runs the background components; /readyz reports the
	// failing ones.
	parts *service.Components
	// db is the Mongotron database.
	db *mongo.Database
	// rechecks runs the checks of open streams after a NATS reconnect;
	// recheckCtx ends them when the app is released, and recheckMu keeps a
	// late reconnect from adding one once release waits for them.
	rechecks   sync.WaitGroup
	recheckMu  sync.Mutex
	recheckCtx context.Context
	stopChecks context.CancelFunc
}

// New connects to MongoDB and NATS, creates the indexes, and binds the
// HTTP server of cfg. The caller must call [App.Run] or [App.Close].
func New(ctx context.Context, cfg Config, logger *slog.Logger) (_ *App, err error) {
	timeout := cfg.ConnectTimeout
	if timeout == 0 {
		timeout = DefaultConnectTimeout
	}
	a := &App{cfg: cfg, logger: logger, parts: &service.Components{Logger: logger}}
	a.recheckCtx, a.stopChecks = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			a.release(context.WithoutCancel(ctx))
		}
	}()
	// NATS first: an unreachable server fails at once, MongoDB only
	// after its server selection times out. A short reconnect wait: while
	// it lasts the streams wait (stream.broker-grace), and events are
	// filled from history once it is back.
	a.nats, err = nats.Connect(cfg.NATS.URL, nats.Name("mongotron-edge"), nats.Timeout(timeout),
		nats.MaxReconnects(-1), nats.ReconnectWait(natsReconnectWait), nats.ReconnectJitter(natsReconnectWait/5, natsReconnectWait/5))
	if err != nil {
		return nil, fmt.Errorf("%s: nats: %w", Name, err)
	}
	db, err := a.connectMongo(ctx, timeout)
	if err != nil {
		return nil, err
	}
	a.db = db
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.auth, err = auth.New(auth.Config{DB: db, NATS: a.nats, Logger: logger, AdminKey: cfg.AdminKey})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	scfg := cfg.Stream
	scfg.NATS, scfg.DB, scfg.Logger, scfg.Registerer = a.nats, db, logger.With("component", "stream"), reg
	a.hub, err = stream.New(scfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	a.watchNATS()
	wcfg := cfg.Webhook
	wcfg.NATS, wcfg.DB, wcfg.Logger, wcfg.Registerer = a.nats, db, logger.With("component", "webhook"), reg
	wcfg.Replicas = cfg.NATS.ReplicaCount()
	a.hooks, err = webhook.New(wcfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	handler, err := api.New(api.Config{
		DB: db, NATS: a.nats, Auth: a.auth,
		RateLimit:       auth.RateLimitConfig{Rate: cfg.RateLimit, Burst: cfg.RateBurst},
		StreamRateLimit: auth.RateLimitConfig{Rate: cfg.StreamRateLimit, Burst: cfg.StreamRateBurst},
		Stream:          a.serveStream,
		Webhooks:        a.hooks,
		Logger:          logger,
		Registerer:      reg,
		Gatherer:        reg,
		MaxBodyBytes:    cfg.MaxBodyBytes,
		Failing:         a.parts.FailingSummary,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	a.api.Store(handler)
	a.http, err = service.Listen(cfg.HTTP, handler, logger)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	return a, nil
}

// storeSelectTimeout bounds how long a request waits for MongoDB to be
// reachable: past it, REST answers 503 store_unavailable rather than
// hanging through an outage.
const storeSelectTimeout = 2 * time.Second

// natsReconnectWait is how long the NATS client waits before it tries a
// server again; it tries the cluster's other servers at once.
const natsReconnectWait = 500 * time.Millisecond

// watchNATS logs the NATS connection's changes and tells the stream hub,
// which keeps streams open through a short outage and fills what they
// missed.
func (a *App) watchNATS() {
	a.nats.SetDisconnectErrHandler(func(_ *nats.Conn, err error) {
		a.logger.Warn("nats: disconnected; reconnecting", "err", err)
		a.hub.BrokerDisconnected(err)
	})
	a.nats.SetReconnectHandler(func(nc *nats.Conn) {
		a.logger.Warn("nats: reconnected", "server", nc.ConnectedUrlRedacted())
		a.hub.BrokerReconnected()
		if h := a.api.Load(); h != nil {
			h.Resync()
		}
		a.recheckMu.Lock()
		if a.recheckCtx.Err() == nil {
			a.rechecks.Go(a.recheckStreams)
		}
		a.recheckMu.Unlock()
	})
	a.nats.SetErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
		subject := ""
		if sub != nil {
			subject = sub.Subject
		}
		a.logger.Warn("nats: error", "subject", subject, "err", err)
		if errors.Is(err, nats.ErrSlowConsumer) && sub != nil {
			a.hub.BrokerDropped(subject)
		}
	})
}

// recheckStreams closes the open streams of keys revoked and of
// subscriptions deleted while NATS was away: their control messages never
// reached this edge. A failure is logged; the next reconnect checks again.
func (a *App) recheckStreams() {
	ctx, cancel := context.WithTimeout(a.recheckCtx, 30*time.Second)
	defer cancel()
	keys, subs := a.hub.Open()
	revoked, err := a.auth.RevokedAmong(ctx, keys)
	if err != nil {
		a.logger.Warn("recheck of open streams after a NATS reconnect: keys", "err", err)
		return
	}
	deleted, err := goneSubscriptions(ctx, a.db, subs)
	if err != nil {
		a.logger.Warn("recheck of open streams after a NATS reconnect: subscriptions", "err", err)
		return
	}
	if len(revoked)+len(deleted) > 0 {
		a.logger.Warn("closing streams of keys revoked and subscriptions deleted during the NATS outage", "keys", len(revoked), "subscriptions", len(deleted))
	}
	a.hub.CloseRevoked(revoked, deleted)
}

// goneSubscriptions returns the ids among ids of subscriptions deleted (a
// tombstone) or absent.
func goneSubscriptions(ctx context.Context, db *mongo.Database, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cur, err := db.Collection(store.Subscriptions).Find(ctx,
		bson.M{"_id": bson.M{"$in": ids}, "status": bson.M{"$ne": subscription.StatusDeleted}},
		options.Find().SetProjection(bson.M{"_id": 1}))
	if err != nil {
		return nil, err
	}
	var live []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &live); err != nil {
		return nil, err
	}
	alive := make(map[string]bool, len(live))
	for _, s := range live {
		alive[s.ID] = true
	}
	var out []string
	for _, id := range ids {
		if !alive[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

func (a *App) connectMongo(ctx context.Context, timeout time.Duration) (*mongo.Database, error) {
	dbName, err := store.DatabaseName(a.cfg.MongoURI)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	a.mongo, err = mongo.Connect(options.Client().ApplyURI(a.cfg.MongoURI).SetServerSelectionTimeout(min(timeout, storeSelectTimeout)).SetAppName("mongotron-edge"))
	if err != nil {
		return nil, fmt.Errorf("%s: mongodb: %w", Name, err)
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := a.mongo.Ping(pctx, nil)
		if err == nil {
			break
		}
		if pctx.Err() != nil {
			return nil, fmt.Errorf("%s: mongodb unreachable: %w", Name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	db := a.mongo.Database(dbName)
	if _, err := store.EnsureIndexes(pctx, db, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	return db, nil
}

func (a *App) serveStream(w http.ResponseWriter, r *http.Request, req api.StreamRequest) {
	a.hub.Serve(w, r, stream.Request{SubscriptionID: req.SubscriptionID, Tenant: req.Tenant, KeyID: req.KeyID, After: req.After})
}

// Addr returns the address the HTTP server listens on.
func (a *App) Addr() net.Addr { return a.http.Addr() }

// Server returns the HTTP server, to check its timeouts.
func (a *App) Server() *http.Server { return a.http.Server() }

// Run serves until ctx is done, then stops within the shutdown timeout:
// the listener closes, every stream closes with 1012 (http.Server's
// Shutdown does not see hijacked connections), requests in flight finish,
// and NATS is drained. It returns nil after a clean stop.
func (a *App) Run(ctx context.Context) error {
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	// Each can recover: it is restarted with a backoff, and /readyz
	// answers 503 with its error meanwhile.
	a.parts.Go(bg, "keys", a.auth.Run)
	a.parts.Go(bg, "subscriptions", a.api.Load().Run)
	a.parts.Go(bg, "webhooks", a.hooks.Run)
	a.parts.Go(bg, "stream", a.hub.Run)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	wg.Go(func() {
		select {
		case <-ctx.Done():
		case <-bg.Done():
			return
		}
		// Not bg: that ends when the HTTP server is down, which may be
		// before the streams are.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.shutdownTimeout())
		defer cancel()
		errs <- a.hub.Shutdown(sctx)
	})

	a.logger.Info("started", "addr", a.Addr().String())
	err := a.http.Serve(ctx)
	stopBG()
	wg.Wait()
	a.parts.Wait()
	close(errs)
	for e := range errs {
		err = errors.Join(err, e)
	}
	a.release(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	a.logger.Info("stopped")
	return nil
}

func (a *App) shutdownTimeout() time.Duration {
	if a.cfg.HTTP.ShutdownTimeout > 0 {
		return a.cfg.HTTP.ShutdownTimeout
	}
	return service.DefaultShutdownTimeout
}

// release drains NATS, so published control messages leave before the
// connection closes, and disconnects MongoDB.
func (a *App) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, a.shutdownTimeout())
	defer cancel()
	a.recheckMu.Lock()
	a.stopChecks()
	a.recheckMu.Unlock()
	a.rechecks.Wait()
	if a.hub != nil {
		a.hub.Close()
	}
	if a.hooks != nil {
		a.hooks.Close()
	}
	if a.nats != nil {
		closed := make(chan struct{})
		a.nats.SetClosedHandler(func(*nats.Conn) { close(closed) })
		if err := a.nats.Drain(); err != nil {
			a.nats.Close()
		} else {
			select {
			case <-closed:
			case <-ctx.Done():
				a.nats.Close()
			}
		}
	}
	if a.mongo != nil {
		if err := a.mongo.Disconnect(ctx); err != nil {
			a.logger.Warn("disconnect mongodb", "err", err)
		}
	}
}

// Close releases an App whose Run was never called.
func (a *App) Close() error {
	a.release(context.Background())
	return a.http.Close()
}

// Main runs the edge binary and returns its exit status; see
// [service.Main].
func Main(ctx context.Context, args, environ []string, stderr io.Writer) int {
	var cfg Config
	return service.Main(ctx, service.Program{
		Name:    Name,
		Summary: "Mongotron edge: the public REST API and WebSocket stream of subscriptions and their events.",
		Config:  &cfg,
		Logging: &cfg.Log,
		Run: func(ctx context.Context, logger *slog.Logger) error {
			a, err := New(ctx, cfg, logger)
			if err != nil {
				return err
			}
			return a.Run(ctx)
		},
	}, args, environ, stderr)
}
