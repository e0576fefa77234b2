package webhook

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkDeliverer_twoEdges measures deliveries per second from the
// events stream to a fast local receiver through two edges sharing the
// durable consumer, each delivery stored, attempted and recorded in
// MongoDB, and the deliveries POSTed more than once.
func BenchmarkDeliverer_twoEdges(b *testing.B) {
	e := newEnv(b)
	var (
		got  atomic.Int64
		mu   sync.Mutex
		seen = map[string]int{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get(HeaderDeliveryID)]++
		if seen[r.Header.Get(HeaderDeliveryID)] == 1 {
			got.Add(1)
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	consumer := "bench_" + randHex(4)
	for range 2 {
		cfg := testConfig(e, consumer)
		cfg.ConcurrencyPerEndpoint = 64
		// Production waits: the receiver is fast, the store is not.
		cfg.Timeout, cfg.LeaseDuration, cfg.PollInterval = DefaultTimeout, 0, DefaultPollInterval
		cfg.Registerer = nil
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		start(b, cfg)
	}
	const subs = 32
	ids := make([]string, subs)
	for i := range ids {
		ids[i] = e.createSub(srv.URL, "k")
	}
	perSub := max(b.N/subs, 1)
	total := int64(perSub * subs)
	b.ResetTimer()
	t0 := time.Now()
	for i, id := range ids {
		e.publish(id, i*perSub+1, perSub)
	}
	eventually(b, 5*time.Minute, func() bool { return got.Load() >= total }, "%d deliveries", total)
	el := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(total)/el.Seconds(), "deliveries/s")
	mu.Lock()
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	mu.Unlock()
	// Every attempt succeeds, so any second POST of a delivery is a lane
	// run by two edges at once.
	b.ReportMetric(float64(dups), "duplicates")
}
