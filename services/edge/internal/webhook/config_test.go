package webhook

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfig_withDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	require.Len(t, c.Schedule, 10)
	var total time.Duration
	for _, d := range c.Schedule {
		total += d
	}
	require.InDelta(t, 24*time.Hour, total, float64(2*time.Hour))
	c = Config{MaxAttempts: 3}.withDefaults()
	require.Equal(t, []time.Duration{5 * time.Second, 30 * time.Second}, c.Schedule)
	c = Config{Schedule: []time.Duration{time.Second}, MaxAttempts: 4}.withDefaults()
	require.Equal(t, []time.Duration{time.Second, time.Second, time.Second}, c.Schedule)
	require.Error(t, (&Config{Timeout: time.Second, LeaseDuration: time.Second}).Validate())
	for range 100 {
		j := jitter(10 * time.Second)
		require.True(t, j >= 9*time.Second && j <= 11*time.Second, j)
	}
}
