package api_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/services/edge/internal/api"
	"github.com/mongotron/mongotron/services/edge/internal/webhook"
)

// withWebhooks gives the API a deliverer that is not running: the routes
// read and change MongoDB only, which is what they are tested for here
// (delivery itself is tested in package webhook).
func withWebhooks(tb testing.TB) func(*api.Config) {
	tb.Helper()
	return func(c *api.Config) {
		d, err := webhook.New(webhook.Config{
			NATS: c.NATS, DB: c.DB,
			AllowHTTPHosts: []string{"127.0.0.1"},
			AllowPrivate:   []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		})
		require.NoError(tb, err)
		c.Webhooks = d
	}
}

type deliveryList struct {
	Deliveries []webhook.View `json:"deliveries"`
	Next       *string        `json:"next"`
}

func (e *env) deliveries(key, subID, query string) deliveryList {
	e.t.Helper()
	r := e.do(req{method: "GET", path: "/v1/subscriptions/" + subID + "/deliveries" + query, key: key})
	require.Equal(e.t, http.StatusOK, r.status, string(r.body))
	var l deliveryList
	require.NoError(e.t, json.Unmarshal(r.body, &l))
	return l
}

func TestAPI_webhookDeliveries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withWebhooks(t))
	_, key := e.key("acme")
	_, otherKey := e.key("other")
	id := e.create(key, `{"kinds":["trx_transfer"],"webhook":{"url":"http://127.0.0.1:9/hook","secret":"s3cret-s3cret"}}`)
	bare := e.create(key, `{"kinds":["trx_transfer"]}`)
	sub := "/v1/subscriptions/" + id

	// Three stored events, as the ingest writes them.
	cursors := make([]string, 3)
	docs := make([]store.EventDoc, 3)
	for i := range docs {
		cursors[i] = cursor.Cursor{Step: uint64(i + 1)}.String()
		docs[i] = store.EventDoc{
			ID: store.EventDocID(id, cursors[i]), SubscriptionID: id, Cursor: cursors[i], EventID: "tx" + cursors[i] + ":0",
			Kind: "trx_transfer", BlockID: "b", CreatedAt: time.Now().UTC(), JSON: []byte(`{"cursor":"` + cursors[i] + `"}`),
		}
	}
	require.NoError(t, store.AppendEvents(t.Context(), e.db, docs...))

	// Nothing delivered yet: an empty list, not null.
	r := e.do(req{method: "GET", path: sub + "/deliveries", key: key})
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"deliveries":[],"next":null}`, string(r.body))

	// Replay from the start in pages of one call: all three become due.
	r = e.do(req{method: "POST", path: sub + "/webhook/replay", key: key, body: `{}`})
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	require.JSONEq(t, `{"replayed":3,"next":null}`, string(r.body))
	r = e.do(req{method: "POST", path: sub + "/webhook/replay", key: key, body: `{"after":"` + cursors[1] + `"}`})
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	require.JSONEq(t, `{"replayed":1,"next":null}`, string(r.body))

	all := e.deliveries(key, id, "")
	require.Len(t, all.Deliveries, 3)
	for i, d := range all.Deliveries {
		require.Equal(t, webhook.DeliveryID(id, cursors[i]), d.ID)
		require.Equal(t, cursors[i], d.Cursor)
		require.Equal(t, webhook.StatusPending, d.Status)
		require.NotNil(t, d.NextAttemptAt, "a pending delivery says when it is due")
		require.NotNil(t, d.AttemptsLog)
	}
	require.Nil(t, all.Next)

	// Pages of one, in cursor order.
	var paged []string
	q := "?limit=1"
	for {
		p := e.deliveries(key, id, q)
		for _, d := range p.Deliveries {
			paged = append(paged, d.Cursor)
		}
		if p.Next == nil {
			break
		}
		q = "?limit=1&cursor=" + url.QueryEscape(*p.Next)
	}
	require.Equal(t, cursors, paged)

	// A dead letter (as a deliverer records one) is listed by status and
	// made due again by a manual retry.
	deadID := webhook.DeliveryID(id, cursor.Cursor{Step: 9}.String())
	_, err := e.db.Collection(webhook.DeliveriesCollection).InsertOne(t.Context(), &webhook.Delivery{
		ID: deadID, SubscriptionID: id, EventID: "tx9:0", Cursor: cursor.Cursor{Step: 9}.String(), Status: webhook.StatusDead,
		Attempts: 11, RoundAttempts: 11, Log: []webhook.Attempt{{Attempt: 11, StatusCode: 500}}, Body: []byte(`{}`),
	})
	require.NoError(t, err)
	dead := e.deliveries(key, id, "?status=dead")
	require.Len(t, dead.Deliveries, 1)
	require.Equal(t, deadID, dead.Deliveries[0].ID)
	require.Nil(t, dead.Deliveries[0].NextAttemptAt)
	require.Len(t, e.deliveries(key, id, "?status=pending").Deliveries, 3)
	require.Empty(t, e.deliveries(key, id, "?status=succeeded").Deliveries)

	r = e.do(req{method: "POST", path: sub + "/deliveries/" + deadID + "/retry", key: key})
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	var v webhook.View
	require.NoError(t, json.Unmarshal(r.body, &v))
	require.Equal(t, webhook.StatusPending, v.Status)
	require.Equal(t, 11, v.Attempts, "the record of attempts moves with it")
	require.Len(t, v.AttemptsLog, 1)
	require.Empty(t, e.deliveries(key, id, "?status=dead").Deliveries)
	require.Len(t, e.deliveries(key, id, "?status=pending").Deliveries, 4)

	// Refusals change nothing.
	before := e.deliveries(key, id, "")
	tests := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"unknown status", req{method: "GET", path: sub + "/deliveries?status=lost", key: key}, 400, "invalid_status"},
		{"foreign cursor", req{method: "GET", path: sub + "/deliveries?cursor=abc", key: key}, 400, "invalid_cursor"},
		{"bad limit", req{method: "GET", path: sub + "/deliveries?limit=0", key: key}, 400, "invalid_limit"},
		{"another tenant's list", req{method: "GET", path: sub + "/deliveries", key: otherKey}, 404, "not_found"},
		{"unknown delivery", req{method: "POST", path: sub + "/deliveries/dlv_nope/retry", key: key}, 404, "not_found"},
		{"another tenant's retry", req{method: "POST", path: sub + "/deliveries/" + deadID + "/retry", key: otherKey}, 404, "not_found"},
		{"retry without a webhook", req{method: "POST", path: "/v1/subscriptions/" + bare + "/deliveries/x/retry", key: key}, 409, "no_webhook"},
		{"replay without a webhook", req{method: "POST", path: "/v1/subscriptions/" + bare + "/webhook/replay", key: key, body: `{}`}, 409, "no_webhook"},
		{"replay after a non-cursor", req{method: "POST", path: sub + "/webhook/replay", key: key, body: `{"after":"yesterday"}`}, 400, "invalid_cursor"},
		{"replay with a malformed body", req{method: "POST", path: sub + "/webhook/replay", key: key, body: `{"after":`}, 400, "invalid_json"},
		{"no key", req{method: "GET", path: sub + "/deliveries"}, 401, "missing_api_key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.r)
			require.Equal(t, tc.status, r.status, string(r.body))
			require.Equal(t, tc.code, r.errCode(t))
		})
	}
	require.Equal(t, before, e.deliveries(key, id, ""))
}

func TestAPI_webhookRoutesWithoutDeliverer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.key("acme")
	id := e.create(key, `{"kinds":["trx_transfer"]}`)
	for _, r := range []req{
		{method: "GET", path: "/v1/subscriptions/" + id + "/deliveries", key: key},
		{method: "POST", path: "/v1/subscriptions/" + id + "/deliveries/x/retry", key: key},
		{method: "POST", path: "/v1/subscriptions/" + id + "/webhook/replay", key: key, body: `{}`},
	} {
		got := e.do(r)
		require.Equal(t, http.StatusServiceUnavailable, got.status, r.path)
		require.Equal(t, "webhooks_unavailable", got.errCode(t))
	}
}
