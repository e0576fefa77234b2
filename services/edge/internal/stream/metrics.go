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
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.connections, m.messages, m.replayed, m.replays, m.closes, m.topics} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("stream: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) closed(d Disconnect) {
	m.closes.WithLabelValues(strconv.Itoa(d.Code)).Inc()
}
