package api_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/services/edge/internal/api"
	"github.com/mongotron/mongotron/services/edge/internal/auth"
)

// The REST tests check every response against docs/openapi.yaml (newEnv
// wraps each test server); this file makes sure that the document has
// nothing those checks never reach. TestOpenAPI_everyOperationAndStatus
// drives every documented operation to every status code it declares, on
// the real API with embedded NATS and FerretDB, and fails on a declared
// pair it did not see. The route table is held to the document by
// TestRoutes_matchOpenAPI (routes_internal_test.go).

// call is one request meant to get one documented answer.
type call struct {
	op     string // "METHOD /path/{template}", as the document names it
	status int
	code   string // the error code, for an error answer
	e      *env
	r      req
	// before runs just before the request.
	before func()
	// send replaces e.do, for the WebSocket upgrade.
	send func() response
}

// strangerKey looks like a tenant key, so the edge looks it up in
// MongoDB; on the envs whose MongoDB fails, that lookup fails.
var strangerKey = "mt_" + strings.Repeat("A", 43)

func TestOpenAPI_everyOperationAndStatus(t *testing.T) {
	t.Parallel()
	race := &racer{}
	ok := newEnv(t, withWebhooks(t), withStream(nil), race.store(t), func(c *api.Config) { c.MaxBodyBytes = 4096 })
	_, key := ok.key("acme")
	doomedKeyID, _ := ok.key("doomed")
	sub := ok.create(key, `{"addresses":["`+addrA+`"],"kinds":["trx_transfer"],"webhook":{"url":"http://127.0.0.1:9/hook","secret":"s3cret"}}`)
	bare := ok.create(key, `{"addresses":["`+addrA+`"]}`) // no webhook, and nothing but its one address
	doomed := ok.create(key, `{"all":true}`)
	storeEvents(t, ok, sub, 3)
	// Replayed deliveries stay pending (the deliverer is not running):
	// one of them is retried below.
	r := ok.do(req{method: "POST", path: "/v1/subscriptions/" + sub + "/webhook/replay", key: key, body: `{}`})
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	dlv := ok.deliveries(key, sub, "?limit=1").Deliveries[0].ID

	// Rate limited: buckets of one that never refill. The admin key
	// spends its token creating the tenant key, the tenant key its own on
	// one list and its stream token on one connect; every later request
	// of either is a 429.
	now := time.Unix(1_700_000_000, 0)
	limited := newEnv(t, func(c *api.Config) {
		c.RateLimit = auth.RateLimitConfig{Rate: 0.001, Burst: 1, Now: func() time.Time { return now }}
		c.StreamRateLimit = c.RateLimit
	})
	_, limitedKey := limited.key("acme")
	require.Equal(t, http.StatusOK, limited.do(req{method: "GET", path: "/v1/subscriptions", key: limitedKey}).status)
	require.Equal(t, http.StatusNotFound, limited.do(req{method: "GET", path: "/v1/subscriptions/sub_0/stream", key: limitedKey}).status)

	// MongoDB failing: a client that was disconnected gives errors the
	// edge does not expect (500), and one that cannot reach its server
	// gives the outage answer (503 store_unavailable).
	broken := newEnv(t, storeOn(t, disconnectedClient(t)))
	down := newEnv(t, storeOn(t, unreachableClient(t)))

	const S = "/v1/subscriptions"
	id := S + "/" + sub
	var raceErr atomic.Value
	calls := []call{
		{op: "POST " + S, status: 201, e: ok, r: req{method: "POST", path: S, key: key, body: `{"kinds":["trx_transfer"],"webhook":{"url":"http://127.0.0.1:9/x"}}`}},
		{op: "POST " + S, status: 400, code: "invalid_json", e: ok, r: req{method: "POST", path: S, key: key, body: `{"kinds":`}},
		{op: "POST " + S, status: 401, code: "missing_api_key", e: ok, r: req{method: "POST", path: S, body: `{"all":true}`}},
		{op: "POST " + S, status: 403, code: "tenant_key_required", e: ok, r: req{method: "POST", path: S, key: adminKey, body: `{"all":true}`}},
		{op: "POST " + S, status: 413, code: "body_too_large", e: ok, r: req{method: "POST", path: S, key: key, body: `{"all":true,"label":"` + strings.Repeat("x", 5000) + `"}`}},
		{op: "POST " + S, status: 422, code: "invalid_kind", e: ok, r: req{method: "POST", path: S, key: key, body: `{"kinds":["nft_mint"]}`}},
		{op: "POST " + S, status: 429, code: "rate_limited", e: limited, r: req{method: "POST", path: S, key: limitedKey, body: `{"all":true}`}},
		{op: "POST " + S, status: 500, code: "internal", e: broken, r: req{method: "POST", path: S, key: strangerKey, body: `{"all":true}`}},
		{op: "POST " + S, status: 503, code: "store_unavailable", e: down, r: req{method: "POST", path: S, key: strangerKey, body: `{"all":true}`}},

		{op: "GET " + S, status: 200, e: ok, r: req{method: "GET", path: S + "?limit=1", key: key}},
		{op: "GET " + S, status: 400, code: "invalid_limit", e: ok, r: req{method: "GET", path: S + "?limit=0", key: key}},
		{op: "GET " + S, status: 401, code: "invalid_api_key", e: ok, r: req{method: "GET", path: S, key: "mt_nope"}},
		{op: "GET " + S, status: 403, code: "tenant_key_required", e: ok, r: req{method: "GET", path: S, key: adminKey}},
		{op: "GET " + S, status: 429, code: "rate_limited", e: limited, r: req{method: "GET", path: S, key: limitedKey}},
		{op: "GET " + S, status: 500, code: "internal", e: broken, r: req{method: "GET", path: S, key: strangerKey}},
		{op: "GET " + S, status: 503, code: "store_unavailable", e: down, r: req{method: "GET", path: S, key: strangerKey}},

		{op: "GET " + S + "/{id}", status: 200, e: ok, r: req{method: "GET", path: id, key: key}},
		{op: "GET " + S + "/{id}", status: 401, code: "invalid_authorization", e: ok, r: req{method: "GET", path: id, auth: "Basic dTpw"}},
		{op: "GET " + S + "/{id}", status: 403, code: "tenant_key_required", e: ok, r: req{method: "GET", path: id, key: adminKey}},
		{op: "GET " + S + "/{id}", status: 404, code: "not_found", e: ok, r: req{method: "GET", path: S + "/sub_nope", key: key}},
		{op: "GET " + S + "/{id}", status: 429, code: "rate_limited", e: limited, r: req{method: "GET", path: id, key: limitedKey}},
		{op: "GET " + S + "/{id}", status: 500, code: "internal", e: broken, r: req{method: "GET", path: id, key: strangerKey}},
		{op: "GET " + S + "/{id}", status: 503, code: "store_unavailable", e: down, r: req{method: "GET", path: id, key: strangerKey}},

		{op: "PATCH " + S + "/{id}", status: 200, e: ok, r: req{method: "PATCH", path: id, key: key, body: `{"label":"renamed","finality":"solidified"}`}},
		{op: "PATCH " + S + "/{id}", status: 400, code: "unknown_field", e: ok, r: req{method: "PATCH", path: id, key: key, body: `{"lable":"x"}`}},
		{op: "PATCH " + S + "/{id}", status: 401, code: "missing_api_key", e: ok, r: req{method: "PATCH", path: id, body: `{"label":"x"}`}},
		{op: "PATCH " + S + "/{id}", status: 403, code: "tenant_key_required", e: ok, r: req{method: "PATCH", path: id, key: adminKey, body: `{"label":"x"}`}},
		{op: "PATCH " + S + "/{id}", status: 404, code: "not_found", e: ok, r: req{method: "PATCH", path: S + "/sub_nope", key: key, body: `{"label":"x"}`}},
		{
			op: "PATCH " + S + "/{id}", status: 409, code: "conflict", e: ok, r: req{method: "PATCH", path: id, key: key, body: `{"label":"raced"}`},
			before: func() {
				race.arm(func() {
					// Another change lands between the PATCH's read and
					// its write.
					_, err := mongoClient.Database(ok.db.Name()).Collection(store.Subscriptions).UpdateOne(context.Background(),
						bson.M{"_id": sub}, bson.M{"$inc": bson.M{"version": 1}})
					if err != nil {
						raceErr.Store(err)
					}
				})
			},
		},
		{op: "PATCH " + S + "/{id}", status: 413, code: "body_too_large", e: ok, r: req{method: "PATCH", path: id, key: key, body: `{"label":"` + strings.Repeat("x", 5000) + `"}`}},
		{op: "PATCH " + S + "/{id}", status: 422, code: "not_patchable", e: ok, r: req{method: "PATCH", path: id, key: key, body: `{"addresses":[]}`}},
		{op: "PATCH " + S + "/{id}", status: 429, code: "rate_limited", e: limited, r: req{method: "PATCH", path: id, key: limitedKey, body: `{"label":"x"}`}},
		{op: "PATCH " + S + "/{id}", status: 500, code: "internal", e: broken, r: req{method: "PATCH", path: id, key: strangerKey, body: `{"label":"x"}`}},
		{op: "PATCH " + S + "/{id}", status: 503, code: "store_unavailable", e: down, r: req{method: "PATCH", path: id, key: strangerKey, body: `{"label":"x"}`}},

		{op: "DELETE " + S + "/{id}", status: 204, e: ok, r: req{method: "DELETE", path: S + "/" + doomed, key: key}},
		{op: "DELETE " + S + "/{id}", status: 401, code: "invalid_api_key", e: ok, r: req{method: "DELETE", path: id, key: "mt_nope"}},
		{op: "DELETE " + S + "/{id}", status: 403, code: "tenant_key_required", e: ok, r: req{method: "DELETE", path: id, key: adminKey}},
		{op: "DELETE " + S + "/{id}", status: 404, code: "not_found", e: ok, r: req{method: "DELETE", path: S + "/" + doomed, key: key}},
		{op: "DELETE " + S + "/{id}", status: 429, code: "rate_limited", e: limited, r: req{method: "DELETE", path: id, key: limitedKey}},
		{op: "DELETE " + S + "/{id}", status: 500, code: "internal", e: broken, r: req{method: "DELETE", path: id, key: strangerKey}},
		{op: "DELETE " + S + "/{id}", status: 503, code: "store_unavailable", e: down, r: req{method: "DELETE", path: id, key: strangerKey}},
	}
	for _, m := range []string{"POST", "DELETE"} {
		ok200 := `{"addresses":["` + addrB + `"]}`
		bad422, code422 := `{"addresses":["`+addrBad+`"]}`, "invalid_address"
		if m == "DELETE" {
			// Removing the last address of an address-only subscription.
			bad422, code422 = `{"addresses":["`+addrA+`"]}`, "empty_filter"
		}
		path, path422 := id+"/addresses", id+"/addresses"
		if m == "DELETE" {
			path422 = S + "/" + bare + "/addresses"
		}
		op := m + " " + S + "/{id}/addresses"
		calls = append(calls,
			call{op: op, status: 200, e: ok, r: req{method: m, path: path, key: key, body: ok200}},
			call{op: op, status: 400, code: "invalid_json", e: ok, r: req{method: m, path: path, key: key, body: `["` + addrB + `"]`}},
			call{op: op, status: 401, code: "missing_api_key", e: ok, r: req{method: m, path: path, body: ok200}},
			call{op: op, status: 403, code: "tenant_key_required", e: ok, r: req{method: m, path: path, key: adminKey, body: ok200}},
			call{op: op, status: 404, code: "not_found", e: ok, r: req{method: m, path: S + "/sub_nope/addresses", key: key, body: ok200}},
			call{op: op, status: 413, code: "body_too_large", e: ok, r: req{method: m, path: path, key: key, body: mustJSON(t, map[string]any{"addresses": randomAddresses(200)})}},
			call{op: op, status: 422, code: code422, e: ok, r: req{method: m, path: path422, key: key, body: bad422}},
			call{op: op, status: 429, code: "rate_limited", e: limited, r: req{method: m, path: path, key: limitedKey, body: ok200}},
			call{op: op, status: 500, code: "internal", e: broken, r: req{method: m, path: path, key: strangerKey, body: ok200}},
			call{op: op, status: 503, code: "store_unavailable", e: down, r: req{method: m, path: path, key: strangerKey, body: ok200}},
		)
	}
	// The GET routes under a subscription answer alike, but for their
	// query's 400.
	for _, g := range []struct{ suffix, ok, bad, code string }{
		{"/addresses", "?limit=1", "?cursor=x", "invalid_cursor"},
		{"/events", "?limit=2", "?tx_id=abc", "invalid_tx_id"},
		{"/deliveries", "?status=pending&limit=2", "?status=lost", "invalid_status"},
	} {
		op := "GET " + S + "/{id}" + g.suffix
		path := id + g.suffix
		calls = append(calls,
			call{op: op, status: 200, e: ok, r: req{method: "GET", path: path + g.ok, key: key}},
			call{op: op, status: 400, code: g.code, e: ok, r: req{method: "GET", path: path + g.bad, key: key}},
			call{op: op, status: 401, code: "invalid_api_key", e: ok, r: req{method: "GET", path: path, key: "mt_nope"}},
			call{op: op, status: 403, code: "tenant_key_required", e: ok, r: req{method: "GET", path: path, key: adminKey}},
			call{op: op, status: 404, code: "not_found", e: ok, r: req{method: "GET", path: S + "/sub_nope" + g.suffix, key: key}},
			call{op: op, status: 429, code: "rate_limited", e: limited, r: req{method: "GET", path: path, key: limitedKey}},
			call{op: op, status: 500, code: "internal", e: broken, r: req{method: "GET", path: path, key: strangerKey}},
			call{op: op, status: 503, code: "store_unavailable", e: down, r: req{method: "GET", path: path, key: strangerKey}},
		)
	}
	stream := "GET " + S + "/{id}/stream"
	calls = append(calls,
		call{op: stream, status: 101, e: ok, send: func() response {
			ws, resp, err := websocket.DefaultDialer.DialContext(t.Context(), ok.wsURL(id+"/stream?after="+cursor.Cursor{Step: 1}.String()),
				http.Header{"Authorization": {"Bearer " + key}})
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			_ = ws.Close()
			return response{status: resp.StatusCode, header: resp.Header}
		}},
		call{op: stream, status: 400, code: "invalid_cursor", e: ok, r: req{method: "GET", path: id + "/stream?after=zz", key: key}},
		// Everything checks out but it is no WebSocket handshake.
		call{op: stream, status: 400, code: "websocket_required", e: ok, r: req{method: "GET", path: id + "/stream", key: key}},
		call{op: stream, status: 401, code: "invalid_api_key", e: ok, r: req{method: "GET", path: id + "/stream?token=mt_nope"}},
		call{op: stream, status: 403, code: "tenant_key_required", e: ok, r: req{method: "GET", path: id + "/stream?token=" + adminKey}},
		call{op: stream, status: 404, code: "not_found", e: ok, r: req{method: "GET", path: S + "/sub_nope/stream", key: key}},
		call{op: stream, status: 429, code: "rate_limited", e: limited, r: req{method: "GET", path: id + "/stream", key: limitedKey}},
		call{op: stream, status: 500, code: "internal", e: broken, r: req{method: "GET", path: id + "/stream", key: strangerKey}},
		call{op: stream, status: 503, code: "store_unavailable", e: down, r: req{method: "GET", path: id + "/stream", key: strangerKey}},
	)
	retry := "POST " + S + "/{id}/deliveries/{delivery_id}/retry"
	retryPath := id + "/deliveries/" + dlv + "/retry"
	replay := "POST " + S + "/{id}/webhook/replay"
	calls = append(calls,
		call{op: retry, status: 202, e: ok, r: req{method: "POST", path: retryPath, key: key}},
		call{op: retry, status: 401, code: "missing_api_key", e: ok, r: req{method: "POST", path: retryPath}},
		call{op: retry, status: 403, code: "tenant_key_required", e: ok, r: req{method: "POST", path: retryPath, key: adminKey}},
		call{op: retry, status: 404, code: "not_found", e: ok, r: req{method: "POST", path: id + "/deliveries/dlv_nope/retry", key: key}},
		call{op: retry, status: 409, code: "no_webhook", e: ok, r: req{method: "POST", path: S + "/" + bare + "/deliveries/" + dlv + "/retry", key: key}},
		call{op: retry, status: 429, code: "rate_limited", e: limited, r: req{method: "POST", path: retryPath, key: limitedKey}},
		call{op: retry, status: 500, code: "internal", e: broken, r: req{method: "POST", path: retryPath, key: strangerKey}},
		call{op: retry, status: 503, code: "store_unavailable", e: down, r: req{method: "POST", path: retryPath, key: strangerKey}},

		call{op: replay, status: 202, e: ok, r: req{method: "POST", path: id + "/webhook/replay", key: key, body: `{"after":null}`}},
		call{op: replay, status: 400, code: "invalid_cursor", e: ok, r: req{method: "POST", path: id + "/webhook/replay", key: key, body: `{"after":"yesterday"}`}},
		call{op: replay, status: 401, code: "missing_api_key", e: ok, r: req{method: "POST", path: id + "/webhook/replay", body: `{}`}},
		call{op: replay, status: 403, code: "tenant_key_required", e: ok, r: req{method: "POST", path: id + "/webhook/replay", key: adminKey, body: `{}`}},
		call{op: replay, status: 404, code: "not_found", e: ok, r: req{method: "POST", path: S + "/sub_nope/webhook/replay", key: key, body: `{}`}},
		call{op: replay, status: 409, code: "no_webhook", e: ok, r: req{method: "POST", path: S + "/" + bare + "/webhook/replay", key: key, body: `{}`}},
		call{op: replay, status: 413, code: "body_too_large", e: ok, r: req{method: "POST", path: id + "/webhook/replay", key: key, body: `{"after":"` + strings.Repeat("0", 5000) + `"}`}},
		call{op: replay, status: 429, code: "rate_limited", e: limited, r: req{method: "POST", path: id + "/webhook/replay", key: limitedKey, body: `{}`}},
		call{op: replay, status: 500, code: "internal", e: broken, r: req{method: "POST", path: id + "/webhook/replay", key: strangerKey, body: `{}`}},
		call{op: replay, status: 503, code: "store_unavailable", e: down, r: req{method: "POST", path: id + "/webhook/replay", key: strangerKey, body: `{}`}},

		call{op: "POST /v1/keys", status: 201, e: ok, r: req{method: "POST", path: "/v1/keys", key: adminKey, body: `{"tenant":"beta"}`}},
		call{op: "POST /v1/keys", status: 400, code: "invalid_json", e: ok, r: req{method: "POST", path: "/v1/keys", key: adminKey, body: `{"tenant":1}`}},
		call{op: "POST /v1/keys", status: 401, code: "invalid_authorization", e: ok, r: req{method: "POST", path: "/v1/keys", auth: "Bearer", body: `{"tenant":"beta"}`}},
		call{op: "POST /v1/keys", status: 403, code: "admin_key_required", e: ok, r: req{method: "POST", path: "/v1/keys", key: key, body: `{"tenant":"beta"}`}},
		call{op: "POST /v1/keys", status: 413, code: "body_too_large", e: ok, r: req{method: "POST", path: "/v1/keys", key: adminKey, body: `{"tenant":"` + strings.Repeat("a", 5000) + `"}`}},
		call{op: "POST /v1/keys", status: 422, code: "invalid_tenant", e: ok, r: req{method: "POST", path: "/v1/keys", key: adminKey, body: `{"tenant":"Not A Tenant"}`}},
		call{op: "POST /v1/keys", status: 429, code: "rate_limited", e: limited, r: req{method: "POST", path: "/v1/keys", key: adminKey, body: `{"tenant":"beta"}`}},
		call{op: "POST /v1/keys", status: 500, code: "internal", e: broken, r: req{method: "POST", path: "/v1/keys", key: adminKey, body: `{"tenant":"beta"}`}},
		call{op: "POST /v1/keys", status: 503, code: "store_unavailable", e: down, r: req{method: "POST", path: "/v1/keys", key: adminKey, body: `{"tenant":"beta"}`}},

		call{op: "DELETE /v1/keys/{id}", status: 204, e: ok, r: req{method: "DELETE", path: "/v1/keys/" + doomedKeyID, key: adminKey}},
		call{op: "DELETE /v1/keys/{id}", status: 401, code: "missing_api_key", e: ok, r: req{method: "DELETE", path: "/v1/keys/" + doomedKeyID}},
		call{op: "DELETE /v1/keys/{id}", status: 403, code: "admin_key_required", e: ok, r: req{method: "DELETE", path: "/v1/keys/" + doomedKeyID, key: key}},
		call{op: "DELETE /v1/keys/{id}", status: 404, code: "not_found", e: ok, r: req{method: "DELETE", path: "/v1/keys/" + doomedKeyID, key: adminKey}},
		call{op: "DELETE /v1/keys/{id}", status: 429, code: "rate_limited", e: limited, r: req{method: "DELETE", path: "/v1/keys/key_x", key: adminKey}},
		call{op: "DELETE /v1/keys/{id}", status: 500, code: "internal", e: broken, r: req{method: "DELETE", path: "/v1/keys/key_x", key: adminKey}},
		call{op: "DELETE /v1/keys/{id}", status: 503, code: "store_unavailable", e: down, r: req{method: "DELETE", path: "/v1/keys/key_x", key: adminKey}},

		call{op: "GET /healthz", status: 200, e: ok, r: req{method: "GET", path: "/healthz"}},
		call{op: "GET /readyz", status: 200, e: ok, r: req{method: "GET", path: "/readyz"}},
		call{op: "GET /readyz", status: 503, code: "not_ready", e: down, r: req{method: "GET", path: "/readyz"}},
		call{op: "GET /metrics", status: 200, e: ok, r: req{method: "GET", path: "/metrics"}},
	)

	seen := map[string]bool{}
	for _, c := range calls {
		if c.before != nil {
			c.before()
		}
		var got response
		if c.send != nil {
			got = c.send()
		} else {
			got = c.e.do(c.r)
		}
		require.Equal(t, c.status, got.status, "%s: %s", c.op, got.body)
		if c.code != "" {
			require.Equal(t, c.code, got.errCode(t), c.op)
		}
		seen[c.op+" "+strconv.Itoa(c.status)] = true
	}
	require.Nil(t, raceErr.Load())

	var missed []string
	for _, op := range apiDoc.Operations() {
		for _, status := range op.Statuses {
			if k := op.Method + " " + op.Path + " " + status; !seen[k] {
				missed = append(missed, k)
			}
		}
	}
	require.Empty(t, missed, "declared in docs/openapi.yaml but never exercised")
	for k := range seen {
		require.True(t, declared(k), "exercised but not declared: %s", k)
	}
}

// declared reports whether "METHOD /path status" is in the document.
func declared(k string) bool {
	for _, op := range apiDoc.Operations() {
		for _, status := range op.Statuses {
			if op.Method+" "+op.Path+" "+status == k {
				return true
			}
		}
	}
	return false
}

// TestOpenAPI_routerAnswers sends, to every documented path, OPTIONS, HEAD
// and a method no path has: the checks of newEnv's server hold them to
// the document's router answers, so an Allow header that names a method
// the document lacks, or misses one it has, fails here. A path no route
// has is a 404 with the error body.
func TestOpenAPI_routerAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	paths := map[string]bool{}
	for _, op := range apiDoc.Operations() {
		require.NotEqual(t, "PUT", op.Method, "PUT stands for a method no path has")
		paths[param.ReplaceAllString(op.Path, "x_1")] = true
	}
	for path := range paths {
		for method, status := range map[string]int{"OPTIONS": 204, "HEAD": 405, "PUT": 405} {
			r := e.do(req{method: method, path: path})
			require.Equal(t, status, r.status, "%s %s", method, path)
		}
	}
	r := e.do(req{method: "GET", path: "/v1/subscription"})
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "not_found", r.errCode(t))
}

// TestOpenAPI_disabledWebhook checks a subscription whose webhook is
// disabled against the document: the other tests only see
// webhook_disabled null.
func TestOpenAPI_disabledWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.key("acme")
	const url = "https://hooks.example/gone"
	id := e.create(key, `{"kinds":["trx_transfer"],"webhook":{"url":"`+url+`"}}`)
	_, err := e.db.Collection(store.Subscriptions).UpdateOne(t.Context(), bson.M{"_id": id}, bson.M{"$set": bson.M{
		"webhook_disabled": subscription.WebhookDisabled{URL: url, At: time.Now().UTC(), Reason: "the receiver answered 410 Gone",
			StatusCode: http.StatusGone, DeliveryID: "dlv_x"},
	}})
	require.NoError(t, err)
	for _, path := range []string{"/v1/subscriptions/" + id, "/v1/subscriptions"} {
		r := e.do(req{method: "GET", path: path, key: key})
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		require.Contains(t, string(r.body), `"webhook_disabled":{"url":"`+url+`"`)
	}
}

// storeEvents stores n events of subID as the ingest does, and returns
// their cursors.
func storeEvents(tb testing.TB, e *env, subID string, n int) []string {
	tb.Helper()
	cursors := make([]string, n)
	docs := make([]store.EventDoc, n)
	prev := ""
	for i := range docs {
		c := cursor.Cursor{Step: uint64(1000 + i)}.String()
		tx := fmt.Sprintf("%064x", 0xabc0+i)
		js := fmt.Sprintf(`{"type":"event","cursor":%q,"prev_cursor":%q,"id":"%s:0","subscription_id":%q,"kind":"trc20_transfer","network":"mainnet",`+
			`"block":{"number":%d,"id":"%064x","timestamp":"2025-01-02T03:04:05Z"},"tx_id":%q,"tx_index":3,"index":0,"success":true,`+
			`"confirmations":19,"removed":false,"watched":%q,"direction":"in","from":%q,"to":%q,"contract":%q,`+
			`"token":{"symbol":"USDT","name":"Tether USD","decimals":6,"verified":true},"amount":"1500000","amount_decimal":"1.5",`+
			`"flags":["lookalike"],"solidified":true,"data":{"log_index":0}}`,
			c, prev, tx, subID, 1000+i, 1000+i, tx, addrA, addrB, addrA, usdt)
		cursors[i], prev = c, c
		docs[i] = store.EventDoc{
			ID: store.EventDocID(subID, c), SubscriptionID: subID, Cursor: c, EventID: tx + ":0", Kind: "trc20_transfer",
			TxID: tx, Block: int64(1000 + i), BlockID: fmt.Sprintf("%064x", 1000+i), Addresses: []string{addrB, addrA},
			CreatedAt: time.Now().UTC(), JSON: []byte(js),
		}
	}
	require.NoError(tb, store.AppendEvents(tb.Context(), e.db, docs...))
	return cursors
}

// storeOn puts the API and its key checks on the database of mc.
func storeOn(tb testing.TB, mc *mongo.Client) func(*api.Config) {
	tb.Helper()
	return func(c *api.Config) {
		c.DB = mc.Database(c.DB.Name())
		au, err := auth.New(auth.Config{DB: c.DB, NATS: c.NATS, AdminKey: adminKey})
		require.NoError(tb, err)
		c.Auth = au
	}
}

// disconnectedClient returns a client that was disconnected: every
// operation fails with an error that is no outage.
func disconnectedClient(tb testing.TB) *mongo.Client {
	tb.Helper()
	mc, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	require.NoError(tb, err)
	require.NoError(tb, mc.Disconnect(tb.Context()))
	return mc
}

// unreachableClient returns a client of a server nobody runs (port 1 on
// loopback refuses), which gives up selecting one after 200 ms.
func unreachableClient(tb testing.TB) *mongo.Client {
	tb.Helper()
	mc, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1/?directConnection=true").
		SetServerSelectionTimeout(200 * time.Millisecond).SetConnectTimeout(200 * time.Millisecond))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	return mc
}

// racer makes a PATCH race another change deterministically: armed with
// a change, it makes that change right after the PATCH has read the
// subscription and before it writes it back.
type racer struct {
	next atomic.Pointer[func()]
}

func (r *racer) arm(change func()) { r.next.Store(&change) }

// store puts the API on a client whose command monitor runs the armed
// change once the next read of a subscription has been answered.
func (r *racer) store(tb testing.TB) func(*api.Config) {
	tb.Helper()
	return func(c *api.Config) {
		var reads sync.Map // request ids of armed subscription reads
		mon := &event.CommandMonitor{
			Started: func(_ context.Context, ev *event.CommandStartedEvent) {
				if ev.CommandName != "find" || r.next.Load() == nil {
					return
				}
				if coll, ok := ev.Command.Lookup("find").StringValueOK(); ok && coll == store.Subscriptions {
					reads.Store(ev.RequestID, true)
				}
			},
			Succeeded: func(_ context.Context, ev *event.CommandSucceededEvent) {
				if _, ok := reads.LoadAndDelete(ev.RequestID); !ok {
					return
				}
				if f := r.next.Swap(nil); f != nil {
					(*f)()
				}
			},
		}
		mc, err := mongo.Connect(options.Client().ApplyURI(mongoURI).SetMonitor(mon))
		require.NoError(tb, err)
		tb.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
		c.DB = mc.Database(c.DB.Name())
	}
}
