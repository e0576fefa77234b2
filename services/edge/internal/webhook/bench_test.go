package webhook

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotron/mongotron/pkg/testenv"
)

// benchSubs is how many subscriptions the benchmarks spread events over.
const benchSubs = 32

// benchRig is two edges sharing the durable consumer, delivering to a fast
// loopback receiver that counts deliveries and second POSTs of one.
type benchRig struct {
	e    *env
	ids  []string
	got  atomic.Int64
	mu   sync.Mutex
	seen map[string]int
}

func newBenchRig(b *testing.B) *benchRig {
	b.Helper()
	r := &benchRig{e: newEnv(b), seen: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		id := req.Header.Get(HeaderDeliveryID)
		r.seen[id]++
		if r.seen[id] == 1 {
			r.got.Add(1)
		}
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	consumer := "bench_" + randHex(4)
	for range 2 {
		cfg := testConfig(r.e, consumer)
		cfg.ConcurrencyPerEndpoint = 64
		// Production waits: the receiver is fast, the store is not.
		cfg.Timeout, cfg.LeaseDuration, cfg.PollInterval = DefaultTimeout, 0, DefaultPollInterval
		cfg.Registerer = nil
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		start(b, cfg)
	}
	r.ids = make([]string, benchSubs)
	for i := range r.ids {
		r.ids[i] = r.e.createSub(srv.URL, "k")
	}
	return r
}

// duplicates counts deliveries POSTed more than once: every attempt
// succeeds, so any is a lane run by two edges at once.
func (r *benchRig) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.seen {
		n += c - 1
	}
	return n
}

// BenchmarkDeliverer_twoEdges measures deliveries per second from the
// events stream to a fast local receiver through two edges, each delivery
// queued, attempted and recorded in MongoDB, with b.N events published at
// once: the rate while working off a backlog.
func BenchmarkDeliverer_twoEdges(b *testing.B) {
	r := newBenchRig(b)
	perSub := max(b.N/benchSubs, 1)
	total := int64(perSub * benchSubs)
	b.ResetTimer()
	t0 := time.Now()
	for i, id := range r.ids {
		r.e.publish(id, i*perSub+1, perSub)
	}
	testenv.WaitFor(b, 5*time.Minute, func() bool { return r.got.Load() >= total }, "%d deliveries", total)
	el := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(total)/el.Seconds(), "deliveries/s")
	b.ReportMetric(float64(r.duplicates()), "duplicates")
}

// BenchmarkDeliverer_twoEdgesSteady publishes at a steady rate
// (MONGOTRON_BENCH_WEBHOOK_RATE events/s, default 1000, for 10 s) and
// reports the rate offered, the rate delivered, and how long after the
// last publish the last delivery came: a rate the deliverers keep up with
// drains in about a poll interval, a backlog that grew shows here.
func BenchmarkDeliverer_twoEdgesSteady(b *testing.B) {
	rate := 1000
	if v, err := strconv.Atoi(os.Getenv("MONGOTRON_BENCH_WEBHOOK_RATE")); err == nil && v > 0 {
		rate = v
	}
	const (
		window = 10 * time.Second
		tick   = 50 * time.Millisecond
	)
	r := newBenchRig(b)
	next := make([]int, benchSubs)
	for i := range next {
		next[i] = 1
	}
	var published int64
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		start := published
		tk := time.NewTicker(tick)
		for time.Since(t0) < window {
			// Whatever the rate asks for by now, one event per
			// subscription in turn, in one batch.
			due := int64(time.Since(t0).Seconds()*float64(rate)) + 1 - (published - start)
			var reqs []pubReq
			for k := int64(0); k < due; k++ {
				i := int(published % benchSubs)
				reqs = append(reqs, pubReq{subID: r.ids[i], first: next[i], n: 1})
				next[i]++
				published++
			}
			if len(reqs) > 0 {
				r.e.publishBatch(reqs)
			}
			<-tk.C
		}
		tk.Stop()
		last := time.Now()
		testenv.WaitFor(b, 10*time.Minute, func() bool { return r.got.Load() >= published }, "%d deliveries", published)
		done := time.Now()
		b.ReportMetric(float64(published-start)/last.Sub(t0).Seconds(), "offered/s")
		b.ReportMetric(float64(published-start)/done.Sub(t0).Seconds(), "deliveries/s")
		b.ReportMetric(done.Sub(last).Seconds(), "drain-s")
	}
	b.StopTimer()
	b.ReportMetric(float64(r.duplicates()), "duplicates")
}
