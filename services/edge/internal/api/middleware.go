package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mongotron/mongotron/services/edge/internal/auth"
)

const principalKey = "mongotron.principal"

// streamPath is the one route where the key may come as ?token=, because
// browsers cannot set headers on a WebSocket request.
const streamPath = "/v1/subscriptions/:id/stream"

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	panics   prometheus.Counter
	publish  *prometheus.CounterVec
	limited  prometheus.Counter
	// lookups counts how stream connects found their subscription:
	// source "cache" or "store".
	lookups *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge", Name: "http_requests_total",
			Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "mongotron", Subsystem: "edge", Name: "http_request_duration_seconds",
			Help:    "HTTP request latency by route template and method (streams: until the upgrade).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
		}, []string{"route", "method"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge", Name: "http_panics_total",
			Help: "Handler panics turned into 500s.",
		}),
		publish: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge", Name: "control_messages_total",
			Help: "Subscription control messages published, by op and result (ok or error).",
		}, []string{"op", "result"}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge", Name: "rate_limited_total",
			Help: "Requests refused with 429 by the per-key rate limit.",
		}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge", Name: "stream_subscription_lookups_total",
			Help: "Stream connects by where their subscription was found: cache (no MongoDB round trip) or store.",
		}, []string{"source"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.panics, m.publish, m.limited, m.lookups} {
		if err := reg.Register(c); err != nil {
			return metrics{}, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	return m, nil
}

// observe records every request's outcome. It writes errors itself so
// that the status it records is the one sent.
func (a *API) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" || c.Response().Status == http.StatusNotFound && route == "/*" {
			route = "unmatched"
		}
		method := c.Request().Method
		a.m.requests.WithLabelValues(route, method, strconv.Itoa(c.Response().Status)).Inc()
		a.m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		return nil
	}
}

// authenticate finds the caller's key (Authorization: Bearer, or ?token=
// on the stream route), checks it and its rate limit, and stores the
// principal for the handlers.
func (a *API) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key, err := bearer(c.Request().Header.Get("Authorization"))
		if err != nil {
			return err
		}
		if key == "" && c.Path() == streamPath {
			key = c.QueryParam("token")
		}
		p, err := a.cfg.Auth.Authenticate(c.Request().Context(), key)
		switch {
		case errors.Is(err, auth.ErrNoKey):
			return &Error{Status: http.StatusUnauthorized, Code: "missing_api_key", Message: "send your API key as Authorization: Bearer <key>"}
		case errors.Is(err, auth.ErrBadKey):
			return &Error{Status: http.StatusUnauthorized, Code: "invalid_api_key", Message: "the API key is unknown or revoked"}
		case err != nil:
			return err
		}
		limiter, what := a.limiter, "requests"
		if c.Path() == streamPath {
			limiter, what = a.streamLimiter, "stream connects"
		}
		if ok, wait := limiter.Allow(p.KeyID); !ok {
			a.m.limited.Inc()
			return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: fmt.Sprintf("too many %s for this key; retry in %s", what, wait), RetryAfter: wait}
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

func bearer(h string) (string, error) {
	if h == "" {
		return "", nil
	}
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
		return "", &Error{Status: http.StatusUnauthorized, Code: "invalid_authorization", Message: "the Authorization header must be: Bearer <api key>"}
	}
	return strings.TrimSpace(key), nil
}

func principal(c echo.Context) auth.Principal {
	p, _ := c.Get(principalKey).(auth.Principal)
	return p
}

// tenantOnly refuses the admin key on tenant routes: it belongs to no
// tenant, and an operator acting for one should use that tenant's key.
func (a *API) tenantOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if p := principal(c); p.Admin || p.Tenant == "" {
			return &Error{Status: http.StatusForbidden, Code: "tenant_key_required", Message: "the admin key manages keys only; use a tenant's API key"}
		}
		return next(c)
	}
}

func (a *API) adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !principal(c).Admin {
			return &Error{Status: http.StatusForbidden, Code: "admin_key_required", Message: "only the admin key may manage API keys"}
		}
		return next(c)
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
