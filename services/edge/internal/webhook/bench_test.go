package webhook

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkDeliverer_twoEdges measures deliveries per second from the
// events stream to a fast local receiver through two edges sharing the
// durable consumer, each delivery stored, attempted and recorded in
// MongoDB.
func BenchmarkDeliverer_twoEdges(b *testing.B) {
	e := newEnv(b)
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	consumer := "bench_" + randHex(4)
	for range 2 {
		cfg := testConfig(e, consumer)
		cfg.ConcurrencyPerEndpoint = 64
		cfg.Registerer = nil
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
}
