package webhook

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	// deliveries counts deliveries reaching an outcome: succeeded,
	// retry (an attempt failed, another is scheduled), dead, failed.
	deliveries *prometheus.CounterVec
	// attempts counts attempts by result class: 2xx, 3xx, 4xx, 5xx,
	// timeout, error, refused.
	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
	queue    prometheus.Gauge
	// intakeBacklog is the shared consumer's events not settled yet.
	intakeBacklog prometheus.Gauge
	dead          prometheus.Counter
	intake        *prometheus.CounterVec
	breakers      prometheus.Counter
	// spilled counts events queued in MongoDB instead of attempted
	// straight from memory.
	spilled prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mongotron_webhook_deliveries_total", Help: "Webhook delivery outcomes: succeeded, retry, dead, failed.",
		}, []string{"outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mongotron_webhook_attempts_total", Help: "Webhook attempts by result: 2xx, 3xx, 4xx, 5xx, timeout, error, refused.",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mongotron_webhook_attempt_duration_seconds", Help: "Time from sending a webhook to its response.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mongotron_webhook_queue_depth", Help: "Webhook deliveries queued in MongoDB (due, or waiting for a retry), all edges.",
		}),
		intakeBacklog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mongotron_webhook_intake_backlog", Help: "Events the webhook consumer has not settled: not yet taken from JetStream, or held in an edge's memory for their attempt, all edges.",
		}),
		dead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongotron_webhook_dead_letters_total", Help: "Webhook deliveries dead-lettered after their last retry.",
		}),
		intake: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mongotron_webhook_intake_total", Help: "Events taken from JetStream: taken for delivery, or skipped (no webhook, disabled).",
		}, []string{"result"}),
		breakers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongotron_webhook_breaker_opened_total", Help: "Times a receiver's circuit breaker opened.",
		}),
		spilled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongotron_webhook_queued_total", Help: "Events queued in MongoDB to wait (behind a retry, a breaker or a busy lane) instead of attempted at once.",
		}),
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.attempts, m.latency, m.queue, m.intakeBacklog, m.dead, m.intake, m.breakers, m.spilled} {
		if err := reg.Register(c); err != nil {
			return metrics{}, fmt.Errorf("webhook: metrics: %w", err)
		}
	}
	return m, nil
}
