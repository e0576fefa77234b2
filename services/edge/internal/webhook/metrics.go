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
	// intake counts messages taken from JetStream: taken for delivery,
	// skipped (no webhook, disabled), repeat (at or below the chain's
	// tail: not sent again).
	intake   *prometheus.CounterVec
	breakers prometheus.Counter
	// spilled counts events queued in MongoDB instead of attempted
	// straight from memory.
	spilled prometheus.Counter
	// gaps counts links that did not hold: events missing before a
	// message (see chain.go); filled counts the events filed from the
	// events collection for them.
	gaps   prometheus.Counter
	filled prometheus.Counter
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
			Name: "mongotron_webhook_intake_total", Help: "Events taken from JetStream: taken for delivery, skipped (no webhook, disabled), or repeat (at or below the subscription's last event taken: not sent again).",
		}, []string{"result"}),
		breakers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongotron_webhook_breaker_opened_total", Help: "Times a receiver's circuit breaker opened.",
		}),
		spilled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongotron_webhook_queued_total", Help: "Events queued in MongoDB to wait (behind a retry, a breaker or a busy lane) instead of attempted at once.",
		}),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongotron_webhook_gaps_total", Help: "Events from JetStream whose link did not name the subscription's last event taken: the events between were filled from history.",
		}),
		filled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mongotron_webhook_events_filled_total", Help: "Events read from history (MongoDB) to fill gaps in the webhook intake, delivered in cursor order before the event that showed the gap.",
		}),
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.attempts, m.latency, m.queue, m.intakeBacklog, m.dead, m.intake, m.breakers, m.spilled, m.gaps, m.filled} {
		if err := reg.Register(c); err != nil {
			return metrics{}, fmt.Errorf("webhook: metrics: %w", err)
		}
	}
	return m, nil
}
