package auth_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/services/edge/internal/auth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRateLimiter_Allow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name      string
		cfg       auth.RateLimitConfig
		calls     int
		wantOK    int
		wantRetry time.Duration
	}{
		{name: "burst then refuse", cfg: auth.RateLimitConfig{Rate: 1, Burst: 3}, calls: 5, wantOK: 3, wantRetry: time.Second},
		{name: "slow rate rounds up", cfg: auth.RateLimitConfig{Rate: 0.25, Burst: 1}, calls: 2, wantOK: 1, wantRetry: 4 * time.Second},
		{name: "fast rate waits at least a second", cfg: auth.RateLimitConfig{Rate: 100, Burst: 1}, calls: 2, wantOK: 1, wantRetry: time.Second},
		{name: "disabled", cfg: auth.RateLimitConfig{Rate: -1}, calls: 1000, wantOK: 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.Now = func() time.Time { return now }
			l := auth.NewRateLimiter(tc.cfg)
			ok := 0
			var retry time.Duration
			for range tc.calls {
				if allowed, r := l.Allow("key_a"); allowed {
					ok++
				} else {
					retry = r
				}
			}
			require.Equal(t, tc.wantOK, ok)
			require.Equal(t, tc.wantRetry, retry)
			if tc.cfg.Rate > 0 {
				allowed, _ := l.Allow("key_b")
				require.True(t, allowed, "each key has its own bucket")
			}
		})
	}
}
