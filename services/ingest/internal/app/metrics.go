package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mongotron/mongotron/pkg/tron"
)

// nodeMetrics records every call to the Tron node, through the client's
// Observer hook.
type nodeMetrics struct {
	latency *prometheus.HistogramVec
	errors  *prometheus.CounterVec
}

func newNodeMetrics(reg prometheus.Registerer) *nodeMetrics {
	m := &nodeMetrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mongotron_ingest_node_call_seconds", Help: "Duration of each attempt of a call to the Tron node, by API path.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"path"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mongotron_ingest_node_call_errors_total", Help: "Failed attempts of calls to the Tron node, by API path and HTTP status (0: no answer).",
		}, []string{"path", "status"}),
	}
	reg.MustRegister(m.latency, m.errors)
	return m
}

func (m *nodeMetrics) observe(ci tron.CallInfo) {
	m.latency.WithLabelValues(ci.Path).Observe(ci.Duration.Seconds())
	if ci.Err != nil {
		m.errors.WithLabelValues(ci.Path, statusLabel(ci.StatusCode)).Inc()
	}
}

func statusLabel(code int) string {
	switch {
	case code == 0:
		return "0"
	case code == 429:
		return "429"
	case code >= 500:
		return "5xx"
	case code >= 400:
		return "4xx"
	default:
		return "2xx"
	}
}
