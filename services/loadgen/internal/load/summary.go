package load

import (
	"maps"
	"time"
)

// Summary is what a run measured; the loadgen command prints it as JSON.
type Summary struct {
	Mode      Mode `json:"mode"`
	Streams   int  `json:"streams"`
	Connected int  `json:"connected"`
	Failed    int  `json:"failed"`
	// ConnectSeconds is how long it took until every stream was up or
	// had failed.
	ConnectSeconds float64 `json:"connect_seconds"`
	// Delivered counts event frames received.
	Delivered  uint64 `json:"delivered"`
	Hellos     uint64 `json:"hellos"`
	Heartbeats uint64 `json:"heartbeats"`
	Others     uint64 `json:"others"`
	// Bad counts events without a cursor or (fanout) a sent_ns.
	Bad uint64 `json:"bad"`
	// OutOfOrder counts events whose cursor was not above the previous
	// one of the same stream: a gap-free, in-order stream has none.
	OutOfOrder uint64 `json:"out_of_order"`
	// EventSeconds is from the first event received to the last.
	EventSeconds float64 `json:"event_seconds"`
	// RatePerSecond is Delivered over EventSeconds.
	RatePerSecond float64 `json:"rate_per_s"`
	// ReplaySeconds is, for a replay, from the hello to the last event;
	// ReplayRate is Delivered over it.
	ReplaySeconds float64 `json:"replay_seconds,omitempty"`
	ReplayRate    float64 `json:"replay_rate_per_s,omitempty"`
	// Latency is publish→client latency of fanout events, in ms.
	Latency Latency `json:"latency_ms"`
	// PerInterval is the events delivered in each progress interval.
	PerInterval []uint64 `json:"per_interval"`
	// Closes counts streams ended by the edge or the network, by close
	// code ("4008") or error class ("eof", "timeout", "dial_failed").
	Closes map[string]int `json:"closes"`
	// DialError is one dial error, when any dial failed.
	DialError string `json:"dial_error,omitempty"`
	// Storm is a storm's rounds, the one in progress included (mode
	// storm only).
	Storm []StormRound `json:"storm,omitempty"`
}

// Latency holds quantiles of a latency histogram.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Summary returns what the run measured; call it after [Generator.Run].
func (g *Generator) Summary() Summary {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := Summary{
		Mode:        g.cfg.Mode,
		Streams:     g.cfg.Streams,
		Connected:   int(g.connected.Load()),
		Failed:      int(g.failed.Load()),
		Delivered:   g.delivered.Load(),
		Hellos:      g.hellos.Load(),
		Heartbeats:  g.heartbeats.Load(),
		Others:      g.others.Load(),
		Bad:         g.bad.Load(),
		OutOfOrder:  g.disorder.Load(),
		PerInterval: append([]uint64(nil), g.perSecond...),
		Closes:      maps.Clone(g.closes),
		Latency: Latency{
			Count: g.hist.Count(),
			P50:   ms(g.hist.Quantile(0.5)),
			P90:   ms(g.hist.Quantile(0.9)),
			P99:   ms(g.hist.Quantile(0.99)),
			P999:  ms(g.hist.Quantile(0.999)),
			Max:   ms(g.hist.Max()),
		},
	}
	if !g.readyAt.IsZero() {
		s.ConnectSeconds = g.readyAt.Sub(g.started).Seconds()
	}
	if g.storm != nil {
		s.Storm = g.storm.snapshot()
	}
	if g.dialErr != nil {
		s.DialError = g.dialErr.Error()
	}
	first, last := g.firstEvent.Load(), g.lastEvent.Load()
	if last > first {
		s.EventSeconds = time.Duration(last - first).Seconds()
		s.RatePerSecond = float64(s.Delivered) / s.EventSeconds
	}
	if hello := g.firstHello.Load(); g.cfg.Mode == ModeReplay && hello > 0 && last > hello {
		s.ReplaySeconds = time.Duration(last - hello).Seconds()
		s.ReplayRate = float64(s.Delivered) / s.ReplaySeconds
	}
	return s
}
