package tokens

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mongotron/mongotron/pkg/tron"
)

// metrics are the cache's Prometheus metrics.
type metrics struct {
	hit, miss   prometheus.Counter
	calls       *prometheus.CounterVec
	resolutions *prometheus.CounterVec
	queueFull   prometheus.Counter
	storeErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, c *Cache) *metrics {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mongotron_ingest_token_lookups_total", Help: "Token lookups of the decoder, by result: hit (known, from the built-in table or a resolution) or miss (answered unknown).",
	}, []string{"result"})
	m := &metrics{
		hit:  lookups.WithLabelValues("hit"),
		miss: lookups.WithLabelValues("miss"),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mongotron_ingest_token_node_calls_total", Help: "Constant calls to token contracts, by function selector and result (ok, reverted: the contract has no such function, error).",
		}, []string{"selector", "result"}),
		resolutions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mongotron_ingest_token_resolutions_total", Help: "Token resolutions through the node, by result (ok: decimals known, unknown: no decimals(), error: failed or timed out).",
		}, []string{"result"}),
		queueFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongotron_ingest_token_queue_full_total", Help: "Lookups that could not queue their token because the resolution queue was full (it is queued at a later lookup).",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mongotron_ingest_token_store_errors_total", Help: "Failed MongoDB operations on the tokens collection, by operation (load, read, write); each is retried.",
		}, []string{"op"}),
	}
	queueDepth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mongotron_ingest_token_queue_depth", Help: "Tokens waiting for resolution.",
	}, func() float64 { return float64(len(c.queue)) })
	entries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mongotron_ingest_token_cache_entries", Help: "Tokens held in memory, the built-in table aside.",
	}, func() float64 { return float64(c.Len()) })
	if reg != nil {
		reg.MustRegister(lookups, m.calls, m.resolutions, m.queueFull, m.storeErrors, queueDepth, entries)
	}
	return m
}

// countingCaller counts the calls to the node by selector and result.
type countingCaller struct {
	next tron.ConstantCaller
	m    *metrics
}

func (c countingCaller) TriggerConstant(ctx context.Context, owner, contract tron.Address, selector string, parameter []byte) ([]byte, error) {
	ret, err := c.next.TriggerConstant(ctx, owner, contract, selector, parameter)
	result := "ok"
	switch {
	case errors.Is(err, tron.ErrCallFailed):
		result = "reverted"
	case err != nil:
		result = "error"
	}
	c.m.calls.WithLabelValues(selector, result).Inc()
	return ret, err
}
