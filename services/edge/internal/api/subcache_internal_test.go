package api

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A connect of a subscription not cached yet waits for a warm-up in
// progress, so that the storm meeting a restarted edge does not read
// MongoDB once per client; with no warm-up a miss answers at once.
func TestSubCache_lookupWaitsForTheWarmUp(t *testing.T) {
	t.Parallel()
	c := newSubCache(time.Now)
	_, found := c.lookup("sub_a")
	require.False(t, found, "no warm-up: a miss at once")

	done := c.startWarm()
	got := make(chan bool, 1)
	go func() {
		_, found := c.lookup("sub_a")
		got <- found
	}()
	c.alive("sub_a", "acme")
	done()
	require.True(t, <-got, "the waiting connect finds what the warm-up loaded")

	_, found = c.lookup("sub_b")
	require.False(t, found, "after the warm-up a miss answers at once")
	e, found := c.lookup("sub_a")
	require.True(t, found)
	require.Equal(t, "acme", e.tenant)
}

// A deletion known before the warm-up's read wins over it.
func TestSubCache_aliveKeepsAKnownDeletion(t *testing.T) {
	t.Parallel()
	c := newSubCache(time.Now)
	c.deleted("sub_a")
	c.alive("sub_a", "acme")
	e, found := c.lookup("sub_a")
	require.True(t, found)
	require.True(t, e.deleted)
}
