package backfill

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the runner's Prometheus metrics.
type metrics struct {
	active    prometheus.Gauge
	blocks    prometheus.Counter
	events    prometheus.Counter
	handovers prometheus.Counter
	failures  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		active:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "mongotron_ingest_backfills_running", Help: "Backfills being worked on."}),
		blocks:    prometheus.NewCounter(prometheus.CounterOpts{Name: "mongotron_ingest_backfill_blocks_total", Help: "Blocks replayed for backfills (block × subscription)."}),
		events:    prometheus.NewCounter(prometheus.CounterOpts{Name: "mongotron_ingest_backfill_events_total", Help: "Events delivered by backfills (crash redos included)."}),
		handovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "mongotron_ingest_backfill_handovers_total", Help: "Backfills handed over to live delivery."}),
		failures:  prometheus.NewCounter(prometheus.CounterOpts{Name: "mongotron_ingest_backfill_failures_total", Help: "Backfill workers that stopped on an error (they are restarted at the next scan)."}),
	}
	if reg != nil {
		reg.MustRegister(m.active, m.blocks, m.events, m.handovers, m.failures)
	}
	return m
}
