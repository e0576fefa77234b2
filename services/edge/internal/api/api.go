// Package api is the edge's HTTP surface: the REST API of docs/api.md
// (subscriptions, their addresses and history, API keys), authentication
// and rate limiting, the WebSocket route's checks before it hands over to
// the stream hub, and health, readiness and metrics.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/services/edge/internal/auth"
	"github.com/mongotron/mongotron/services/edge/internal/webhook"
)

// Limits of requests.
const (
	// DefaultMaxBodyBytes bounds every request body: 1 MiB holds a bulk
	// call of 10,000 addresses (about 47 bytes each in hex with quotes
	// and commas, 470 KB) with room for whitespace.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultLimit is a page's size when the caller gives none.
	DefaultLimit = 100
	// MaxLimit is the largest page; a larger limit is a 400.
	MaxLimit = 1000
	// readyTimeout bounds each dependency check of /readyz.
	readyTimeout = 2 * time.Second
)

// StreamRequest is a WebSocket stream request that passed the checks of
// the REST layer: the key is valid, the subscription is the caller's and
// alive, and After is empty or a well-formed cursor.
type StreamRequest struct {
	SubscriptionID, Tenant, KeyID, After string
}

// StreamFunc upgrades an accepted stream request and returns at once.
type StreamFunc func(w http.ResponseWriter, r *http.Request, req StreamRequest)

// Config configures [New].
type Config struct {
	// DB is the Mongotron database. Required.
	DB *mongo.Database
	// NATS carries control messages. Required.
	NATS *nats.Conn
	// Auth checks API keys. Required.
	Auth *auth.Authenticator
	// RateLimit limits each key's requests; its zero value is
	// [auth.DefaultRate] per second with a burst of [auth.DefaultBurst].
	RateLimit auth.RateLimitConfig
	// StreamRateLimit limits each key's stream connects, counted apart
	// from its other requests; its zero value is
	// [auth.DefaultStreamRate] per second with a burst of
	// [auth.DefaultStreamBurst].
	StreamRateLimit auth.RateLimitConfig
	// Stream serves accepted WebSocket requests. Nil answers the stream
	// route with 503 stream_unavailable.
	Stream StreamFunc
	// Webhooks serves the webhook delivery routes and checks webhook
	// URLs against the server's policy. Nil answers those routes with
	// 503 webhooks_unavailable and checks no policy.
	Webhooks *webhook.Deliverer
	// Logger receives request failures. Nil discards them.
	Logger *slog.Logger
	// Registerer takes the API's metrics. Nil registers them nowhere.
	Registerer prometheus.Registerer
	// Gatherer is served on /metrics. Nil serves an empty registry.
	Gatherer prometheus.Gatherer
	// MaxBodyBytes bounds a request body. Zero means
	// [DefaultMaxBodyBytes].
	MaxBodyBytes int64
	// Now returns the time. Nil means time.Now.
	Now func() time.Time
	// Failing reports the edge's background components that are failing
	// now, as one line ("" when none); /readyz answers 503 with it. Nil
	// means none ever fails.
	Failing func() string
}

// API is the edge's HTTP handler.
type API struct {
	cfg     Config
	e       *echo.Echo
	limiter *auth.RateLimiter
	// streamLimiter counts stream connects, which never take from
	// limiter: a reconnect storm must not lock a tenant out of REST,
	// nor its REST calls keep its streams out.
	streamLimiter *auth.RateLimiter
	// subCache answers stream connects without MongoDB (subcache.go).
	subCache *subCache
	// pages reads the subscriptions' history (events.go).
	pages *store.Pages
	// drops holds the ids of deleted subscriptions whose address sets
	// Run drops (see deleteSubscription).
	drops chan string
	m     metrics
}

// New builds the handler. It starts nothing: the auth's Run and the
// stream hub are the caller's.
func New(cfg Config) (*API, error) {
	if cfg.DB == nil || cfg.NATS == nil || cfg.Auth == nil {
		return nil, errors.New("api: DB, NATS and Auth are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.NewRegistry()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RateLimit.Now == nil {
		cfg.RateLimit.Now = cfg.Now
	}
	if cfg.StreamRateLimit.Now == nil {
		cfg.StreamRateLimit.Now = cfg.Now
	}
	if cfg.StreamRateLimit.Rate == 0 {
		cfg.StreamRateLimit.Rate = auth.DefaultStreamRate
	}
	if cfg.StreamRateLimit.Burst <= 0 {
		cfg.StreamRateLimit.Burst = auth.DefaultStreamBurst
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	a := &API{cfg: cfg, limiter: auth.NewRateLimiter(cfg.RateLimit), streamLimiter: auth.NewRateLimiter(cfg.StreamRateLimit), subCache: newSubCache(cfg.Now), pages: store.NewPages(cfg.DB), drops: make(chan string, maxDrops), m: m}
	a.e = a.routes()
	return a, nil
}

// ServeHTTP serves one request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.e.ServeHTTP(w, r) }

func (a *API) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = a.handleError
	e.Use(a.observe, a.recoverPanic)

	e.GET("/healthz", a.healthz)
	e.GET("/readyz", a.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(a.cfg.Gatherer, promhttp.HandlerOpts{})))
	a.viewerRoutes(e)

	// Middleware goes on each route rather than on groups: echo gives a
	// group with middleware a catch-all route, which would turn a 405
	// into a 404.
	tenant := []echo.MiddlewareFunc{a.authenticate, a.tenantOnly}
	const sub = "/v1/subscriptions/:id"
	e.POST("/v1/subscriptions", a.createSubscription, tenant...)
	e.GET("/v1/subscriptions", a.listSubscriptions, tenant...)
	e.GET(sub, a.getSubscription, tenant...)
	e.PATCH(sub, a.patchSubscription, tenant...)
	e.DELETE(sub, a.deleteSubscription, tenant...)
	e.POST(sub+"/addresses", a.addAddresses, tenant...)
	e.DELETE(sub+"/addresses", a.removeAddresses, tenant...)
	e.GET(sub+"/addresses", a.listAddresses, tenant...)
	e.GET(sub+"/events", a.listEvents, tenant...)
	e.GET(streamPath, a.stream, tenant...)
	a.webhookRoutes(e, tenant...)

	admin := []echo.MiddlewareFunc{a.authenticate, a.adminOnly}
	e.POST("/v1/keys", a.createKey, admin...)
	e.DELETE("/v1/keys/:id", a.revokeKey, admin...)
	return e
}

func (a *API) healthz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only when MongoDB and NATS both answer a round trip
// and no background component is failing, so a load balancer stops
// sending traffic to an edge cut off from either, or broken inside.
func (a *API) readyz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	if a.cfg.Failing != nil {
		if f := a.cfg.Failing(); f != "" {
			return &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "failing: " + f}
		}
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	if err := a.cfg.DB.Client().Ping(ctx, nil); err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "mongodb: " + err.Error()}
	}
	if !a.cfg.NATS.IsConnected() {
		return &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "nats: " + a.cfg.NATS.Status().String()}
	}
	if err := a.cfg.NATS.FlushWithContext(ctx); err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "nats: " + err.Error()}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// recoverPanic turns a handler's panic into a 500 with the JSON body,
// keeping the process and the connection alive.
func (a *API) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				panic(r)
			}
			a.cfg.Logger.Error("panic in handler", "route", c.Path(), "panic", fmt.Sprint(r))
			a.m.panics.Inc()
			err = errInternal
		}()
		return next(c)
	}
}
