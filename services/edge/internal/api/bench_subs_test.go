package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/subscription/subscriptiontest"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/edge/internal/api"
	"github.com/mongotron/mongotron/services/edge/internal/auth"
)

// benchSubs is how many subscriptions the store holds while the writes
// are measured.
const benchSubs = 100_000

// BenchmarkSubscriptionWrites100k measures the REST subscription writes
// through the real handlers, with 100,000 subscriptions (each with one
// address) already stored: each round creates a subscription, patches
// it, reads it, adds and then removes a bulk call's worth of addresses
// (10,000) and deletes it. It reports each call's p50 and p99 over the
// rounds, in milliseconds; run it with -benchtime=Nx for N rounds. The
// API is served without the OpenAPI checker the tests wrap it in, so
// only the handlers' own work is timed.
func BenchmarkSubscriptionWrites100k(b *testing.B) {
	be := newBenchEnv(b)
	start := time.Now()
	require.NoError(b, subscriptiontest.Seed(b.Context(), be.db, subscriptiontest.SeedConfig{Count: benchSubs}))
	b.Logf("seeded %d subscriptions in %v", benchSubs, time.Since(start).Round(time.Millisecond))
	key := be.key("bench-tenant")

	bulk := make([]string, subscription.MaxAddressesPerCall)
	for i := range bulk {
		bulk[i] = subscriptiontest.Address(benchSubs+1, i+1)
	}
	bulkBody := mustJSON(b, map[string][]string{"addresses": bulk})
	createBody := mustJSON(b, map[string]any{"label": "bench", "addresses": []string{subscriptiontest.Address(benchSubs+1, 0)}})

	lat := latencies{}
	for b.Loop() {
		var created struct {
			ID string `json:"id"`
		}
		body := be.timed(lat, "create", req{method: "POST", path: "/v1/subscriptions", key: key, body: createBody}, http.StatusCreated)
		require.NoError(b, json.Unmarshal(body, &created))
		path := "/v1/subscriptions/" + created.ID
		be.timed(lat, "patch", req{method: "PATCH", path: path, key: key, body: `{"label":"renamed"}`}, http.StatusOK)
		be.timed(lat, "get", req{method: "GET", path: path, key: key}, http.StatusOK)
		be.timed(lat, "add10k", req{method: "POST", path: path + "/addresses", key: key, body: bulkBody}, http.StatusOK)
		be.timed(lat, "remove10k", req{method: "DELETE", path: path + "/addresses", key: key, body: bulkBody}, http.StatusOK)
		be.timed(lat, "delete", req{method: "DELETE", path: path, key: key}, http.StatusNoContent)
	}
	lat.report(b)
}

// latencies holds each operation's durations.
type latencies map[string][]time.Duration

// report reports each operation's p50 and p99 in milliseconds.
func (l latencies) report(b *testing.B) {
	b.Helper()
	for op, ds := range l {
		slices.Sort(ds)
		b.ReportMetric(ms(percentile(ds, 50)), op+"-p50-ms")
		b.ReportMetric(ms(percentile(ds, 99)), op+"-p99-ms")
	}
}

// percentile returns the p-th percentile of sorted ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := (len(ds)*p + 99) / 100
	return ds[max(0, min(len(ds), i)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchEnv is the API on its own database and NATS server, served
// without the OpenAPI checker.
type benchEnv struct {
	tb  testing.TB
	db  *mongo.Database
	srv *httptest.Server
}

func newBenchEnv(tb testing.TB) *benchEnv {
	tb.Helper()
	db := mongoClient.Database(fmt.Sprintf("edge_bench_%d", dbSeq.Add(1)))
	_, err := store.EnsureIndexes(tb.Context(), db, 0)
	require.NoError(tb, err)
	nc, err := nats.Connect(testenv.RunNATS(tb).URL())
	require.NoError(tb, err)
	au, err := auth.New(auth.Config{DB: db, NATS: nc, AdminKey: adminKey})
	require.NoError(tb, err)
	reg := prometheus.NewRegistry()
	a, err := api.New(api.Config{DB: db, NATS: nc, Auth: au, Registerer: reg, Gatherer: reg, RateLimit: auth.RateLimitConfig{Rate: -1}})
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- au.Run(ctx) }()
	go func() { done <- a.Run(ctx) }()
	be := &benchEnv{tb: tb, db: db, srv: httptest.NewServer(a)}
	tb.Cleanup(func() {
		be.srv.Close()
		cancel()
		require.NoError(tb, <-done)
		require.NoError(tb, <-done)
		nc.Close()
		_ = db.Drop(context.Background())
	})
	return be
}

// key creates a key of tenant and returns it.
func (be *benchEnv) key(tenant string) string {
	be.tb.Helper()
	var k struct {
		Key string `json:"key"`
	}
	body := be.call(req{method: "POST", path: "/v1/keys", key: adminKey, body: `{"tenant":"` + tenant + `"}`}, http.StatusCreated)
	require.NoError(be.tb, json.Unmarshal(body, &k))
	return k.Key
}

// timed makes the call r, records how long it took under op, and returns
// the response body.
func (be *benchEnv) timed(l latencies, op string, r req, want int) []byte {
	start := time.Now()
	body := be.call(r, want)
	l[op] = append(l[op], time.Since(start))
	return body
}

// call makes r, fails unless it is answered with want, and returns the
// body.
func (be *benchEnv) call(r req, want int) []byte {
	be.tb.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequestWithContext(be.tb.Context(), r.method, be.srv.URL+r.path, body)
	require.NoError(be.tb, err)
	hr.Header.Set("Authorization", "Bearer "+r.key)
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	resp, err := be.srv.Client().Do(hr)
	require.NoError(be.tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(be.tb, err)
	require.Equal(be.tb, want, resp.StatusCode, "%s %s: %s", r.method, r.path, b)
	return b
}
