package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/services/edge/internal/webhook"
)

// A webhook the deliverer disabled (its receiver answered 410 Gone) shows
// in GET and in the list as webhook_disabled, and each way of enabling it
// again clears it; a change that leaves it disabled does not.
func TestAPI_webhookDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withWebhooks(t))
	_, key := e.key("acme")
	const hook = "http://127.0.0.1:9/hook"
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

	// disabled creates a subscription whose webhook the deliverer
	// disabled, as it records that, with one finished delivery.
	disabled := func(t *testing.T) (id, deliveryID string) {
		id = e.create(key, `{"kinds":["trx_transfer"],"webhook":{"url":"`+hook+`","secret":"s3cret-s3cret"}}`)
		deliveryID = webhook.DeliveryID(id, cursor.Cursor{Step: 1}.String())
		_, err := e.db.Collection(webhook.DeliveriesCollection).InsertOne(t.Context(), &webhook.Delivery{
			ID: deliveryID, SubscriptionID: id, EventID: "tx1:0", Cursor: cursor.Cursor{Step: 1}.String(), Status: webhook.StatusFailed,
			Attempts: 1, RoundAttempts: 1, Log: []webhook.Attempt{{Attempt: 1, StatusCode: http.StatusGone}}, Body: []byte(`{}`),
		})
		require.NoError(t, err)
		_, err = e.db.Collection(store.Subscriptions).UpdateOne(t.Context(), bson.M{"_id": id}, bson.M{
			"$set": bson.M{"webhook_disabled": subscription.WebhookDisabled{
				URL: hook, At: at, Reason: "the receiver answered 410 Gone", StatusCode: http.StatusGone, DeliveryID: deliveryID,
			}},
			"$inc": bson.M{"version": 1},
		})
		require.NoError(t, err)
		return id, deliveryID
	}
	status := func(t *testing.T, id string) any {
		t.Helper()
		r := e.do(req{method: "GET", path: "/v1/subscriptions/" + id, key: key})
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		got := r.json(t)
		require.Contains(t, got, "webhook_disabled", "always present: null while enabled")
		return got["webhook_disabled"]
	}
	stored := func(t *testing.T, id string) bool {
		t.Helper()
		n, err := e.db.Collection(store.Subscriptions).CountDocuments(t.Context(), bson.M{"_id": id, "webhook_disabled": bson.M{"$exists": true}})
		require.NoError(t, err)
		return n == 1
	}

	t.Run("shown in GET and in the list", func(t *testing.T) {
		id, deliveryID := disabled(t)
		want := map[string]any{
			"url": hook, "at": "2025-01-02T03:04:05Z", "reason": "the receiver answered 410 Gone",
			"status_code": float64(http.StatusGone), "delivery_id": deliveryID,
		}
		require.Equal(t, want, status(t, id))
		r := e.do(req{method: "GET", path: "/v1/subscriptions?limit=1000", key: key})
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var found bool
		for _, s := range r.json(t)["subscriptions"].([]any) {
			if s := s.(map[string]any); s["id"] == id {
				found = true
				require.Equal(t, want, s["webhook_disabled"])
			}
		}
		require.True(t, found)
	})

	t.Run("null for a webhook never disabled", func(t *testing.T) {
		id := e.create(key, `{"kinds":["trx_transfer"],"webhook":{"url":"`+hook+`"}}`)
		require.Nil(t, status(t, id))
	})

	tests := []struct {
		name string
		// act does what the client does, on the subscription id whose
		// webhook is disabled, with the delivery that got the 410.
		act     func(t *testing.T, id, deliveryID string)
		enabled bool
	}{
		{"a manual retry enables it", func(t *testing.T, id, deliveryID string) {
			r := e.do(req{method: "POST", path: "/v1/subscriptions/" + id + "/deliveries/" + deliveryID + "/retry", key: key})
			require.Equal(t, http.StatusAccepted, r.status, string(r.body))
		}, true},
		{"a replay enables it", func(t *testing.T, id, _ string) {
			r := e.do(req{method: "POST", path: "/v1/subscriptions/" + id + "/webhook/replay", key: key, body: `{}`})
			require.Equal(t, http.StatusAccepted, r.status, string(r.body))
		}, true},
		{"a PATCH to another URL enables it", func(t *testing.T, id, _ string) {
			r := e.do(req{method: "PATCH", path: "/v1/subscriptions/" + id, key: key, body: `{"webhook":{"url":"http://127.0.0.1:9/new"}}`})
			require.Equal(t, http.StatusOK, r.status, string(r.body))
			require.Nil(t, r.json(t)["webhook_disabled"], "the PATCH's answer says so too")
		}, true},
		{"a PATCH removing the webhook clears it", func(t *testing.T, id, _ string) {
			r := e.do(req{method: "PATCH", path: "/v1/subscriptions/" + id, key: key, body: `{"webhook":null}`})
			require.Equal(t, http.StatusOK, r.status, string(r.body))
		}, true},
		{"a PATCH to the same URL leaves it disabled", func(t *testing.T, id, _ string) {
			r := e.do(req{method: "PATCH", path: "/v1/subscriptions/" + id, key: key, body: `{"webhook":{"url":"` + hook + `"}}`})
			require.Equal(t, http.StatusOK, r.status, string(r.body))
			require.NotNil(t, r.json(t)["webhook_disabled"])
		}, false},
		{"a PATCH of another field leaves it disabled", func(t *testing.T, id, _ string) {
			r := e.do(req{method: "PATCH", path: "/v1/subscriptions/" + id, key: key, body: `{"label":"x"}`})
			require.Equal(t, http.StatusOK, r.status, string(r.body))
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, deliveryID := disabled(t)
			require.NotNil(t, status(t, id))
			tc.act(t, id, deliveryID)
			if tc.enabled {
				require.Nil(t, status(t, id))
				require.False(t, stored(t, id), "cleared in the document, not only hidden")
			} else {
				require.NotNil(t, status(t, id))
				require.True(t, stored(t, id))
			}
		})
	}

	// A record of a disabling at an URL the webhook has left, as older
	// edges left it behind, does not show.
	t.Run("a stale record does not show", func(t *testing.T) {
		id := e.create(key, `{"kinds":["trx_transfer"],"webhook":{"url":"`+hook+`"}}`)
		_, err := e.db.Collection(store.Subscriptions).UpdateOne(t.Context(), bson.M{"_id": id}, bson.M{
			"$set": bson.M{"webhook_disabled": bson.M{"url": "http://127.0.0.1:9/old", "at": at, "reason": "410 Gone"}},
		})
		require.NoError(t, err)
		require.Nil(t, status(t, id))
	})
}
