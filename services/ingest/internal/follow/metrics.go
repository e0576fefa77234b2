package follow

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the follower's Prometheus metrics.
type Metrics struct {
	Head           prometheus.Gauge
	Committed      prometheus.Gauge
	LagBlocks      prometheus.Gauge
	LagSeconds     prometheus.Gauge
	Blocks         prometheus.Counter
	Steps          prometheus.Counter
	Matched        prometheus.Counter
	Stored         prometheus.Counter
	Published      prometheus.Counter
	Retracted      prometheus.Counter
	Reorgs         prometheus.Counter
	ReorgDepth     prometheus.Histogram
	DeepReorgs     prometheus.Counter
	FetchErrors    prometheus.Counter
	WriteErrors    *prometheus.CounterVec
	NodeUp         prometheus.Gauge
	PublishLatency prometheus.Histogram
	Solidified     prometheus.Gauge
	SolidDelivered prometheus.Gauge
	InternalTxs    prometheus.Gauge
}

// NewMetrics registers the follower's metrics on reg. A nil reg registers
// nothing, for tests that do not look.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Head:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "mongotron_ingest_head_block", Help: "Head block number the node reports."}),
		Committed:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "mongotron_ingest_committed_block", Help: "Last committed block number."}),
		LagBlocks:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "mongotron_ingest_lag_blocks", Help: "Head minus committed block."}),
		LagSeconds:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "mongotron_ingest_lag_seconds", Help: "Age of the last committed block's timestamp at commit."}),
		Blocks:      prometheus.NewCounter(prometheus.CounterOpts{Name: "mongotron_ingest_blocks_total", Help: "Blocks committed."}),
		Steps:       prometheus.NewCounter(prometheus.CounterOpts{Name: "mongotron_ingest_steps_total", Help: "Steps committed (blocks and reorg steps)."}),
		Matched:     prometheus.NewCounter(prometheus.CounterOpts{Name: "mongotron_ingest_events_matched_total", Help: "Event deliveries matched (event × subscription)."}),
		Stored:      prometheus.NewCounter(prometheus.CounterOpts{Name: "mongotron_ingest_events_stored_total", Help: "Event documents written to MongoDB (duplicates included)."}),
		Published:   prometheus.NewCounter(prometheus.CounterOpts{Name: "mongotron_ingest_events_published_total", Help: "Event messages acknowledged by JetStream."}),
		Retracted:   prometheus.NewCounter(prometheus.CounterOpts{Name: "mongotron_ingest_events_retracted_total", Help: "removed:true deliveries sent after reorgs."}),
		Reorgs:      prometheus.NewCounter(prometheus.CounterOpts{Name: "mongotron_ingest_reorgs_total", Help: "Chain reorganisations handled."}),
		ReorgDepth:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mongotron_ingest_reorg_depth_blocks", Help: "Blocks replaced by each reorg.", Buckets: []float64{1, 2, 3, 5, 8, 13, 19}}),
		DeepReorgs:  prometheus.NewCounter(prometheus.CounterOpts{Name: "mongotron_ingest_deep_reorgs_total", Help: "Reorgs deeper than the solidified depth: an inconsistency the ingest refuses to apply."}),
		FetchErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "mongotron_ingest_fetch_errors_total", Help: "Failed block or info fetches (each is retried)."}),
		WriteErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mongotron_ingest_write_errors_total", Help: "Failed writes (each is retried), by target."}, []string{"target"}),
		NodeUp:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "mongotron_ingest_node_up", Help: "1 when the last call to the node succeeded."}),
		InternalTxs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mongotron_ingest_internal_transactions_recorded",
			Help: "1 when the node records internal transactions, 0 when its blocks show it does not (vm.saveInternalTx off: internal transfers are missing), -1 before a block showed either.",
		}),
		Solidified: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mongotron_ingest_solidified_block", Help: "Solidified (irreversible) block number the node reports."}),
		SolidDelivered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mongotron_ingest_solidified_delivered_block", Help: "Highest block delivered to subscriptions with finality solidified.",
		}),
		PublishLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mongotron_ingest_block_publish_latency_seconds", Help: "From fetching a head block to its step being published and committed.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Head, m.Committed, m.LagBlocks, m.LagSeconds, m.Blocks, m.Steps, m.Matched, m.Stored,
			m.Published, m.Retracted, m.Reorgs, m.ReorgDepth, m.DeepReorgs, m.FetchErrors, m.WriteErrors, m.NodeUp, m.PublishLatency,
			m.Solidified, m.SolidDelivered, m.InternalTxs)
	}
	m.InternalTxs.Set(-1)
	return m
}
