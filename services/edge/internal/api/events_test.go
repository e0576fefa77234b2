package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/store"
)

// historyPage is one answer of GET /v1/subscriptions/{id}/events: the
// cursors of its events, and next ("" for null).
func (e *env) historyPage(key, id, query string) (cursors []string, next string) {
	e.t.Helper()
	r := e.do(req{method: "GET", path: "/v1/subscriptions/" + id + "/events" + query, key: key})
	require.Equal(e.t, http.StatusOK, r.status, string(r.body))
	m := r.json(e.t)
	for _, ev := range m["events"].([]any) {
		cursors = append(cursors, ev.(map[string]any)["cursor"].(string))
	}
	if m["next"] != nil {
		next = m["next"].(string)
	}
	return cursors, next
}

// storeHistory stores n events of subscription id at steps from, from+2,
// …, the odd steps between them cursors of no event; kind(i) is the kind
// of the i-th.
func (e *env) storeHistory(id string, from, n int, kind func(int) string) []string {
	e.t.Helper()
	docs := make([]store.EventDoc, n)
	cursors := make([]string, n)
	for i := range docs {
		c := cursor.Cursor{Step: uint64(from + 2*i)}.String()
		k := kind(i)
		cursors[i] = c
		tx := fmt.Sprintf("%064x", i)
		docs[i] = store.EventDoc{
			SubscriptionID: id, Cursor: c, EventID: tx + ":0", Kind: k, CreatedAt: time.Now().UTC(),
			JSON: fmt.Appendf(nil, `{"type":"event","cursor":%q,"id":"%s:0","subscription_id":%q,"kind":%q,"network":"mainnet",`+
				`"block":{"number":%d,"id":"%064x","timestamp":"2025-01-02T03:04:05Z"},"tx_id":%q,"tx_index":0,"index":0,"success":true,`+
				`"confirmations":19,"removed":false,"watched":%q,"direction":"in","from":%q,"to":%q,"amount":"1","flags":[],"solidified":true}`,
				c, tx, id, k, from+2*i, from+2*i, tx, addrA, addrB, addrA),
		}
	}
	require.NoError(e.t, store.AppendEvents(e.t.Context(), e.db, docs...))
	return cursors
}

// TestAPI_eventsPages: with any limit, following next from the start
// hands every event once, in order, in pages of limit, and next is null
// only at the end; after may be any cursor.
func TestAPI_eventsPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.key("acme")
	id := e.create(key, `{"addresses":["`+addrA+`"]}`)
	const n = 400
	all := e.storeHistory(id, 10, n, func(int) string { return "trx_transfer" })

	for _, limit := range []int{7, 100, 128, 1000} {
		var got []string
		q := fmt.Sprintf("?limit=%d", limit)
		for pages := 1; ; pages++ {
			require.LessOrEqual(t, pages, n/limit+1, "limit %d", limit)
			cs, next := e.historyPage(key, id, q)
			require.LessOrEqual(t, len(cs), limit)
			got = append(got, cs...)
			if next == "" {
				break
			}
			require.Len(t, cs, limit, "limit %d: only the last page is short", limit)
			require.Equal(t, cs[len(cs)-1], next)
			q = fmt.Sprintf("?limit=%d&after=%s", limit, next)
		}
		require.Equal(t, all, got, "limit %d", limit)
	}

	between := cursor.Cursor{Step: uint64(10 + 2*150 + 1)}.String()
	for _, tt := range []struct {
		name  string
		after string
		want  []string
		next  string
	}{
		{"after an event", all[200], all[201:301], all[300]},
		{"after a cursor of no event", between, all[151:251], all[250]},
		{"before the first event", cursor.Cursor{Step: 1}.String(), all[:100], all[99]},
		{"after the newest event", all[n-1], nil, ""},
		{"past the end", cursor.Cursor{Step: 1 << 40}.String(), nil, ""},
		{"the last page, full", all[299], all[300:], ""},
	} {
		cs, next := e.historyPage(key, id, "?after="+url.QueryEscape(tt.after))
		require.Equal(t, tt.want, cs, tt.name)
		require.Equal(t, tt.next, next, tt.name)
	}
}

// TestAPI_eventsFilteredShortPages: a filtered page scans a bounded
// number of events, and may answer fewer than limit before the end, with
// next the last event scanned; following next finds every match once.
func TestAPI_eventsFilteredShortPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.key("acme")
	id := e.create(key, `{"addresses":["`+addrA+`"]}`)
	rare := map[int]bool{0: true, 1200: true, 1250: true, 1299: true}
	all := e.storeHistory(id, 10, 1300, func(i int) string {
		if rare[i] {
			return "vote"
		}
		return "trx_transfer"
	})

	cs, next := e.historyPage(key, id, "?kind=vote&limit=2")
	require.Equal(t, []string{all[0]}, cs, "the first 1,000 scanned hold one")
	require.Equal(t, all[999], next, "next is the last event scanned")
	cs, next = e.historyPage(key, id, "?kind=vote&limit=2&after="+next)
	require.Equal(t, []string{all[1200], all[1250]}, cs)
	require.Equal(t, all[1250], next)
	cs, next = e.historyPage(key, id, "?kind=vote&limit=2&after="+next)
	require.Equal(t, []string{all[1299]}, cs)
	require.Empty(t, next, "the end")

	// A limit of 1,000 scans 10,000: one page.
	cs, next = e.historyPage(key, id, "?kind=vote&limit=1000")
	require.Equal(t, []string{all[0], all[1200], all[1250], all[1299]}, cs)
	require.Empty(t, next)
}
