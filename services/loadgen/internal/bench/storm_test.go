package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/services/loadgen/internal/load"
)

func TestMergeRounds(t *testing.T) {
	t.Parallel()
	sec := func(s float64) int64 { return int64(s * float64(time.Second)) }
	tests := []struct {
		name  string
		mode  string
		start time.Time
		in    []load.StormRound
		want  StormRoundResult
	}{
		{
			name:  "restart measured from the edge's readiness",
			mode:  StormRestart,
			start: time.Unix(0, sec(10)),
			in: []load.StormRound{
				{Streams: 5, StartNs: sec(8), FirstNs: sec(10.5), AllNs: sec(12), Redials: 5, Failures: map[string]int{"refused": 7}, Closes: map[string]int{"1012": 5}},
				{Streams: 5, StartNs: sec(8.1), FirstNs: sec(10), AllNs: sec(14), Redials: 5, Failures: map[string]int{"refused": 3, "http_503": 1}, Closes: map[string]int{"1012": 5}},
			},
			want: StormRoundResult{
				Mode: StormRestart, Streams: 10, Complete: true, Seconds: 4, AcceptRate: 2.5, Redials: 10,
				Failures: map[string]int{"refused": 10, "http_503": 1}, Closes: map[string]int{"1012": 10},
			},
		},
		{
			name: "drop measured from the earliest cut",
			mode: StormDrop,
			in: []load.StormRound{
				{Streams: 4, StartNs: sec(20.5), FirstNs: sec(21), AllNs: sec(23), Redials: 4},
				{Streams: 4, StartNs: sec(20), FirstNs: sec(20.5), AllNs: sec(22), Redials: 4},
			},
			want: StormRoundResult{
				Mode: StormDrop, Streams: 8, Complete: true, Seconds: 3, AcceptRate: 8 / 2.5, Redials: 8,
				Failures: map[string]int{}, Closes: map[string]int{},
			},
		},
		{
			name:  "a process that timed out leaves the round incomplete",
			mode:  StormRestart,
			start: time.Unix(0, sec(10)),
			in:    []load.StormRound{{Streams: 5, StartNs: sec(8), FirstNs: sec(10.5), AllNs: sec(12), Redials: 5}, {}},
			want: StormRoundResult{
				Mode: StormRestart, Streams: 5, Redials: 5,
				Failures: map[string]int{}, Closes: map[string]int{},
			},
		},
		{
			name: "no process",
			mode: StormDrop,
			want: StormRoundResult{Mode: StormDrop, Failures: map[string]int{}, Closes: map[string]int{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := StormRoundResult{Mode: tt.mode}
			mergeRounds(&got, tt.in, tt.start)
			require.InDelta(t, tt.want.Seconds, got.Seconds, 1e-9)
			require.InDelta(t, tt.want.AcceptRate, got.AcceptRate, 1e-9)
			got.Seconds, got.AcceptRate, tt.want.Seconds, tt.want.AcceptRate = 0, 0, 0, 0
			require.Equal(t, tt.want, got)
		})
	}
}

func TestConfig_ValidateStorm(t *testing.T) {
	t.Parallel()
	base := Config{EdgeBin: "e", LoadgenBin: "l", Scenarios: []string{ScenarioStorm}}
	require.NoError(t, base.Validate())
	bad := base
	bad.StormModes = []string{StormRestart, "reboot"}
	require.ErrorContains(t, bad.Validate(), `storm mode "reboot"`)
	bad = base
	bad.StormClients = -1
	require.ErrorContains(t, bad.Validate(), "storm sizes")
	d := base.withDefaults()
	require.Equal(t, []string{StormRestart, StormDrop}, d.StormModes)
	require.Equal(t, DefaultStormClients, d.StormClients)
	require.Equal(t, DefaultStormSubscriptions, d.StormSubscriptions)
}
