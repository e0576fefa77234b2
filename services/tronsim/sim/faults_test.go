package sim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/services/tronsim/sim"
)

// outcome posts once on a fresh connection, so a dropped connection is
// seen as such and never retried, and returns the status or -1.
func outcome(t testing.TB, base string) (int, http.Header) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Post(base+"/wallet/getnowblock", "application/json", bytes.NewBufferString("{}"))
	if err != nil {
		return -1, nil
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}

func status(t testing.TB, base string) sim.Status {
	t.Helper()
	code, _, body := get(t, base+"/sim/status")
	require.Equal(t, http.StatusOK, code)
	var st sim.Status
	require.NoError(t, json.Unmarshal(body, &st))
	return st
}

func TestFaults_ErrorRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		rate     float64
		requests int
		min, max int // injected errors
	}{
		{"none", 0, 50, 0, 0},
		{"always", 1, 60, 60, 60},
		{"some", 0.3, 200, 30, 90},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, base := newSim(t, sim.Config{Seed: 4, TxsPerBlock: 2, ErrorRate: tc.rate})
			seen := map[int]int{}
			for range tc.requests {
				code, _ := outcome(t, base)
				seen[code]++
			}
			injected := tc.requests - seen[http.StatusOK]
			require.GreaterOrEqual(t, injected, tc.min, "%v", seen)
			require.LessOrEqual(t, injected, tc.max, "%v", seen)
			for code := range seen {
				require.Contains(t, []int{http.StatusOK, http.StatusInternalServerError, http.StatusServiceUnavailable, -1}, code)
			}
			if tc.rate == 1 {
				require.Positive(t, seen[http.StatusInternalServerError], "%v", seen)
				require.Positive(t, seen[http.StatusServiceUnavailable], "%v", seen)
				require.Positive(t, seen[-1], "%v", seen)
			}
			st := status(t, base) // the control API is never faulted
			require.Equal(t, int64(injected), st.ErrorsInjected)
			require.Equal(t, int64(tc.requests), st.Requests)
		})
	}
}

func TestFaults_RateLimit(t *testing.T) {
	t.Parallel()
	_, base := newSim(t, sim.Config{Seed: 4, TxsPerBlock: 2, RateLimit: 2})
	limited := 0
	for range 6 {
		code, h := outcome(t, base)
		if code == http.StatusTooManyRequests {
			limited++
			require.Equal(t, "1", h.Get("Retry-After"))
		} else {
			require.Equal(t, http.StatusOK, code)
		}
	}
	require.GreaterOrEqual(t, limited, 3)
	require.Equal(t, int64(limited), status(t, base).RateLimited)
}

func TestFaults_Latency(t *testing.T) {
	t.Parallel()
	const latency = 60 * time.Millisecond
	_, base := newSim(t, sim.Config{Seed: 4, TxsPerBlock: 2, Latency: latency})
	start := time.Now()
	code, _ := outcome(t, base)
	require.Equal(t, http.StatusOK, code)
	require.GreaterOrEqual(t, time.Since(start), latency)
	// The control API answers without it.
	start = time.Now()
	status(t, base)
	require.Less(t, time.Since(start), latency)
}
