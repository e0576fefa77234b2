package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/devstack/internal/chaos"
)

// storeOutage is how long FerretDB is down.
const storeOutage = 5 * time.Second

// TestChaos_StoreOutage stops FerretDB for 5 s and starts it again on the
// same data. Meanwhile the edges' REST API answers 503 store_unavailable,
// live streams stay open, and the ingest stalls; afterwards the ingest
// commits again, and every stream and the webhook receiver get every
// event, in order.
func TestChaos_StoreOutage(t *testing.T) {
	t.Parallel()
	s := newScenario(t, chaos.Config{}, []string{chaos.SubTRX, chaos.SubStaking}, chaos.SubStaking)
	h := s.h
	subs := []string{chaos.SubTRX, chaos.SubStaking}
	for i := range 10 {
		s.client(fmt.Sprintf("c%02d", i), subs[i%2], (i/2)%2)
	}
	s.flow(t, "start", 5, 60*time.Second)

	c, err := h.Committed()
	require.NoError(t, err)
	committed := float64(c)
	ends := s.f.ends()
	require.NoError(t, h.StopStore())
	began := time.Now()

	// During the outage each edge's REST API says the store is
	// unavailable, as a 503 with the JSON error body.
	var (
		mu      sync.Mutex
		answers = map[int][]string{}
		got503  = map[int]bool{}
		wg      sync.WaitGroup
	)
	octx, cancel := context.WithTimeout(context.Background(), storeOutage)
	for e := range h.Edges {
		wg.Go(func() {
			for octx.Err() == nil {
				var body struct {
					Error struct {
						Code    string `json:"code"`
						Message string `json:"message"`
					} `json:"error"`
				}
				t0 := time.Now()
				status, raw, err := h.Do(octx, http.MethodGet, h.Edges[e].URL+"/v1/subscriptions/"+s.subs[chaos.SubTRX].ID, s.key, nil, nil)
				if err == nil && octx.Err() == nil {
					_ = json.Unmarshal(raw, &body)
					mu.Lock()
					answers[e] = append(answers[e], fmt.Sprintf("%d %s in %s", status, body.Error.Code, time.Since(t0).Round(time.Millisecond)))
					if status == http.StatusServiceUnavailable && body.Error.Code == "store_unavailable" && body.Error.Message != "" {
						got503[e] = true
					}
					mu.Unlock()
				}
				select {
				case <-octx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
		})
	}
	// Meanwhile the ingest commits nothing: it cannot store.
	var stalled []float64
	for octx.Err() == nil {
		if c, err := h.Committed(); err == nil {
			stalled = append(stalled, float64(c))
		}
		select {
		case <-octx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	wg.Wait()
	cancel()
	require.NoError(t, h.StartStore())
	t.Logf("store down for %s; REST answers during the outage: %v; ingest committed blocks: before %g, during %v", time.Since(began).Round(time.Millisecond), answers, committed, stalled)
	for e := range h.Edges {
		require.True(t, got503[e], "edge-%d answered 503 store_unavailable during the outage; it answered %v", e+1, answers[e])
	}
	if len(stalled) > 1 {
		// A block whose writes were done as the store stopped may
		// still commit; nothing after it can.
		require.LessOrEqual(t, stalled[len(stalled)-1]-stalled[0], 1.0, "the ingest commits nothing while the store is down")
	}

	// Afterwards: the ingest commits again. (Whether a block went
	// missing shows in the streams' and the webhook's checks: each
	// block's events are stored before they are sent.)
	testenv.WaitFor(t, 60*time.Second, func() bool {
		c, err := h.Committed()
		return err == nil && float64(c) >= committed+10
	}, "the ingest commits 10 blocks past %g after the outage", committed)
	for e := range h.Edges {
		testenv.WaitFor(t, 30*time.Second, func() bool {
			status, _, err := h.Do(context.Background(), http.MethodGet, h.Edges[e].URL+"/v1/subscriptions/"+s.subs[chaos.SubTRX].ID, s.key, nil, nil)
			return err == nil && status == http.StatusOK
		}, "edge-%d's REST API answers again", e+1)
	}
	s.flow(t, "after the outage", 8, 60*time.Second)

	// The streams stayed open through it.
	for i, c := range s.f.clients {
		require.Len(t, c.Ends(), ends[i], "%s: no stream ends during a store outage; its streams: %v", c.Name(), c.Sessions())
		_, live := c.Live()
		require.True(t, live, "%s still streams", c.Name())
	}
	logCounters(t, h)
	checkAll(t, s.h, s.f, s.rcv, s.hooks)
}
