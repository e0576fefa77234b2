package nodes

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/mongotron/mongotron/pkg/tron"
)

// metrics are the pool's per-node metrics, labelled node = the URL
// without credentials or query.
type metrics struct {
	head     *prometheus.GaugeVec
	lag      *prometheus.GaugeVec
	selected *prometheus.GaugeVec
	bad      *prometheus.GaugeVec
	errors   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	switches prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, nodes []*node) *metrics {
	m := &metrics{
		head: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mongotron_ingest_tron_node_head_block", Help: "Head block number each Tron node last reported.",
		}, []string{"node"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mongotron_ingest_tron_node_lag_blocks", Help: "Blocks each Tron node's head is behind the highest head of the pool.",
		}, []string{"node"}),
		selected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mongotron_ingest_tron_node_selected", Help: "1 for the Tron node reads go to first, 0 for the others.",
		}, []string{"node"}),
		bad: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mongotron_ingest_tron_node_bad", Help: "1 while a Tron node is set aside for serving data that failed verification.",
		}, []string{"node"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mongotron_ingest_tron_node_errors_total",
			Help: "Failed calls and head polls per Tron node, by reason: timeout, rate_limited, unavailable, bad_response, integrity, other.",
		}, []string{"node", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mongotron_ingest_tron_node_request_seconds", Help: "Duration of each call and head poll per Tron node, retries included, by call.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"node", "call"}),
		switches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongotron_ingest_tron_node_switches_total", Help: "Times reads moved from one Tron node to another.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.head, m.lag, m.selected, m.bad, m.errors, m.latency, m.switches)
	}
	// Every series exists from the start, so that a dashboard shows a
	// healthy node's zero errors rather than nothing.
	for _, n := range nodes {
		m.bad.WithLabelValues(n.label)
		for _, r := range reasons {
			m.errors.WithLabelValues(n.label, r)
		}
	}
	return m
}

// reasons are the values of the errors_total reason label.
var reasons = []string{"timeout", "rate_limited", "unavailable", "bad_response", "integrity", "other"}

func (m *metrics) observe(n *node, call string, d time.Duration) {
	m.latency.WithLabelValues(n.label, call).Observe(d.Seconds())
}

func (m *metrics) set(v view, selected bool) {
	m.head.WithLabelValues(v.n.label).Set(float64(v.head))
	m.lag.WithLabelValues(v.n.label).Set(float64(v.lag))
	m.selected.WithLabelValues(v.n.label).Set(b2f(selected))
	m.bad.WithLabelValues(v.n.label).Set(b2f(v.state == StateBad))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// reasonOf names why a call failed, for the errors_total label.
func reasonOf(err error) string {
	var he *tron.HTTPError
	var ge *tron.GRPCError
	var ne net.Error
	switch {
	case errors.As(err, new(*badDataError)), errors.Is(err, tron.ErrIntegrity):
		return "integrity"
	case errors.Is(err, tron.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, tron.ErrBadResponse):
		return "bad_response"
	case errors.As(err, &he):
		if he.StatusCode == http.StatusTooManyRequests {
			return "rate_limited"
		}
		if he.StatusCode >= 500 {
			return "unavailable"
		}
		return "other"
	case errors.As(err, &ge):
		switch ge.Code {
		case codes.ResourceExhausted:
			return "rate_limited"
		case codes.DeadlineExceeded:
			return "timeout"
		case codes.Unavailable, codes.Internal, codes.Unknown:
			return "unavailable"
		}
		return "other"
	case errors.As(err, &ne):
		return "unavailable"
	default:
		return "other"
	}
}
