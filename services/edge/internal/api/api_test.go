package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/edge/internal/api"
	"github.com/mongotron/mongotron/services/edge/internal/auth"
)

// snapshot is everything a request could change, to check that a refused
// one changed nothing.
func (e *env) snapshot() string {
	e.t.Helper()
	var b strings.Builder
	for _, coll := range []string{store.Subscriptions, store.SubscriptionAddresses, store.Keys} {
		var docs []bson.M
		require.NoError(e.t, testenv.FindAll(e.t.Context(), e.db.Collection(coll), bson.M{}, &docs, options.Find().SetSort(bson.M{"_id": 1})))
		for _, d := range docs {
			// fmt prints a plain map with its keys sorted.
			fmt.Fprintf(&b, "%s: %v\n", coll, map[string]any(d))
		}
	}
	e.mu.Lock()
	fmt.Fprintf(&b, "changes: %d keys: %d\n", len(e.changes), len(e.keys))
	e.mu.Unlock()
	return b.String()
}

func TestAPI_errors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.key("acme")
	_, otherKey := e.key("other")
	revokedID, revokedKey := e.key("acme")
	r := e.do(req{method: "DELETE", path: "/v1/keys/" + revokedID, key: adminKey})
	require.Equal(t, http.StatusNoContent, r.status)
	id := e.create(key, `{"addresses":["`+addrA+`"]}`)
	otherID := e.create(otherKey, `{"kinds":["trx_transfer"]}`)
	usdtID := e.create(key, `{"addresses":["`+addrA+`"],"contracts":["TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"]}`)
	sub := "/v1/subscriptions/" + id
	e.waitChanges(id, 1)
	e.waitChanges(otherID, 1)

	tooMany := mustJSON(t, map[string]any{"addresses": randomAddresses(subscription.MaxAddressesPerCall + 1)})
	huge := `{"label":"` + strings.Repeat("x", api.DefaultMaxBodyBytes) + `"}`

	tests := []struct {
		name     string
		r        req
		status   int
		code     string
		contains string
	}{
		{"bad JSON", req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"addresses":`}, 400, "invalid_json", ""},
		{"not an object", req{method: "POST", path: "/v1/subscriptions", key: key, body: `[1]`}, 400, "invalid_json", ""},
		{"trailing data", req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"all":true} {}`}, 400, "invalid_json", ""},
		{"wrong type", req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"all":true,"confirmations":"19"}`}, 400, "invalid_json", "confirmations"},
		{"empty body", req{method: "POST", path: "/v1/subscriptions", key: key, contentType: "application/json"}, 400, "invalid_json", ""},
		{"unknown field", req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"all":true,"adresses":[]}`}, 400, "unknown_field", "adresses"},
		{"unknown nested field", req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"all":true,"webhook":{"url":"https://h/x","sekret":"s"}}`}, 400, "unknown_field", "sekret"},
		{"bad checksum", req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"addresses":["` + addrA + `","` + addrBad + `"]}`}, 422, "invalid_address", "addresses[1]"},
		{"bad kind", req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"kinds":["nft_mint"]}`}, 422, "invalid_kind", "nft_mint"},
		{"bad amount", req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"all":true,"min_amount":"1e6"}`}, 422, "invalid_amount", "min_amount"},
		{"min above max", req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"all":true,"min_amount":"10","max_amount":"9"}`}, 422, "invalid_range", ""},
		{"confirmations 20", req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"all":true,"confirmations":20}`}, 422, "invalid_confirmations", ""},
		{"empty filter", req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"label":"everything"}`}, 422, "empty_filter", "would match the whole chain"},
		{"webhook with credentials", req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"all":true,"webhook":{"url":"https://u:p@h/x"}}`}, 422, "invalid_webhook", ""},
		{"too many addresses", req{method: "POST", path: sub + "/addresses", key: key, body: tooMany}, 422, "too_many_addresses", ""},
		{"too many addresses at create", req{method: "POST", path: "/v1/subscriptions", key: key, body: tooMany}, 422, "too_many_addresses", ""},
		{"no addresses", req{method: "POST", path: sub + "/addresses", key: key, body: `{"addresses":[]}`}, 422, "invalid_address", ""},
		{"bad bulk address", req{method: "DELETE", path: sub + "/addresses", key: key, body: `{"addresses":["` + addrBad + `"]}`}, 422, "invalid_address", "checksum"},
		{"removal widens filter", req{method: "DELETE", path: "/v1/subscriptions/" + usdtID + "/addresses", key: key, body: `{"addresses":["` + addrA + `"]}`}, 422, "last_address", "keep at least one address"},
		{"removal empties filter", req{method: "DELETE", path: sub + "/addresses", key: key, body: `{"addresses":["` + addrA + `"]}`}, 422, "empty_filter", ""},
		{"too large body", req{method: "POST", path: "/v1/subscriptions", key: key, body: huge}, 413, "body_too_large", ""},
		{"form body", req{method: "POST", path: "/v1/subscriptions", key: key, body: `all=true`, contentType: "application/x-www-form-urlencoded"}, 400, "invalid_json", ""},
		{"patch bad confirmations", req{method: "PATCH", path: sub, key: key, body: `{"label":"x","confirmations":20}`}, 422, "invalid_confirmations", ""},
		{"bad finality", req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"all":true,"finality":"final"}`}, 422, "invalid_finality", ""},
		{"bad exclude flag", req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"all":true,"exclude_flags":["zero_amount","spam"]}`}, 422, "invalid_flag", ""},
		{"patch bad finality", req{method: "PATCH", path: sub, key: key, body: `{"finality":19}`}, 400, "invalid_json", ""},
		{"patch addresses", req{method: "PATCH", path: sub, key: key, body: `{"addresses":[]}`}, 422, "not_patchable", ""},
		{"patch empties filter", req{method: "PATCH", path: "/v1/subscriptions/" + otherID, key: otherKey, body: `{"kinds":[]}`}, 422, "empty_filter", ""},
		{"missing key", req{method: "GET", path: "/v1/subscriptions"}, 401, "missing_api_key", ""},
		{"wrong key", req{method: "GET", path: "/v1/subscriptions", key: "mt_nope"}, 401, "invalid_api_key", ""},
		{"revoked key", req{method: "GET", path: "/v1/subscriptions", key: revokedKey}, 401, "invalid_api_key", ""},
		{"token query only on streams", req{method: "GET", path: "/v1/subscriptions?token=" + key}, 401, "missing_api_key", ""},
		{"admin key on tenant route", req{method: "GET", path: "/v1/subscriptions", key: adminKey}, 403, "tenant_key_required", ""},
		{"tenant key on admin route", req{method: "POST", path: "/v1/keys", key: key, body: `{"tenant":"evil"}`}, 403, "admin_key_required", ""},
		{"bad tenant", req{method: "POST", path: "/v1/keys", key: adminKey, body: `{"tenant":"Not A Tenant"}`}, 422, "invalid_tenant", ""},
		{"revoke unknown key", req{method: "DELETE", path: "/v1/keys/key_nope", key: adminKey}, 404, "not_found", ""},
		{"other tenant get", req{method: "GET", path: "/v1/subscriptions/" + otherID, key: key}, 404, "not_found", ""},
		{"other tenant patch", req{method: "PATCH", path: "/v1/subscriptions/" + otherID, key: key, body: `{"label":"mine"}`}, 404, "not_found", ""},
		{"other tenant delete", req{method: "DELETE", path: "/v1/subscriptions/" + otherID, key: key}, 404, "not_found", ""},
		{"other tenant addresses", req{method: "POST", path: "/v1/subscriptions/" + otherID + "/addresses", key: key, body: `{"addresses":["` + addrB + `"]}`}, 404, "not_found", ""},
		{"other tenant address list", req{method: "GET", path: "/v1/subscriptions/" + otherID + "/addresses", key: key}, 404, "not_found", ""},
		{"other tenant events", req{method: "GET", path: "/v1/subscriptions/" + otherID + "/events", key: key}, 404, "not_found", ""},
		{"other tenant stream", req{method: "GET", path: "/v1/subscriptions/" + otherID + "/stream", key: key}, 404, "not_found", ""},
		{"unknown subscription", req{method: "GET", path: "/v1/subscriptions/sub_nope", key: key}, 404, "not_found", ""},
		{"stream bad after", req{method: "GET", path: sub + "/stream?after=zz", key: key}, 400, "invalid_cursor", ""},
		{"stream without hub", req{method: "GET", path: sub + "/stream?token=" + key}, 503, "stream_unavailable", ""},
		{"bad limit", req{method: "GET", path: "/v1/subscriptions?limit=1001", key: key}, 400, "invalid_limit", "1000"},
		{"bad list cursor", req{method: "GET", path: "/v1/subscriptions?cursor=x", key: key}, 400, "invalid_cursor", ""},
		{"bad events after", req{method: "GET", path: sub + "/events?after=123", key: key}, 400, "invalid_cursor", ""},
		{"bad events kind", req{method: "GET", path: sub + "/events?kind=x", key: key}, 400, "invalid_kind", ""},
		{"bad events address", req{method: "GET", path: sub + "/events?address=" + addrBad, key: key}, 400, "invalid_address", "checksum"},
		{"bad events tx_id", req{method: "GET", path: sub + "/events?tx_id=abc", key: key}, 400, "invalid_tx_id", ""},
		{"no route", req{method: "GET", path: "/v2/nothing", key: key}, 404, "not_found", ""},
		{"method not allowed", req{method: "PUT", path: "/v1/keys", key: adminKey}, 405, "method_not_allowed", ""},
	}
	before := e.snapshot()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.r)
			require.Equal(t, tc.status, r.status, string(r.body))
			require.Equal(t, tc.code, r.errCode(t))
			require.Contains(t, r.header.Get("Content-Type"), "application/json")
			require.Contains(t, string(r.body), tc.contains)
			if tc.status == http.StatusUnauthorized {
				require.NotEmpty(t, r.header.Get("WWW-Authenticate"))
			}
		})
	}
	require.Equal(t, before, e.snapshot(), "a refused request changed something")
}

func TestAPI_bodyIsJSONWhateverItsContentType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.key("acme")
	for _, ct := range []string{
		"-", // none
		"application/json; charset=utf-8",
		"text/plain;charset=UTF-8",          // fetch with a string body
		"application/x-www-form-urlencoded", // curl -d
		"application/merge-patch+json",
	} {
		t.Run(ct, func(t *testing.T) {
			r := e.do(req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"all":true,"label":"` + ct + `"}`, contentType: ct})
			require.Equal(t, http.StatusCreated, r.status, string(r.body))
			require.Contains(t, string(r.body), `"label":"`+ct+`"`)
		})
	}
}

func TestAPI_webhookSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.key("acme")
	stored := func(id string) string {
		var s subscription.Subscription
		require.NoError(t, e.db.Collection(store.Subscriptions).FindOne(t.Context(), bson.M{"_id": id}).Decode(&s))
		require.NotNil(t, s.Webhook)
		return s.Webhook.Secret
	}
	secretOf := func(r response) any { return r.json(t)["webhook"].(map[string]any)["secret"] }

	// Created without a secret: one is generated and shown this once.
	r := e.do(req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"all":true,"webhook":{"url":"https://hooks.example/a"}}`})
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	id := r.json(t)["id"].(string)
	gen, _ := secretOf(r).(string)
	require.Regexp(t, `^whsec_[0-9a-f]{48}$`, gen)
	require.Equal(t, gen, stored(id))
	r = e.do(req{method: "GET", path: "/v1/subscriptions/" + id, key: key})
	require.Nil(t, secretOf(r), "never shown again")

	// A new URL without a secret keeps the secret receivers verify with.
	r = e.do(req{method: "PATCH", path: "/v1/subscriptions/" + id, key: key, body: `{"webhook":{"url":"https://hooks.example/b"}}`})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Nil(t, secretOf(r))
	require.Equal(t, gen, stored(id))

	// A secret the client chose is stored and never echoed.
	r = e.do(req{method: "PATCH", path: "/v1/subscriptions/" + id, key: key, body: `{"webhook":{"url":"https://hooks.example/b","secret":"mine"}}`})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Nil(t, secretOf(r))
	require.Equal(t, "mine", stored(id))

	// Removed, then set again without a secret: a fresh one.
	r = e.do(req{method: "PATCH", path: "/v1/subscriptions/" + id, key: key, body: `{"webhook":null}`})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r = e.do(req{method: "PATCH", path: "/v1/subscriptions/" + id, key: key, body: `{"webhook":{"url":"https://hooks.example/c"}}`})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	again, _ := secretOf(r).(string)
	require.Regexp(t, `^whsec_[0-9a-f]{48}$`, again)
	require.NotEqual(t, gen, again)
	require.Equal(t, again, stored(id))
}

func TestAPI_rateLimit(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	e := newEnv(t, func(c *api.Config) {
		c.RateLimit = auth.RateLimitConfig{Rate: 0.5, Burst: 2, Now: func() time.Time { return now }}
	})
	_, key := e.key("acme")
	_, other := e.key("beta")
	for range 2 {
		require.Equal(t, http.StatusOK, e.do(req{method: "GET", path: "/v1/subscriptions", key: key}).status)
	}
	r := e.do(req{method: "GET", path: "/v1/subscriptions", key: key})
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "rate_limited", r.errCode(t))
	require.Equal(t, "2", r.header.Get("Retry-After"))
	// Another key has its own bucket.
	require.Equal(t, http.StatusOK, e.do(req{method: "GET", path: "/v1/subscriptions", key: other}).status)
}

// A reconnect storm must not lock a tenant out of REST, nor REST calls
// keep its streams out: stream connects have a bucket of their own.
func TestAPI_streamConnectsHaveTheirOwnRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	e := newEnv(t, func(c *api.Config) {
		c.RateLimit = auth.RateLimitConfig{Rate: 0.5, Burst: 2, Now: clock}
		c.StreamRateLimit = auth.RateLimitConfig{Rate: 0.5, Burst: 3, Now: clock}
	})
	_, key := e.key("acme")
	r := e.do(req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"addresses": ["` + addrA + `"]}`})
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	stream := "/v1/subscriptions/" + r.json(t)["id"].(string) + "/stream?token=" + key
	require.Equal(t, http.StatusOK, e.do(req{method: "GET", path: "/v1/subscriptions", key: key}).status)
	r = e.do(req{method: "GET", path: "/v1/subscriptions", key: key})
	require.Equal(t, http.StatusTooManyRequests, r.status, "the create and a list were the REST burst of 2")

	for i := range 3 {
		r := e.do(req{method: "GET", path: stream})
		require.Equal(t, http.StatusServiceUnavailable, r.status, "connect %d passes the stream limit (this API has no hub)", i)
	}
	r = e.do(req{method: "GET", path: stream})
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "rate_limited", r.errCode(t))
	require.Contains(t, string(r.body), "stream connects")
	require.Equal(t, "2", r.header.Get("Retry-After"))

	now = now.Add(2 * time.Second)
	require.Equal(t, http.StatusOK, e.do(req{method: "GET", path: "/v1/subscriptions", key: key}).status, "streams took nothing from REST")
}

// A stream connect finds its subscription in the edge's memory after the
// first: a reconnect storm costs no MongoDB round trip per client. Deletes
// reach the cache from this edge at once and from others over NATS; a
// resync (after a NATS reconnect) reads MongoDB again.
func TestAPI_streamConnectsUseTheSubscriptionCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.key("acme")
	_, other := e.key("beta")
	create := func() string {
		r := e.do(req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"addresses": ["` + addrA + `"]}`})
		require.Equal(t, http.StatusCreated, r.status, string(r.body))
		return r.json(t)["id"].(string)
	}
	connect := func(id, key string) int {
		return e.do(req{method: "GET", path: "/v1/subscriptions/" + id + "/stream?token=" + key}).status
	}
	// This API has no hub: a connect that passed every check is a 503.
	const found, notFound = http.StatusServiceUnavailable, http.StatusNotFound

	id := create()
	require.Equal(t, found, connect(id, key), "the first connect reads MongoDB")
	_, err := e.db.Collection(store.Subscriptions).DeleteOne(t.Context(), bson.M{"_id": id})
	require.NoError(t, err)
	require.Equal(t, found, connect(id, key), "later connects do not read MongoDB")
	require.Equal(t, notFound, connect(id, other), "the cache knows whose it is")
	e.api.Resync()
	require.Equal(t, notFound, connect(id, key), "after a resync MongoDB is read again")

	byThisEdge := create()
	require.Equal(t, found, connect(byThisEdge, key))
	require.Equal(t, http.StatusNoContent, e.do(req{method: "DELETE", path: "/v1/subscriptions/" + byThisEdge, key: key}).status)
	require.Equal(t, notFound, connect(byThisEdge, key), "a delete on this edge is known at once")

	byOtherEdge := create()
	require.Equal(t, found, connect(byOtherEdge, key))
	require.NoError(t, bus.PublishSubscriptionChange(t.Context(), e.nc, bus.SubscriptionChange{Op: bus.OpDelete, SubscriptionID: byOtherEdge, Tenant: "acme", Version: 9}))
	testenv.WaitFor(t, 5*time.Second, func() bool { return connect(byOtherEdge, key) == notFound }, "a delete announced on NATS reaches the cache")
}

func TestAPI_subscriptionLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.key("acme")

	r := e.do(req{method: "POST", path: "/v1/subscriptions", key: key, body: `{
		"label": "hot wallet", "addresses": ["` + addrAHex + `", "` + addrB + `", "` + addrA + `"],
		"kinds": ["trc20_transfer", "trx_transfer"], "min_amount": "1000000",
		"webhook": {"url": "https://hooks.example/x", "secret": "s3cret"}, "metadata": {"team": {"name": "ops"}}}`})
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	got := r.json(t)
	id := got["id"].(string)
	require.True(t, strings.HasPrefix(id, "sub_"))
	require.Equal(t, "/v1/subscriptions/"+id, r.header.Get("Location"))
	require.Equal(t, "active", got["status"])
	require.Equal(t, "hot wallet", got["label"])
	require.ElementsMatch(t, []any{addrA, addrB}, got["addresses"])
	require.EqualValues(t, 2, got["address_count"])
	require.Equal(t, "any", got["direction"])
	require.Equal(t, true, got["only_success"])
	require.EqualValues(t, 19, got["confirmations"])
	require.Equal(t, "1000000", got["min_amount"])
	require.Nil(t, got["max_amount"])
	require.Equal(t, map[string]any{"url": "https://hooks.example/x"}, got["webhook"], "the secret is write-only")
	require.Equal(t, map[string]any{"team": map[string]any{"name": "ops"}}, got["metadata"])
	require.NotContains(t, got, "backfill")
	require.NotEmpty(t, got["created_at"])
	require.Equal(t, "confirmations", got["finality"])
	require.Equal(t, []any{}, got["exclude_flags"])
	require.Equal(t, false, got["only_verified"])

	// GET returns what create returned.
	r = e.do(req{method: "GET", path: "/v1/subscriptions/" + id, key: key})
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, got, r.json(t))

	// PATCH changes what it names and keeps the rest.
	r = e.do(req{method: "PATCH", path: "/v1/subscriptions/" + id, key: key, body: `{"label":"renamed","min_amount":null,"confirmations":0}`})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	patched := r.json(t)
	require.Equal(t, "renamed", patched["label"])
	require.Nil(t, patched["min_amount"])
	require.EqualValues(t, 0, patched["confirmations"])
	require.Equal(t, got["kinds"], patched["kinds"])
	require.Equal(t, got["created_at"], patched["created_at"])

	// Finality and the trap filters change like any other filter.
	r = e.do(req{method: "PATCH", path: "/v1/subscriptions/" + id, key: key, body: `{"finality":"solidified","exclude_flags":["lookalike","zero_amount","lookalike"],"only_verified":true}`})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	patched = r.json(t)
	require.Equal(t, "solidified", patched["finality"])
	require.Equal(t, []any{"lookalike", "zero_amount"}, patched["exclude_flags"])
	require.Equal(t, true, patched["only_verified"])
	r = e.do(req{method: "GET", path: "/v1/subscriptions/" + id, key: key})
	require.Equal(t, patched, r.json(t), "the change is stored, not only answered")

	// Bulk add and remove.
	r = e.do(req{method: "POST", path: "/v1/subscriptions/" + id + "/addresses", key: key, body: `{"addresses":["` + addrC + `","` + addrA + `"]}`})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.EqualValues(t, 1, r.json(t)["added"])
	require.EqualValues(t, 3, r.json(t)["address_count"])
	r = e.do(req{method: "DELETE", path: "/v1/subscriptions/" + id + "/addresses", key: key, body: `{"addresses":["` + addrB + `"]}`})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.EqualValues(t, 1, r.json(t)["removed"])
	require.EqualValues(t, 2, r.json(t)["address_count"])

	r = e.do(req{method: "GET", path: "/v1/subscriptions/" + id, key: key})
	require.ElementsMatch(t, []any{addrA, addrC}, r.json(t)["addresses"])

	// DELETE: 204, then 404 for everything, a second DELETE included.
	require.Equal(t, http.StatusNoContent, e.do(req{method: "DELETE", path: "/v1/subscriptions/" + id, key: key}).status)
	for _, rq := range []req{
		{method: "DELETE", path: "/v1/subscriptions/" + id, key: key},
		{method: "GET", path: "/v1/subscriptions/" + id, key: key},
		{method: "GET", path: "/v1/subscriptions/" + id + "/events", key: key},
	} {
		r := e.do(rq)
		require.Equal(t, http.StatusNotFound, r.status)
		require.Equal(t, "not_found", r.errCode(t))
	}
	var tomb subscription.Subscription
	require.NoError(t, e.db.Collection(store.Subscriptions).FindOne(t.Context(), bson.M{"_id": id}).Decode(&tomb))
	require.Equal(t, subscription.StatusDeleted, tomb.Status)
	// Its address set goes after the answer.
	testenv.WaitFor(t, 10*time.Second, func() bool {
		n, err := e.db.Collection(store.SubscriptionAddresses).CountDocuments(t.Context(), bson.M{"subscription_id": id})
		return err == nil && n == 0
	}, "the deleted subscription's address set dropped")

	// One control message per change, versions increasing by one.
	changes := e.waitChanges(id, 6)
	require.Len(t, changes, 6)
	wantOps := []string{bus.OpUpsert, bus.OpUpsert, bus.OpUpsert, bus.OpAddresses, bus.OpAddresses, bus.OpDelete}
	for i, ch := range changes {
		require.Equal(t, wantOps[i], ch.Op, "message %d", i)
		require.EqualValues(t, i+1, ch.Version, "message %d", i)
		require.Equal(t, "acme", ch.Tenant)
	}
	require.Equal(t, []string{addrC}, changes[3].Added)
	require.Equal(t, []string{addrB}, changes[4].Removed)
	require.Equal(t, tomb.Version, changes[5].Version)
}

func TestAPI_createBackfill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.key("acme")
	_, err := e.db.Collection(store.Checkpoints).InsertOne(t.Context(), store.Checkpoint{ID: "ingest", Block: 1000})
	require.NoError(t, err)

	r := e.do(req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"kinds":["trx_transfer"],"start_block":900}`})
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	got := r.json(t)
	require.Equal(t, "backfilling", got["status"])
	require.Equal(t, map[string]any{"from": 900.0, "to": 0.0, "done": false}, got["backfill"])
	require.EqualValues(t, 900, got["start_block"])

	r = e.do(req{method: "POST", path: "/v1/subscriptions", key: key, body: `{"kinds":["trx_transfer"],"start_block":2000}`})
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	require.Equal(t, "active", r.json(t)["status"])
	require.NotContains(t, r.json(t), "backfill")
}

func TestAPI_listSubscriptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.key("acme")
	_, other := e.key("other")
	e.create(other, `{"all":true}`)
	var want []string
	for i := range 5 {
		want = append(want, e.create(key, fmt.Sprintf(`{"label":"s%d","addresses":["%s"]}`, i, addrA)))
	}
	deleted := want[2]
	require.Equal(t, http.StatusNoContent, e.do(req{method: "DELETE", path: "/v1/subscriptions/" + deleted, key: key}).status)
	want = append(want[:2], want[3:]...)

	var got []string
	path := "/v1/subscriptions?limit=2"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		r := e.do(req{method: "GET", path: path, key: key})
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		m := r.json(t)
		for _, s := range m["subscriptions"].([]any) {
			sm := s.(map[string]any)
			require.NotContains(t, sm, "addresses", "lists leave address sets out")
			require.EqualValues(t, 1, sm["address_count"])
			got = append(got, sm["id"].(string))
		}
		if m["next"] == nil {
			break
		}
		path = "/v1/subscriptions?limit=2&cursor=" + m["next"].(string)
	}
	require.ElementsMatch(t, want, got)
	require.IsIncreasing(t, got)

	r := e.do(req{method: "GET", path: "/v1/subscriptions", key: key})
	require.Len(t, r.json(t)["subscriptions"], 4)
	require.Nil(t, r.json(t)["next"])
}

func TestAPI_listAddresses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.key("acme")
	id := e.create(key, `{"kinds":["trx_transfer"]}`)
	addrs := randomAddresses(7)
	r := e.do(req{method: "POST", path: "/v1/subscriptions/" + id + "/addresses", key: key, body: mustJSON(t, map[string]any{"addresses": addrs})})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.EqualValues(t, 7, r.json(t)["added"])

	var got []any
	path := "/v1/subscriptions/" + id + "/addresses?limit=3"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 4)
		r := e.do(req{method: "GET", path: path, key: key})
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		m := r.json(t)
		got = append(got, m["addresses"].([]any)...)
		if m["next"] == nil {
			break
		}
		path = "/v1/subscriptions/" + id + "/addresses?limit=3&cursor=" + m["next"].(string)
	}
	require.Len(t, got, 7)
	want := make([]any, len(addrs))
	for i, a := range addrs {
		want[i] = a
	}
	require.ElementsMatch(t, want, got)
}

func TestAPI_events(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.key("acme")
	id := e.create(key, `{"addresses":["`+addrA+`"]}`)
	otherSub := e.create(key, `{"addresses":["`+addrA+`"]}`)

	kinds := []string{"trx_transfer", "trc20_transfer"}
	var docs []store.EventDoc
	var want []string
	for i := range 10 {
		c := cursor.Cursor{Step: uint64(100 + i/3), Pos: uint64(i % 3)}.String()
		tx := fmt.Sprintf("%064x", i/2)
		kind := kinds[i%2]
		from := addrB
		if i%3 == 0 {
			from = addrC
		}
		js := fmt.Sprintf(`{"type":"event","cursor":"%s","id":"%s:%d","subscription_id":"%s","kind":"%s","network":"mainnet",`+
			`"block":{"number":%d,"id":"%064x","timestamp":"2025-01-02T03:04:05Z"},"tx_id":"%s","tx_index":0,"index":%d,"success":true,`+
			`"confirmations":19,"removed":false,"watched":"%s","direction":"in","from":"%s","to":"%s","amount":"%d","flags":[],"solidified":true}`,
			c, tx, i, id, kind, 100+i/3, 100+i/3, tx, i, addrA, from, addrA, i)
		want = append(want, js)
		docs = append(docs, store.EventDoc{
			ID: store.EventDocID(id, c), SubscriptionID: id, Cursor: c, EventID: fmt.Sprintf("%s:%d", tx, i),
			Kind: kind, TxID: tx, Block: int64(100 + i/3), Addresses: []string{from, addrA}, CreatedAt: time.Now(), JSON: []byte(js),
		})
	}
	// Another subscription's event must not leak in.
	oc := cursor.Cursor{Step: 1}.String()
	docs = append(docs, store.EventDoc{ID: store.EventDocID(otherSub, oc), SubscriptionID: otherSub, Cursor: oc, Kind: "trx_transfer", JSON: []byte(`{"x":1}`)})
	// Insert in reverse so that order comes from the cursor, not insertion.
	for i, j := 0, len(docs)-1; i < j; i, j = i+1, j-1 {
		docs[i], docs[j] = docs[j], docs[i]
	}
	require.NoError(t, store.AppendEvents(t.Context(), e.db, docs...))

	page := func(query string) (events []string, next string) {
		t.Helper()
		r := e.do(req{method: "GET", path: "/v1/subscriptions/" + id + "/events" + query, key: key})
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		body := string(r.body)
		require.True(t, strings.HasPrefix(body, `{"events":[`), body)
		m := r.json(t)
		for _, ev := range m["events"].([]any) {
			events = append(events, mustJSON(t, ev))
		}
		if m["next"] != nil {
			next = m["next"].(string)
		}
		return events, next
	}

	// All pages, limit 4: 4 + 4 + 2, in cursor order.
	var got []string
	q := "?limit=4"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 4)
		evs, next := page(q)
		got = append(got, evs...)
		if next == "" {
			break
		}
		q = "?limit=4&after=" + next
	}
	require.Len(t, got, 10)
	for i := range want {
		require.JSONEq(t, want[i], got[i])
	}
	r := e.do(req{method: "GET", path: "/v1/subscriptions/" + id + "/events?limit=1", key: key})
	require.Equal(t, `{"events":[`+want[0]+`],"next":"`+cursor.Cursor{Step: 100}.String()+`"}`+"\n", string(r.body))

	tests := []struct {
		name  string
		query string
		want  []int
	}{
		{"kind", "?kind=trc20_transfer", []int{1, 3, 5, 7, 9}},
		{"kinds", "?kind=trc20_transfer,trx_transfer&limit=100", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"address", "?address=" + addrC, []int{0, 3, 6, 9}},
		{"hex address and kind", "?address=" + "41ef51c82ea6336ba1544c4a182a7368e9fbe28274" + "&kind=trx_transfer", []int{0, 6}},
		{"tx_id", "?tx_id=" + fmt.Sprintf("%064x", 2), []int{4, 5}},
		{"after", "?after=" + cursor.Cursor{Step: 102, Pos: 0}.String(), []int{7, 8, 9}},
		{"nothing", "?address=" + addrB + "&tx_id=" + fmt.Sprintf("%064x", 0), []int{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, next := page(tc.query)
			require.Empty(t, next)
			require.Len(t, evs, len(tc.want))
			for i, w := range tc.want {
				require.JSONEq(t, want[w], evs[i])
			}
		})
	}
}

func TestAPI_keys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, key := e.key("acme")
	require.True(t, strings.HasPrefix(id, auth.KeyIDPrefix))
	require.True(t, strings.HasPrefix(key, auth.KeyPrefix))
	require.Equal(t, http.StatusOK, e.do(req{method: "GET", path: "/v1/subscriptions", key: key}).status)

	// Only the hash is stored.
	var doc store.KeyDoc
	require.NoError(t, e.db.Collection(store.Keys).FindOne(t.Context(), bson.M{"_id": id}).Decode(&doc))
	require.Equal(t, auth.Hash(key), doc.Hash)
	require.Equal(t, "acme", doc.Tenant)

	require.Equal(t, http.StatusNoContent, e.do(req{method: "DELETE", path: "/v1/keys/" + id, key: adminKey}).status)
	// At once, though the key was just cached.
	r := e.do(req{method: "GET", path: "/v1/subscriptions", key: key})
	require.Equal(t, http.StatusUnauthorized, r.status)
	r = e.do(req{method: "DELETE", path: "/v1/keys/" + id, key: adminKey})
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "not_found", r.errCode(t))

	require.Eventually(t, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return len(e.keys) == 1 && e.keys[0] == bus.KeyChange{Op: bus.OpRevoke, KeyID: id, Tenant: "acme"}
	}, 5*time.Second, 5*time.Millisecond)
}

// TestAuthenticator_revokeElsewhere checks that a revocation made by
// another edge reaches this one's cache through NATS.
func TestAuthenticator_revokeElsewhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, key := e.key("acme")
	// A second edge on the same database and NATS, with a long-lived
	// cache entry for the key.
	other, err := auth.New(auth.Config{DB: e.db, NATS: e.nc, Now: func() time.Time { return time.Unix(0, 0) }})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- other.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	p, err := other.Authenticate(t.Context(), key)
	require.NoError(t, err)
	require.Equal(t, auth.Principal{KeyID: id, Tenant: "acme"}, p)

	require.Equal(t, http.StatusNoContent, e.do(req{method: "DELETE", path: "/v1/keys/" + id, key: adminKey}).status)
	require.Eventually(t, func() bool {
		_, err := other.Authenticate(t.Context(), key)
		return err != nil
	}, 5*time.Second, 5*time.Millisecond)
	_, err = other.Authenticate(t.Context(), key)
	require.ErrorIs(t, err, auth.ErrBadKey)
}

func TestAPI_health(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		r := e.do(req{method: "GET", path: path})
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		require.JSONEq(t, `{"status":"ok"}`, string(r.body))
	}
	r := e.do(req{method: "GET", path: "/metrics"})
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), `mongotron_edge_http_requests_total{code="200",method="GET",route="/readyz"} 1`)
}

func TestAPI_streamHandOff(t *testing.T) {
	t.Parallel()
	got := make(chan api.StreamRequest, 1)
	e := newEnv(t, withStream(func(sr api.StreamRequest) { got <- sr }))
	keyID, key := e.key("acme")
	id := e.create(key, `{"all":true}`)
	after := cursor.Cursor{Step: 3, Pos: 1}.String()
	ws, resp, err := websocket.DefaultDialer.DialContext(t.Context(), e.wsURL("/v1/subscriptions/"+id+"/stream?after="+after+"&token="+key), nil)
	require.NoError(t, err)
	defer ws.Close()
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.Equal(t, api.StreamRequest{SubscriptionID: id, Tenant: "acme", KeyID: keyID, After: after}, <-got)
}
