package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
)

// TestAPI_addAddressesLimit pins the limit of an address set when a bulk
// add holds addresses already present: only the new ones count, and the
// present ones are left alone.
func TestAPI_addAddressesLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.key("acme")
	id := e.create(key, `{"addresses":["`+addrA+`"]}`)
	path := "/v1/subscriptions/" + id + "/addresses"
	// One address short of the limit, as far as the count says.
	_, err := e.db.Collection(store.Subscriptions).UpdateOne(t.Context(), bson.M{"_id": id},
		bson.M{"$set": bson.M{"address_count": subscription.MaxAddresses - 1}})
	require.NoError(t, err)

	tests := []struct {
		name, body string
		status     int
		code       string
		added      int
		count      int
	}{
		{"two new ones pass the limit", `{"addresses":["` + addrB + `","` + addrC + `"]}`, 422, subscription.CodeTooManyAddresses, 0, 0},
		{"one present and one new fit", `{"addresses":["` + addrA + `","` + addrB + `"]}`, 200, "", 1, subscription.MaxAddresses},
		{"only present ones add nothing", `{"addresses":["` + addrA + `","` + addrB + `"]}`, 200, "", 0, subscription.MaxAddresses},
	}
	for _, tc := range tests { // in order: each builds on the one before
		r := e.do(req{method: "POST", path: path, key: key, body: tc.body})
		require.Equal(t, tc.status, r.status, "%s: %s", tc.name, r.body)
		if tc.code != "" {
			require.Equal(t, tc.code, r.errCode(t), tc.name)
			continue
		}
		require.EqualValues(t, tc.added, r.json(t)["added"], tc.name)
		require.EqualValues(t, tc.count, r.json(t)["address_count"], tc.name)
	}
	r := e.do(req{method: "GET", path: "/v1/subscriptions/" + id, key: key})
	require.Equal(t, http.StatusOK, r.status)
	require.ElementsMatch(t, []any{addrA, addrB}, r.json(t)["addresses"])
}
