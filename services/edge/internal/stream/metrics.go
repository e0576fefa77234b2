package stream

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the hub's Prometheus series.
type metrics struct {
	connections prometheus.Gauge
	messages    prometheus.Counter
	replayed    prometheus.Counter
	replays     *prometheus.CounterVec
	closes      *prometheus.CounterVec
	topics      prometheus.Gauge

	// The live path's chain (see topic).
	gaps              *prometheus.CounterVec
	filled            prometheus.Counter
	repeats           prometheus.Counter
	brokerDisconnects prometheus.Counter
	brokerReconnects  prometheus.Counter
	brokerCloses      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "mongotron", Subsystem: "edge_stream", Name: "connections",
			Help: "Open WebSocket streams.",
		}),
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge_stream", Name: "messages_sent_total",
			Help: "Frames written to streams (events, hellos, heartbeats).",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge_stream", Name: "events_replayed_total",
			Help: "Events replayed from history (the JetStream events stream or MongoDB).",
		}),
		replays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge_stream", Name: "replays_total",
			Help: "Replay passes of resuming streams, by what served them: jetstream, mongodb, or jetstream_then_mongodb.",
		}, []string{"source"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge_stream", Name: "closes_total",
			Help: "Streams closed, by close code.",
		}, []string{"code"}),
		topics: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "mongotron", Subsystem: "edge_stream", Name: "nats_subscriptions",
			Help: "NATS subscriptions held for subscription ids with local streams.",
		}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge_stream", Name: "gaps_total",
			Help: "Gaps found in a subscription's live events and filled from history (or closed with 1012), by cause: link (a message did not name the previous event), reconnect (found after a NATS reconnect), dropped (after the NATS client dropped messages), stream (a stream's replay ended behind the live chain).",
		}, []string{"cause"}),
		filled: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge_stream", Name: "events_filled_total",
			Help: "Events read from history to fill gaps in the live events, once per subscription (not per stream).",
		}),
		repeats: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge_stream", Name: "live_repeats_total",
			Help: "Live messages dropped because their event had been handed on already (an ingest published a step again).",
		}),
		brokerDisconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge_stream", Name: "nats_disconnects_total",
			Help: "Times the edge's NATS connection went down.",
		}),
		brokerReconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge_stream", Name: "nats_reconnects_total",
			Help: "Times the edge's NATS connection came back.",
		}),
		brokerCloses: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mongotron", Subsystem: "edge_stream", Name: "broker_loss_closes_total",
			Help: "Streams closed with 1012 because NATS stayed down past the broker grace.",
		}),
	}
	for _, cause := range []string{gapLink, gapReconnect, gapDropped, gapStream} {
		m.gaps.WithLabelValues(cause)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.connections, m.messages, m.replayed, m.replays, m.closes, m.topics,
		m.gaps, m.filled, m.repeats, m.brokerDisconnects, m.brokerReconnects, m.brokerCloses} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("stream: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) closed(d Disconnect) {
	m.closes.WithLabelValues(strconv.Itoa(d.Code)).Inc()
}
