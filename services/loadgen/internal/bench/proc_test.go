package bench

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testenv.GoleakOptions()...) }

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, stat string
		want       time.Duration
		wantErr    bool
	}{
		{"plain", "1234 (edge) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0", 3 * time.Second, false},
		{"name with spaces and parens", "77 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0", 100 * time.Millisecond, false},
		{"short", "77 (x) R 1", 0, true},
		{"no parens", "garbage", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStatCPU([]byte(tt.stat))
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseStatusRSS(t *testing.T) {
	t.Parallel()
	got, err := parseStatusRSS([]byte("Name:\tedge\nVmPeak:\t  9 kB\nVmRSS:\t   20480 kB\nThreads: 5\n"))
	require.NoError(t, err)
	require.EqualValues(t, 20<<20, got)
	_, err = parseStatusRSS([]byte("Name:\tedge\n"))
	require.Error(t, err)
}

func TestParseSystemStat(t *testing.T) {
	t.Parallel()
	s, err := parseSystemStat([]byte("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n"))
	require.NoError(t, err)
	require.Equal(t, 1500*time.Millisecond, s.Busy)
	require.Equal(t, 10*time.Second, s.Total)
}

func TestSampleProc_self(t *testing.T) {
	t.Parallel()
	s, err := SampleProc(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, s.RSS)
	_, err = SampleSystem()
	require.NoError(t, err)
}
