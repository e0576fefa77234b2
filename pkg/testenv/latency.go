package testenv

import (
	"slices"
	"testing"
	"time"
)

// Latencies holds how long each operation of a benchmark took, by
// operation name, for [Latencies.Report].
type Latencies map[string][]time.Duration

// Add records that one op took d.
func (l Latencies) Add(op string, d time.Duration) { l[op] = append(l[op], d) }

// Report reports each operation's p50 and p99 in milliseconds, as
// "<op>-p50-ms" and "<op>-p99-ms".
func (l Latencies) Report(b *testing.B) {
	b.Helper()
	for op, ds := range l {
		slices.Sort(ds)
		b.ReportMetric(Millis(Percentile(ds, 50)), op+"-p50-ms")
		b.ReportMetric(Millis(Percentile(ds, 99)), op+"-p99-ms")
	}
}

// Percentile returns the p-th percentile of sorted ds (nearest rank), 0
// for none.
func Percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(len(sorted), i)-1)]
}

// Millis returns d in milliseconds, to the microsecond.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
