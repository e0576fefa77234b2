package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuantile(t *testing.T) {
	t.Parallel()
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(i + 1)
	}
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		require.InDelta(t, tc.want, quantile(xs, tc.q), 1e-9, "q %v", tc.q)
	}
	require.Zero(t, quantile(nil, 0.5))
	require.InDelta(t, 7.0, quantile([]float64{7}, 0.99), 1e-9)
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	p, ok := parseStatus([]byte("Name:\tedge\nUmask:\t0022\nState:\tS (sleeping)\nPPid:\t812\nVmRSS:\t  204800 kB\n"))
	require.True(t, ok)
	require.Equal(t, proc{ppid: 812, name: "edge", rss: 200 << 20}, p)
	_, ok = parseStatus([]byte("garbage"))
	require.False(t, ok)
}

func TestDescendants_TakesTheWholeTreeAndNothingElse(t *testing.T) {
	t.Parallel()
	procs := []proc{
		{pid: 1, ppid: 0, name: "init"},
		{pid: 10, ppid: 1, name: "devstack"},
		{pid: 12, ppid: 10, name: "edge"},
		{pid: 11, ppid: 10, name: "ingest"},
		{pid: 13, ppid: 12, name: "child-of-edge"},
		{pid: 20, ppid: 1, name: "other"},
	}
	var names []string
	for _, p := range descendants(procs, 10) {
		names = append(names, p.name)
	}
	require.Equal(t, []string{"devstack", "ingest", "edge", "child-of-edge"}, names)
	require.Empty(t, descendants(procs, 99))
}

func TestParse_RejectsBadFlags(t *testing.T) {
	t.Parallel()
	_, err := parse([]string{"--samples", "0"}, nilWriter{})
	require.Error(t, err)
	_, err = parse([]string{"extra"}, nilWriter{})
	require.Error(t, err)
	c, err := parse(nil, nilWriter{})
	require.NoError(t, err)
	require.Equal(t, 1_000_000, c.seed.Plan.Events)
	require.Equal(t, 1_000, c.seed.Plan.Subscriptions)
}

type nilWriter struct{}

func (nilWriter) Write(p []byte) (int, error) { return len(p), nil }
