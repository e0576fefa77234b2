package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/subscription/subscriptiontest"
	"github.com/mongotron/mongotron/pkg/testenv"
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
	e := newServedEnv(b, false)
	start := time.Now()
	require.NoError(b, subscriptiontest.Seed(b.Context(), e.db, subscriptiontest.SeedConfig{Count: benchSubs}))
	b.Logf("seeded %d subscriptions in %v", benchSubs, time.Since(start).Round(time.Millisecond))
	_, key := e.key("bench-tenant")

	bulk := make([]string, subscription.MaxAddressesPerCall)
	for i := range bulk {
		bulk[i] = subscriptiontest.Address(benchSubs+1, i+1)
	}
	bulkBody := mustJSON(b, map[string][]string{"addresses": bulk})
	createBody := mustJSON(b, map[string]any{"label": "bench", "addresses": []string{subscriptiontest.Address(benchSubs+1, 0)}})

	lat := testenv.Latencies{}
	for b.Loop() {
		var created struct {
			ID string `json:"id"`
		}
		body := timed(e, lat, "create", req{method: "POST", path: "/v1/subscriptions", key: key, body: createBody}, http.StatusCreated)
		require.NoError(b, json.Unmarshal(body, &created))
		path := "/v1/subscriptions/" + created.ID
		timed(e, lat, "patch", req{method: "PATCH", path: path, key: key, body: `{"label":"renamed"}`}, http.StatusOK)
		timed(e, lat, "get", req{method: "GET", path: path, key: key}, http.StatusOK)
		timed(e, lat, "add10k", req{method: "POST", path: path + "/addresses", key: key, body: bulkBody}, http.StatusOK)
		timed(e, lat, "remove10k", req{method: "DELETE", path: path + "/addresses", key: key, body: bulkBody}, http.StatusOK)
		timed(e, lat, "delete", req{method: "DELETE", path: path, key: key}, http.StatusNoContent)
		// The address set is dropped after the answer: it goes before
		// the next round, so that each call is timed alone.
		testenv.WaitFor(b, time.Minute, func() bool {
			n, err := e.db.Collection(store.SubscriptionAddresses).CountDocuments(b.Context(), bson.M{"subscription_id": created.ID})
			return err == nil && n == 0
		}, "the address set dropped")
	}
	lat.Report(b)
}

// timed makes the call r, fails unless it is answered with want, records
// how long it took under op, and returns the response body.
func timed(e *env, l testenv.Latencies, op string, r req, want int) []byte {
	e.t.Helper()
	start := time.Now()
	resp := e.do(r)
	l.Add(op, time.Since(start))
	require.Equal(e.t, want, resp.status, "%s %s: %s", r.method, r.path, resp.body)
	return resp.body
}
