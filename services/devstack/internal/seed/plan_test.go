package seed_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/openapitest"
	"github.com/mongotron/mongotron/services/devstack/internal/seed"
)

func testPlan() seed.Plan {
	return seed.Plan{Events: 2_000, Subscriptions: 7, HeavyEvents: 1_000, Seed: 3, End: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
}

func TestPlan_Count(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		plan  seed.Plan
		heavy int
	}{
		{"heavy first, the rest even", seed.Plan{Events: 1_000_000, Subscriptions: 1_000, HeavyEvents: 100_000}, 100_000},
		{"no heavy: an even share", seed.Plan{Events: 1_000, Subscriptions: 10}, 100},
		{"heavy too large: an even share", seed.Plan{Events: 100, Subscriptions: 10, HeavyEvents: 95}, 10},
		{"one subscription holds all", seed.Plan{Events: 500, Subscriptions: 1, HeavyEvents: 7}, 500},
		{"uneven rest", seed.Plan{Events: 1_003, Subscriptions: 4, HeavyEvents: 500}, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, tc.plan.Validate())
			require.Equal(t, tc.heavy, tc.plan.Count(0))
			sum := 0
			for i := range tc.plan.Subscriptions {
				require.Positive(t, tc.plan.Count(i))
				sum += tc.plan.Count(i)
			}
			require.Equal(t, tc.plan.Events, sum)
		})
	}
}

func TestPlan_Validate(t *testing.T) {
	t.Parallel()
	require.Error(t, seed.Plan{Events: 10, Subscriptions: 0}.Validate())
	require.Error(t, seed.Plan{Events: 5, Subscriptions: 10}.Validate())
}

func TestPlan_EventsLinkInRisingCursorOrder(t *testing.T) {
	t.Parallel()
	p := testPlan()
	ids := map[string]bool{}
	kinds := map[event.Kind]int{}
	for i := range p.Subscriptions {
		id := p.SubscriptionID(i)
		require.False(t, ids[id], "subscription ids are distinct")
		ids[id] = true
		prev := ""
		var prevBlock int64
		for seq := range p.Count(i) {
			ev := p.Event(i, seq)
			_, err := cursor.Parse(ev.Cursor)
			require.NoError(t, err)
			require.Equal(t, p.Cursor(i, seq), ev.Cursor)
			require.Greater(t, ev.Cursor, prev, "cursors rise")
			require.Equal(t, prev, ev.PrevCursor, "each event names the one before")
			require.GreaterOrEqual(t, ev.Block.Number, prevBlock, "blocks never go back")
			require.Equal(t, id, ev.SubscriptionID)
			require.Equal(t, p.Watched(i), ev.Watched)
			require.True(t, ev.Kind.Valid())
			kinds[ev.Kind]++
			prev, prevBlock = ev.Cursor, ev.Block.Number
		}
	}
	require.GreaterOrEqual(t, len(kinds), 6, "a mix of kinds: %v", kinds)
	last := p.Event(0, p.Count(0)-1)
	require.Equal(t, p.End, last.Block.Timestamp, "the newest block is at End")
}

func TestPlan_EventIsTheSameForTheSameSeed(t *testing.T) {
	t.Parallel()
	a, err := json.Marshal(testPlan().Event(3, 17))
	require.NoError(t, err)
	b, err := json.Marshal(testPlan().Event(3, 17))
	require.NoError(t, err)
	require.Equal(t, a, b)
	other := testPlan()
	other.Seed++
	c, err := json.Marshal(other.Event(3, 17))
	require.NoError(t, err)
	require.NotEqual(t, a, c)
}

// The events must be what the API documents: a history page of them
// passes the OpenAPI document's response schema.
func TestPlan_EventsMatchTheAPIDocument(t *testing.T) {
	t.Parallel()
	doc, err := openapitest.Load("../../../../docs/openapi.yaml")
	require.NoError(t, err)
	p := testPlan()
	for i := range p.Subscriptions {
		var body bytes.Buffer
		body.WriteString(`{"events":[`)
		for seq := range min(p.Count(i), 60) {
			d, err := p.Doc(i, seq)
			require.NoError(t, err)
			if seq > 0 {
				body.WriteByte(',')
			}
			body.Write(d.JSON)
		}
		body.WriteString(`],"next":null}`)
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/v1/subscriptions/"+p.SubscriptionID(i)+"/events?limit=100", nil)
		req.Header.Set("Authorization", "Bearer mt_x")
		_, err := doc.CheckResponse(openapitest.Exchange{
			Request: req, Status: http.StatusOK,
			Header: http.Header{"Content-Type": []string{"application/json"}},
			Body:   body.Bytes(),
		})
		require.NoError(t, err, "subscription %d", i)
	}
}
